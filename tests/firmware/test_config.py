"""Device configuration: one file for everything, no silent emulation, errors that say where."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware import config
from hal.errors import ConfigurationError

HARDWARE = """
[fingerprint]
port = "/dev/ttyAMA0"
[camera]
index = 0
[modem]
driver = "simcom"
port = "/dev/ttyUSB2"
[fuel_gauge]
bus = 1
[secure_element]
bus = 1
"""


def service_file(tmp_path: Path, *, drop: str = "", extra: str = "") -> Path:
    for name in ("ca.pem", "device.pem", "device.key", "records.pub", "answers.pub"):
        (tmp_path / name).write_text("PEM")
    sections = {
        "device": '[device]\nemulated = false\nid = "hh-0042"\n',
        "uplink": '[uplink]\nhost = "broker.example"\nport = 8883\nca = "ca.pem"\n'
        'cert = "device.pem"\nkey = "device.key"\n',
        "central": '[central]\nrecords_public = "records.pub"\nanswers_public = "answers.pub"\n',
        "officers": '[officers]\n"o-1" = "scrypt$16384$8$1$c2FsdA==$aGFzaA=="\n',
    }
    text = HARDWARE + "".join(v for k, v in sections.items() if k != drop) + extra
    path = tmp_path / "device.toml"
    path.write_text(text)
    return path


def test_embedded_default_is_the_emulated_rig_and_says_so() -> None:
    cfg = config.load()
    assert cfg.source == "<embedded default>"
    assert cfg.training and cfg.device.emulated
    assert cfg.fingerprint.port == "emulated"
    assert cfg.secure_element.address == 0x60


def test_a_whole_handheld_configuration(tmp_path: Path) -> None:
    cfg = config.load(service_file(tmp_path))
    cfg.require_service()
    assert not cfg.training
    assert cfg.modem.driver == "simcom" and cfg.modem.apn == "internet"
    assert cfg.uplink is not None and cfg.path(cfg.uplink.ca) == tmp_path / "ca.pem"
    assert cfg.interface.languages[0] == "en" and cfg.interface.idle_lock_s == 120.0
    assert set(cfg.officers) == {"o-1"}


@pytest.mark.parametrize(
    ("drop", "message"),
    [
        ("device", r"section \[device\] is missing"),
        ("uplink", r"section \[uplink\] is missing; .*host, port, ca, cert, key"),
        ("central", r"section \[central\] is missing"),
        ("officers", r"\[officers\] is empty: nobody could sign in"),
    ],
)
def test_an_incomplete_configuration_names_the_file_and_section(
    tmp_path: Path, drop: str, message: str
) -> None:
    path = service_file(tmp_path, drop=drop)
    with pytest.raises(ConfigurationError, match=message) as refused:
        config.load(path).require_service()
    assert str(path) in str(refused.value)


def test_a_missing_hardware_section_is_refused_not_emulated(tmp_path: Path) -> None:
    path = service_file(tmp_path)
    path.write_text(path.read_text().replace("[camera]\nindex = 0\n", ""))
    with pytest.raises(ConfigurationError, match=r"section \[camera\] is missing"):
        config.load(path)
    cfg = config.load(path, emulated=True)  # --emulated: the absent part is emulated, and said
    assert cfg.camera.index == "emulated" and cfg.training


def test_emulated_resources_need_a_training_device(tmp_path: Path) -> None:
    path = service_file(tmp_path)
    path.write_text(path.read_text().replace('port = "/dev/ttyAMA0"', 'port = "emulated"'))
    with pytest.raises(ConfigurationError, match=r"\[fingerprint\] port = \"emulated\" but"):
        config.load(path)


def test_a_missing_certificate_names_section_key_and_path(tmp_path: Path) -> None:
    path = service_file(tmp_path)
    (tmp_path / "device.key").unlink()
    with pytest.raises(ConfigurationError, match=r"\[uplink\] key: .*device.key does not exist"):
        config.load(path).require_service()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("[interface]\nlanguages = ['en', 'de']\n", r"\['de'\] not shipped"),
        ("[interface]\nport = 70000\n", "not a TCP port"),
        ("[interface]\nlanguage = 'ar'\nlanguages = ['en']\n", "'ar' is not in languages"),
        ("[uplink2]\n", "unknown section"),
    ],
)
def test_bad_service_settings_say_where(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        config.load(service_file(tmp_path, extra=extra))


def test_a_device_id_that_is_not_a_topic_level_is_refused(tmp_path: Path) -> None:
    path = service_file(tmp_path)
    path.write_text(path.read_text().replace('id = "hh-0042"', 'id = "hh/0042"'))
    with pytest.raises(ConfigurationError, match=r"\[device\] id"):
        config.load(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[modem]\nbaud = 3\nport = 'x'\n", r"\[modem\]: unknown key"),
        ("[screen]\n", "unknown section"),
        ("[fingerprint]\nport = 'x'\nbaudrate = 'fast'\n", "baudrate must be int"),
        ("[fingerprint]\nport = 'x'\ncapture_timeout_s = true\n", "must be a number"),
        ("[fingerprint]\nport = 'x'\nthreads = 0\n", r"\[fingerprint\] threads: 0 is not 1-4"),
        ("[fingerprint]\nport = 'x'\nthreads = 8\n", r"\[fingerprint\] threads: 8 is not 1-4"),
        ("[fingerprint]\nbaudrate = 9600\n", r"missing key 'port' \(the sensor's serial port"),
        ("[fingerprint\n", "not valid TOML"),
    ],
)
def test_bad_configuration_says_where(text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        config.parse("[device]\nemulated = true\n" + text, "device.toml", emulated=True)


def test_missing_file() -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        config.load("/nonexistent/device.toml")


def test_unknown_emulator_scenario_is_a_configuration_error() -> None:
    from firmware.wiring import Devices

    cfg = config.parse('[modem]\nport = "emulated"\nscenario = "tsunami"\n', "x", emulated=True)
    with Devices(cfg) as devices, pytest.raises(ConfigurationError, match="no-coverage"):
        devices.modem  # noqa: B018


def test_the_minutiae_network_takes_the_threads_it_is_given() -> None:
    parsed = config.parse(
        "[device]\nemulated = true\n[fingerprint]\nport = 'emulated'\nthreads = 2\n",
        "device.toml",
        emulated=True,
    )
    assert parsed.fingerprint.threads == 2
    assert (
        config.parse("[device]\nemulated = true\n", "d.toml", emulated=True).fingerprint.threads
        == 1
    )
