"""The emulated rig: every peripheral of the handheld, with fault knobs.

Serial devices listen on pseudo-terminals; the fuel gauge and the secure
element sit on one emulated I2C bus served on a Unix socket; the camera is
emulated inside the firmware process (a frame source cannot cross a process
boundary more faithfully than libcamera does, and no fault is defined for it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from hal.emulators.atecc608 import Atecc608Emulator, provisioned
from hal.emulators.i2cbus import EmulatedI2CBus, I2CBusServer
from hal.emulators.max17048 import Max17048Emulator
from hal.emulators.modem import ModemEmulator
from hal.emulators.r30x import R30xEmulator
from supervisor.emulator import SupervisorEmulator


@dataclass(frozen=True)
class Knob:
    description: str
    apply: Callable[[Rig, Any], None]


def _fp(attr: str) -> Callable[[Rig, Any], None]:
    def apply(rig: Rig, value: Any) -> None:
        setattr(rig.fingerprint.faults, attr, value)

    return apply


def _modem(attr: str) -> Callable[[Rig, Any], None]:
    def apply(rig: Rig, value: Any) -> None:
        setattr(rig.modem.faults, attr, value)

    return apply


def _registration_loss(rig: Rig, value: Any) -> None:
    if value:
        rig.modem.lose_registration()
    else:
        rig.modem.state.rssi = 20
        rig.modem.set_registration(1)


def _gauge_nack(rig: Rig, value: Any) -> None:
    rig.fuel_gauge.nack = bool(value)


def _se_nack(rig: Rig, value: Any) -> None:
    rig.secure_element.nack = bool(value)


def _se_crc(rig: Rig, value: Any) -> None:
    rig.secure_element.corrupt_responses = bool(value)


def _supervisor(attr: str) -> Callable[[Rig, Any], None]:
    def apply(rig: Rig, value: Any) -> None:
        setattr(rig.supervisor, attr, bool(value))

    return apply


def _supervisor_board(attr: str, on: Any, off: Any) -> Callable[[Rig, Any], None]:
    def apply(rig: Rig, value: Any) -> None:
        setattr(rig.supervisor.board, attr, on if value else off)

    return apply


KNOBS: dict[str, Knob] = {
    "fingerprint.bad_checksum": Knob("every reply has a wrong checksum", _fp("bad_checksum")),
    "fingerprint.garble": Knob("a payload byte of every reply is flipped", _fp("garble")),
    "fingerprint.drop_bytes": Knob("N bytes vanish from every reply", _fp("drop_bytes")),
    "fingerprint.line_noise": Knob("N noise bytes before every reply", _fp("line_noise")),
    "fingerprint.no_finger": Knob("nobody puts a finger on the sensor", _fp("no_finger")),
    "fingerprint.capture_fails": Knob("the sensor cannot form an image", _fp("capture_fails")),
    "fingerprint.silent": Knob("the sensor stops answering (timeout)", _fp("silent")),
    "fingerprint.truncate_image_after": Knob(
        "the image stream stops after N packets", _fp("truncate_image_after")
    ),
    "modem.garble": Knob("probability that a reply byte is garbled", _modem("garble")),
    "modem.drop": Knob("probability that a reply byte is lost", _modem("drop")),
    "modem.silent": Knob("the modem stops answering", _modem("silent")),
    "modem.sim_error": Knob("the SIM fails (CME ERROR 13)", _modem("sim_failure")),
    "modem.registration_loss": Knob("the network is lost / found again", _registration_loss),
    "fuel_gauge.nack": Knob("the fuel gauge does not acknowledge (I2C NACK)", _gauge_nack),
    "secure_element.nack": Knob("the secure element does not acknowledge", _se_nack),
    "secure_element.bad_crc": Knob("secure-element responses fail their CRC", _se_crc),
    "supervisor.nack": Knob("the supervisor does not acknowledge (I2C NACK)", _supervisor("nack")),
    "supervisor.bad_crc": Knob("supervisor responses fail their CRC", _supervisor("corrupt")),
    "supervisor.stuck_heartbeat": Knob(
        "the main board's heartbeats never reach the supervisor", _supervisor("deaf_heartbeat")
    ),
    "supervisor.tamper": Knob(
        "the case is opened (the tamper switch)", _supervisor_board("tamper", True, False)
    ),
    "supervisor.low_battery": Knob(
        "the battery drops to 3.30 V (below the cut-off)", _supervisor_board("battery", 3300, 3950)
    ),
    "supervisor.button": Knob(
        "the power button is held down", _supervisor_board("button", True, False)
    ),
}


class Rig:
    """All emulated peripherals of one handheld, started together."""

    def __init__(
        self,
        workdir: str | Path | None = None,
        *,
        modem_dialect: str = "quectel",
        modem_scenario: str = "default",
        realtime: bool = False,
        supervisor_out: TextIO | None = None,
    ) -> None:
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="hotspot-rig-")
        self.workdir = Path(workdir) if workdir else Path(self._tmp.name)  # type: ignore[union-attr]
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.fingerprint = R30xEmulator(realtime=realtime)
        self.modem = ModemEmulator(dialect=modem_dialect, scenario=modem_scenario)
        self.modem_dialect = modem_dialect
        self.fuel_gauge = Max17048Emulator()
        self.secure_element: Atecc608Emulator = provisioned(
            0, state_file=self.workdir / "atecc608.json"
        )
        self.supervisor = SupervisorEmulator(out=supervisor_out)
        """The supervisor microcontroller: its real logic on a board in memory. Alerts it
        plays are printed to ``supervisor_out``."""
        self.bus = EmulatedI2CBus()
        self.bus.attach(0x36, self.fuel_gauge)
        self.bus.attach(0x60, self.secure_element)
        self.bus.attach(self.supervisor.address, self.supervisor)
        self.i2c_server = I2CBusServer(self.bus, str(self.workdir / "i2c.sock"))
        self.config_path = self.workdir / "device.toml"

    def start(self) -> Rig:
        self.supervisor.start()
        self.fingerprint.start()
        self.modem.start()
        self.i2c_server.start()
        self.config_path.write_text(self.config_text())
        return self

    def stop(self) -> None:
        self.supervisor.stop()
        self.fingerprint.stop()
        self.modem.stop()
        self.i2c_server.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> Rig:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def set_fault(self, name: str, value: Any = True) -> None:
        try:
            knob = KNOBS[name]
        except KeyError:
            raise KeyError(f"unknown fault knob {name!r}; known: {sorted(KNOBS)}") from None
        knob.apply(self, value)

    def clear_faults(self) -> None:
        from hal.emulators.modem import ModemFaults
        from hal.emulators.r30x import R30xFaults

        self.fingerprint.faults = R30xFaults()
        self.modem.faults = ModemFaults()
        self.fuel_gauge.nack = False
        self.secure_element.nack = False
        self.secure_element.corrupt_responses = False
        self.supervisor.nack = self.supervisor.corrupt = self.supervisor.deaf_heartbeat = False
        board = self.supervisor.board
        board.tamper, board.button, board.battery = False, False, 3950

    def config_text(self) -> str:
        """The hardware half of a device configuration: every part is one of the rig's
        emulators, behind its real wire, so the device says it is a training device."""
        return f"""# Written by the HOTSPOT rig: the firmware talks to emulators over real wires.
