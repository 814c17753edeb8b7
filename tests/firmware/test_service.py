"""The firmware service speaks sd_notify: READY only after the devices answer, then the watchdog."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path


def _service(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], socket.socket]:
    address = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(20)
    env = dict(os.environ, NOTIFY_SOCKET=address, WATCHDOG_USEC="400000")
    proc = subprocess.Popen(
        [sys.executable, "-m", "hotspot", "device", "run", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return proc, sock


def test_ready_then_watchdog_then_clean_stop(tmp_path: Path) -> None:
    proc, sock = _service(tmp_path, "--data", str(tmp_path / "data"))
    try:
        messages = [sock.recv(4096).decode() for _ in range(3)]
        assert messages[0].startswith("READY=1")
        assert all(m.startswith("WATCHDOG=1") for m in messages[1:])
        assert "battery" in messages[1] and "link" in messages[1]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        sock.setblocking(False)
        drained = []
        while True:
            try:
                drained.append(sock.recv(4096).decode())
            except BlockingIOError:
                break
        assert drained[-1].startswith("STOPPING=1")
    finally:
        proc.kill()
        sock.close()


def test_no_ready_when_a_device_does_not_answer(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[fuel_gauge]\nbus = "unix:/nonexistent/fuel-gauge"\n')
    proc, sock = _service(tmp_path, "--config", str(bad))
    try:
        assert proc.wait(30) == 1
        message = sock.recv(4096).decode()
        assert message.startswith("STATUS=failing: fuel_gauge")
        assert "fuel_gauge does not answer" in (proc.stdout.read() if proc.stdout else "")
    finally:
        proc.kill()
        sock.close()
