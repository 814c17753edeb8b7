"""The update settings come from the device's one configuration file: repository, group, battery
and anti-rollback floors, and the agent's broker and certificates."""

from __future__ import annotations

from pathlib import Path

import pytest

from ota import settings
from ota.errors import OtaError
from ota.layout import Layout
from ota.settings import OtaSettings


def device_toml(tmp_path: Path, update: str) -> Path:
    for name in ("ca.pem", "hh.pem", "hh.key", "records.pub", "answers.pub"):
        (tmp_path / name).write_text("PEM")
    path = tmp_path / "device.toml"
    path.write_text(
        f"""[device]
emulated = true
id = "hh-0099"
[fingerprint]
port = "emulated"
[camera]
index = "emulated"
[modem]
port = "emulated"
[fuel_gauge]
bus = "emulated"
[secure_element]
bus = "emulated"
[uplink]
host = "broker.example"
port = 8883
ca = "ca.pem"
cert = "hh.pem"
key = "hh.key"
[central]
records_public = "records.pub"
answers_public = "answers.pub"
{update}
"""
    )
    return path


def write_ota(root: Path, device_config: str) -> Layout:
    layout = Layout(root)
    layout.config.mkdir(parents=True)
    (layout.config / "ota.toml").write_text(
        OtaSettings("https://old.example/", device_config=device_config).dump()
    )
    return layout


def test_the_device_configuration_gives_the_update_settings_and_the_broker(
    tmp_path: Path,
) -> None:
    path = device_toml(
        tmp_path,
        '[update]\nrepository = "https://updates.example/"\ngroup = "pilot"\n'
        'min_battery_percent = 45\nfloor = "secure-element"\n',
    )
    cfg = settings.load(write_ota(tmp_path / "root", str(path)))
    assert cfg.repository == "https://updates.example/" and cfg.min_battery_percent == 45
    assert cfg.floor == "secure-element"
    assert cfg.health_args == ["--config", str(path)]
    assert cfg.mqtt is not None
    assert (cfg.mqtt.device_id, cfg.mqtt.host, cfg.mqtt.port) == ("hh-0099", "broker.example", 8883)
    assert cfg.mqtt.group == "pilot" and cfg.mqtt.cert == str(tmp_path / "hh.pem")
    assert cfg.mqtt.central_public == str(tmp_path / "answers.pub")


def test_without_an_update_section_ota_toml_stands(tmp_path: Path) -> None:
    cfg = settings.load(write_ota(tmp_path / "root", str(device_toml(tmp_path, ""))))
    assert cfg.repository == "https://old.example/" and cfg.floor == "file"
    assert cfg.mqtt is not None and cfg.mqtt.group == "default"


def test_a_broken_device_configuration_is_an_update_error(tmp_path: Path) -> None:
    path = device_toml(tmp_path, '[update]\nfloor = "tape"\n')
    with pytest.raises(OtaError, match=r"\[update\] floor"):
        settings.load(write_ota(tmp_path / "root", str(path)))