[device]
emulated = true
capture_marker = "{self.workdir / "capturing"}"

[fingerprint]
driver = "r30x"
port = "{self.fingerprint.path}"
baudrate = 57600
fast_baudrate = 115200
capture_timeout_s = 3.0

[camera]
driver = "picamera2"
index = "emulated"

[modem]
driver = "{self.modem_dialect}"
port = "{self.modem.path}"
apn = "internet"
sim_pin = "1234"

[fuel_gauge]
driver = "max17048"
bus = "unix:{self.i2c_server.path}"
address = 0x36

[secure_element]
driver = "atecc608"
bus = "unix:{self.i2c_server.path}"
address = 0x60
identity_slot = 0

[supervisor]
driver = "rp2040"
bus = "unix:{self.i2c_server.path}"
address = 0x{self.supervisor.address:02X}
poweroff_command = ""
"""

    def run_firmware(self, *args: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run ``hotspot ARGS --config <rig config>`` as its own process."""
        env = dict(os.environ)
        env.setdefault("PYTHONUNBUFFERED", "1")
        return subprocess.run(
            [sys.executable, "-m", "hotspot", *args, "--config", str(self.config_path)],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=env,
            check=False,
        )

    def selftest(self, wait_s: float = 3.0) -> dict[str, Any]:
        """Run the firmware's self-test against the rig and return its JSON report."""
        result = self.run_firmware("hal", "selftest", "--json", "--wait", str(wait_s))
        try:
            report: dict[str, Any] = json.loads(result.stdout)
        except json.JSONDecodeError as exc:
            raise RuntimeError(
                f"self-test printed no JSON (exit {result.returncode}): {result.stderr[-2000:]}"
            ) from exc
        return report
