"""Device configuration: the embedded default and clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware import config
from hal.errors import ConfigurationError


def test_embedded_default_is_the_emulated_rig() -> None:
    cfg = config.load()
    assert cfg.source == "<embedded default>"
    assert cfg.fingerprint.port == "emulated"
    assert cfg.modem.driver == "quectel"
    assert cfg.secure_element.address == 0x60


def test_file_overrides_defaults(tmp_path: Path) -> None:
    path = tmp_path / "device.toml"
    path.write_text('[modem]\ndriver = "simcom"\nport = "/dev/ttyUSB2"\n[fuel_gauge]\nbus = 1\n')
    cfg = config.load(path)
    assert cfg.modem.driver == "simcom" and cfg.modem.apn == "internet"
    assert cfg.fuel_gauge.bus == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[modem]\nbaud = 3\n", r"\[modem\]: unknown key"),
        ("[screen]\n", "unknown section"),
        ("[fingerprint]\nbaudrate = 'fast'\n", "baudrate must be int"),
        ("[fingerprint]\ncapture_timeout_s = true\n", "must be a number"),
        ("[fingerprint\n", "not valid TOML"),
    ],
)
def test_bad_configuration_says_where(text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        config.parse(text, "device.toml")


def test_missing_file() -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        config.load("/nonexistent/device.toml")


def test_unknown_emulator_scenario_is_a_configuration_error() -> None:
    from firmware.wiring import Devices

    cfg = config.parse('[modem]\nscenario = "tsunami"\n', "device.toml")
    with Devices(cfg) as devices, pytest.raises(ConfigurationError, match="no-coverage"):
        devices.modem  # noqa: B018
