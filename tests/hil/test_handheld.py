"""Rig scenarios, written against labgrid resources so they run on emulators or the bench."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from labgrid.resource.base import SerialPort


def device_config(target: Any, tmp_path: Path) -> Path:
    """A firmware configuration pointing at the target's resources."""
    fingerprint = target.get_resource(SerialPort, name="fingerprint")
    modem = target.get_resource(SerialPort, name="modem")
    i2c = target.get_resource("HotspotI2CBus", name="i2c")
    bus = i2c.bus if i2c.bus.startswith("unix:") else int(i2c.bus)
    bus_value = f'"{bus}"' if isinstance(bus, str) else str(bus)
    # The emulated rig is a training device; the bench board is real hardware with its camera.
    emulated = "hardware" not in target.env.get_target_features()
    camera = '"emulated"' if emulated else "0"
    path = tmp_path / "device.toml"
    path.write_text(
        f"""[device]
emulated = {str(emulated).lower()}
[camera]
index = {camera}
[fingerprint]
port = "{fingerprint.port}"
baudrate = {fingerprint.speed}
capture_timeout_s = 3.0
[modem]
port = "{modem.port}"
sim_pin = "1234"
[fuel_gauge]
bus = {bus_value}
[secure_element]
bus = {bus_value}
"""
    )
    return path


def firmware(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hotspot", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def selftest(config: Path) -> dict[str, Any]:
    result = firmware(config, "hal", "selftest", "--json")
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def test_power_cycle_then_every_device_answers(target: Any, tmp_path: Path) -> None:
    power = target.get_driver("PowerProtocol")
    power.cycle()
    report = selftest(device_config(target, tmp_path))
    assert report["ok"], report
    assert report["devices"]["fingerprint"]["image"] == "256x288"
    assert report["devices"]["modem"]["registration"] in ("home", "roaming")


def test_modem_console_answers_at(target: Any) -> None:
    console = target.get_driver("ConsoleProtocol", name="modem-console")
    try:
        console.write(b"AT\r")
        console.expect("OK", timeout=5)
    finally:
        target.deactivate(console)


@pytest.mark.lg_feature("faults")
def test_faults_are_reported_by_the_firmware(target: Any, rig: Any, tmp_path: Path) -> None:
    config = device_config(target, tmp_path)
    rig.set_fault("fuel_gauge.nack", True)
    rig.set_fault("modem.sim_error", True)
    report = selftest(config)
    failed = {name for name, d in report["devices"].items() if not d["ok"]}
    assert failed == {"fuel_gauge", "modem"}
    rig.clear_faults()
    assert selftest(config)["ok"]
