"""A handheld on the emulated rig, enrolled with a loopback system, run as its own service.

``hotspot device run`` runs as a separate process against the rig's emulators
(pseudo-terminals, the socket I2C bus), with one configuration file that names
them, the broker, the fleet CA, its client certificate and key, the central
keys and the officers: exactly what a handheld in the field runs, so the demo,
the browser tests and the benchmark exercise the service and not a copy of it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from central.broker import free_port
from central.provision import FleetLayout
from firmware.officer.pin import hash_pin
from hal.i2c import I2CTransport
from hal.secure.atecc608 import Atecc608
from hil.rig import Rig
from hil.system import System


class HandheldError(Exception):
    """The device service did not come up; the message carries its output."""


def identity_key(rig: Rig) -> bytes:
    """The rig's secure element's identity public key, read through the real driver."""
    return Atecc608(I2CTransport(rig.bus)).public_key(0)


@dataclass
class HandheldProcess:
    rig: Rig
    system: System
    device_id: str
    workdir: Path
    officers: dict[str, str] = field(default_factory=lambda: {"officer-1": "2468"})
    """Officer id -> PIN."""
    languages: tuple[str, ...] = ()
    operation: tuple[str, str, str] = ("op-demo", "Operation Green Border", "Crossing 7")
    telemetry_s: float = 60.0
    heartbeat_timeout_s: int = 60
    shutdown_grace_s: int = 30
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[str] | None = None
    output: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.workdir / "device.toml"
        self.data_dir = self.workdir / "data"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def enrol(self) -> HandheldProcess:
        """Register the rig's identity key and issue the device's certificate; write its
        configuration."""
        self.system.registry.add(self.device_id, identity_key(self.rig))
        creds = self.system.ca.issue(self.device_id, self.workdir / "tls")
        layout = FleetLayout(self.system.root)
        hashes = {officer: hash_pin(pin) for officer, pin in self.officers.items()}
        languages = (
            f"languages = [{', '.join(repr(x) for x in self.languages)}]\n"
            if self.languages
            else ""
        )
        op_id, op_name, op_site = self.operation
        hardware = self.rig.config_text().replace(
            "emulated = true\n",
            f'emulated = true\nid = "{self.device_id}"\ndata_dir = "{self.data_dir}"\n',
            1,
        )
        hardware = hardware.replace(
            'poweroff_command = ""\n',
            f'poweroff_command = ""\nheartbeat_timeout_s = {self.heartbeat_timeout_s}\n'
            f"shutdown_grace_s = {self.shutdown_grace_s}\n",
        )
        self.config_path.write_text(
            hardware
            + f"""
[uplink]
host = "127.0.0.1"
port = {self.system.broker.port}
ca = "{creds.ca}"
cert = "{creds.cert}"
key = "{creds.key}"
resend_after_s = 5.0

[central]
records_public = "{layout.records_public}"
answers_public = "{layout.answers_public}"

[interface]
port = {self.port}
{languages}
[operation]
id = "{op_id}"
name = "{op_name}"
site = "{op_site}"

[telemetry]
period_s = {self.telemetry_s}

[officers]
"""
            + "".join(f'"{officer}" = "{h}"\n' for officer, h in hashes.items())
        )
        return self

    def start(self, timeout_s: float = 90.0) -> HandheldProcess:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.output = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hotspot", "device", "run", "--config", str(self.config_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        ready = threading.Event()

        def read() -> None:
            assert self.process is not None and self.process.stdout is not None
            for line in self.process.stdout:
                self.output.append(line.rstrip())
                if line.startswith("ready:"):
                    ready.set()

        threading.Thread(target=read, name="handheld-output", daemon=True).start()
        deadline = time.monotonic() + timeout_s
        while not ready.wait(0.1):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise HandheldError(
                    "the device service did not start:\n" + "\n".join(self.output[-40:])
                )
        return self

    def stop(self, timeout_s: float = 30.0) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        code = self.process.returncode
        self.process = None
        return code

    def kill(self) -> None:
        """Die like a device whose battery was pulled: no clean shutdown."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def follow_power(self) -> None:
        """Let the rig's supervisor switch this main board: off kills the service (a power
        cut), on starts it again (a boot)."""
        self.power_cycles: list[bool] = []

        def switched(on: bool) -> None:
            self.power_cycles.append(on)
            if on:
                threading.Thread(target=self.start, name="boot", daemon=True).start()
            else:
                self.kill()

        self.rig.supervisor.board.on_power = switched
