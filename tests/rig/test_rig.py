"""The rig drives the firmware from outside, with faults injected at the wire.

The firmware runs as its own process (``hotspot hal selftest``) against the
emulators' pseudo-terminals and socket bus; each fault knob must show up in its
report as a typed error on that device alone, within a bounded time.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from hil.rig import KNOBS, Rig


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    with Rig() as r:
        yield r


@pytest.fixture(autouse=True)
def clean(rig: Rig) -> Iterator[None]:
    rig.clear_faults()
    yield
    rig.clear_faults()
    rig.modem.set_registration(1)


def test_firmware_finds_every_emulated_device(rig: Rig) -> None:
    report = rig.selftest()
    assert report["ok"], report
    assert report["devices"]["fingerprint"]["baudrate"] == 115200
    assert report["devices"]["secure_element"]["model"] == "ATECC608"
    supervisor = report["devices"]["supervisor"]
    assert supervisor["firmware"] == "1.0.0" and supervisor["tamper"] == "closed"
    assert supervisor["wake_reason"] == "cold start" and supervisor["battery_mv"] == 3950


def test_a_tamper_is_reported_by_the_selftest_until_cleared(rig: Rig) -> None:
    rig.set_fault("supervisor.tamper", True)
    time.sleep(0.1)
    rig.set_fault("supervisor.tamper", False)
    time.sleep(0.1)
    assert rig.selftest()["devices"]["supervisor"]["tamper"].startswith("LATCHED")
    cleared = rig.run_firmware("device", "supervisor-clear-tamper")
    assert cleared.returncode == 0, cleared.stderr
    assert "tamper latch cleared" in cleared.stdout
    assert rig.selftest()["devices"]["supervisor"]["tamper"] == "closed"


FAULTS = [
    ("fingerprint.silent", True, "fingerprint", "SensorTimeout"),
    ("fingerprint.bad_checksum", True, "fingerprint", "SensorChecksumError"),
    ("fingerprint.garble", True, "fingerprint", "SensorChecksumError"),
    ("fingerprint.drop_bytes", 4, "fingerprint", "Sensor"),
    ("modem.silent", True, "modem", "ModemTimeout"),
    ("modem.sim_error", True, "modem", "SimError"),
    ("fuel_gauge.nack", True, "fuel_gauge", "BusError"),
    ("secure_element.nack", True, "secure_element", "does not wake"),
    ("secure_element.bad_crc", True, "secure_element", "SecureElementCrcError"),
    ("supervisor.nack", True, "supervisor", "BusError"),
    ("supervisor.bad_crc", True, "supervisor", "SupervisorCrcError"),
]


@pytest.mark.parametrize(("knob", "value", "device", "error"), FAULTS)
def test_fault_is_reported_on_its_device_only(
    rig: Rig, knob: str, value: object, device: str, error: str
) -> None:
    rig.set_fault(knob, value)
    started = time.monotonic()
    report = rig.selftest(wait_s=0.5)
    assert time.monotonic() - started < 45
    failed = {name for name, d in report["devices"].items() if not d["ok"]}
    assert failed == {device}, report
    assert error in report["devices"][device]["error"]


def test_registration_loss_is_seen_by_the_firmware(rig: Rig) -> None:
    rig.set_fault("modem.registration_loss", True)
    report = rig.selftest(wait_s=0.5)
    assert report["devices"]["modem"]["registration"] == "searching"
    assert report["devices"]["modem"]["signal_dbm"] is None


def test_line_noise_and_no_finger_do_not_break_the_selftest(rig: Rig) -> None:
    rig.set_fault("fingerprint.line_noise", 9)
    rig.set_fault("fingerprint.no_finger", True)
    assert rig.selftest()["devices"]["fingerprint"]["ok"]


def test_every_knob_is_covered() -> None:
    covered = {k for k, *_ in FAULTS} | {
        "modem.registration_loss",
        "fingerprint.line_noise",
        "fingerprint.no_finger",
        "fingerprint.capture_fails",
        "fingerprint.truncate_image_after",
        "modem.garble",
        "modem.drop",
        "supervisor.tamper",
        "supervisor.stuck_heartbeat",
        "supervisor.low_battery",
        "supervisor.button",
    }
    # capture_fails / truncate / garble / drop are exercised at the HAL level
    # (tests/hal/test_r30x_driver.py, test_modem_driver.py): the self-test does no capture.
    # The supervisor's behaviour knobs are exercised on its logic (tests/supervisor) and with
    # the device service on the rig (tests/supervisor/test_with_the_service.py).
    assert set(KNOBS) <= covered


def test_unknown_knob_lists_the_known_ones(rig: Rig) -> None:
    with pytest.raises(KeyError, match=r"fingerprint\.silent"):
        rig.set_fault("fingerprint.on_fire")


def test_hil_emulate_serves_an_independent_client() -> None:
    pyfingerprint = pytest.importorskip("pyfingerprint.pyfingerprint")
    proc = subprocess.Popen(
        [sys.executable, "-m", "hotspot", "hil", "emulate", "fingerprint", "--duration", "60"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"(/dev/pts/\d+)", line)
        assert match, line
        sensor = pyfingerprint.PyFingerprint(match.group(1), 57600, 0xFFFFFFFF, 0)
        assert sensor.verifyPassword()
        assert sensor.getStorageCapacity() == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0


def test_hil_emulate_i2c_device(tmp_path: object) -> None:
    from hal.i2c import I2CTransport, SocketI2CBus
    from hal.power.max17048 import Max17048

    proc = subprocess.Popen(
        [sys.executable, "-m", "hotspot", "hil", "emulate", "fuel-gauge", "--duration", "60"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"unix:(\S+)", line)
        assert match, line
        gauge = Max17048(I2CTransport(SocketI2CBus(match.group(1))))
        assert gauge.open().startswith("MAX17048")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
