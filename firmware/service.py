"""``hotspot device run``: the firmware as a systemd service (``Type=notify`` with a watchdog).

It brings the hardware up, says READY to systemd only when every device
answered (so ``systemctl start`` and the update guard see a real start, not a
process that exists), then pets the watchdog from the loop that polls the
battery and the link; a hung loop stops petting and systemd restarts the
service, which the update guard counts as a failed start of a release on
trial. The protocol is a datagram to ``$NOTIFY_SOCKET`` (sd_notify(3)),
spoken here directly so that the service needs no libsystemd binding.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from pathlib import Path

from firmware import config as config_mod
from firmware import selftest
from firmware.wiring import Devices
from hal.errors import HalError


def sd_notify(message: str) -> bool:
    """Send ``message`` to systemd; False when not run by systemd (no ``$NOTIFY_SOCKET``)."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # abstract namespace
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        sock.sendall(message.encode())
    return True


def watchdog_interval_s(default: float = 10.0) -> float:
    """Half the watchdog period systemd set (``$WATCHDOG_USEC``), as sd_watchdog_enabled advises."""
    usec = os.environ.get("WATCHDOG_USEC")
    return int(usec) / 2e6 if usec and usec.isdigit() else default


def run(config_path: str | None, data_dir: Path | None, stop: threading.Event) -> int:
    cfg = config_mod.load(config_path)
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
    with Devices(cfg) as devices:
        report = selftest.run(devices, registration_wait_s=3.0)
        failing = [d for d in report.devices if not d.ok]
        if failing:
            for device in failing:
                print(f"device {device.name} does not answer: {device.error}", flush=True)
            sd_notify(f"STATUS=failing: {', '.join(d.name for d in failing)}")
            return 1
        sd_notify("READY=1\nSTATUS=all devices answer")
        print("ready: all devices answer", flush=True)
        period = watchdog_interval_s()
        while not stop.wait(period):
            status = []
            try:
                battery = devices.fuel_gauge.read()
                status.append(f"battery {battery.soc_percent:.0f}%")
            except HalError as exc:
                status.append(f"battery unknown ({type(exc).__name__})")
            link = devices.modem.link
            status.append(f"link {'up' if link.up else 'down'}")
            sd_notify(f"WATCHDOG=1\nSTATUS={', '.join(status)}")
    sd_notify("STOPPING=1")
    return 0


def main(config_path: str | None, data_dir: Path | None) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_a: stop.set())
    signal.signal(signal.SIGINT, lambda *_a: stop.set())
    return run(config_path, data_dir, stop)
