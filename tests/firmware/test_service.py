"""The device service: READY only when it runs, the watchdog only while its workers do, a clean
stop on SIGTERM, and a one-line refusal for a missing or partial configuration."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from central.broker import free_port
from central.provision import FleetCA, central_keys
from firmware import config as config_mod
from firmware.officer.pin import hash_pin
from firmware.service import Service, run


def service_config(tmp_path: Path, hardware: str = "") -> Path:
    """A handheld configuration whose hardware is emulated (--emulated fills what is absent)
    and whose broker does not exist: the service must run offline all the same."""
    ca = FleetCA.create(tmp_path / "ca")
    creds = ca.issue("hh-svc", tmp_path / "tls")
    records, answers = central_keys(tmp_path / "keys")
    path = tmp_path / "device.toml"
    path.write_text(
        f"""[device]
emulated = true
id = "hh-svc"
data_dir = "{tmp_path / "data"}"
capture_marker = "{tmp_path / "capturing"}"
{hardware}
[uplink]
host = "127.0.0.1"
port = {free_port()}
ca = "{creds.ca}"
cert = "{creds.cert}"
key = "{creds.key}"
[central]
records_public = "{records.with_suffix(".pub")}"
answers_public = "{answers.with_suffix(".pub")}"
[interface]
port = {free_port()}
[officers]
"o-1" = "{hash_pin("2468")}"
"""
    )
    return path


def _service(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], socket.socket]:
    address = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(60)
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
    proc, sock = _service(tmp_path, "--config", str(service_config(tmp_path)), "--emulated")
    try:
        messages = [sock.recv(4096).decode() for _ in range(3)]
        assert messages[0].startswith("READY=1"), messages
        assert all(m.startswith("WATCHDOG=1") for m in messages[1:])
        assert "link" in messages[1] and "queued" in messages[1]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        sock.setblocking(False)
        drained = []
        while True:
            try:
                drained.append(sock.recv(4096).decode())
            except BlockingIOError:
                break
        assert drained[-1].startswith("STOPPING=1")
        output = proc.stdout.read() if proc.stdout else ""
        assert "officer interface: http://127.0.0.1:" in output and "TRAINING" in output
    finally:
        proc.kill()
        sock.close()


def test_no_ready_without_the_secure_element(tmp_path: Path) -> None:
    hardware = '[secure_element]\nbus = "unix:/nonexistent/i2c"\n'
    proc, sock = _service(
        tmp_path, "--config", str(service_config(tmp_path, hardware)), "--emulated"
    )
    try:
        assert proc.wait(60) == 1
        message = sock.recv(4096).decode()
        assert message.startswith("STATUS=failing: cannot take checks without: secure_element")
        output = proc.stdout.read() if proc.stdout else ""
        assert "secure_element does not answer" in output and "Traceback" not in output
    finally:
        proc.kill()
        sock.close()


def test_a_missing_fuel_gauge_degrades_but_runs(tmp_path: Path) -> None:
    hardware = '[fuel_gauge]\nbus = "unix:/nonexistent/i2c"\n'
    proc, sock = _service(
        tmp_path, "--config", str(service_config(tmp_path, hardware)), "--emulated"
    )
    try:
        message = sock.recv(4096).decode()
        assert message.startswith("READY=1") and "not answering: fuel_gauge" in message
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        proc.kill()
        sock.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "no device configuration: give --config FILE"),
        (("--config", "/nonexistent/device.toml"), "cannot read configuration"),
    ],
)
def test_no_configuration_no_start(args: tuple[str, ...], message: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "hotspot", "device", "run", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], out.stderr


def test_a_partial_configuration_names_the_section_to_fix(tmp_path: Path) -> None:
    path = service_config(tmp_path)
    path.write_text(path.read_text().split("[central]")[0])  # no central keys, no officers
    out = subprocess.run(
        [sys.executable, "-m", "hotspot", "device", "run", "--config", str(path), "--emulated"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2
    assert f"{path}: section [central] is missing" in out.stderr and "Traceback" not in out.stderr


def test_a_real_device_without_hardware_sections_refuses(tmp_path: Path) -> None:
    path = service_config(tmp_path)
    path.write_text(path.read_text().replace("emulated = true", "emulated = false"))
    out = subprocess.run(
        [sys.executable, "-m", "hotspot", "device", "run", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2 and "section [fingerprint] is missing" in out.stderr


@contextlib.contextmanager
def running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Service]]:
    """The service on the emulated rig in a thread of this process; the list receives the
    Service once it has started (the test reaches into its workflow and event hub)."""
    cfg = config_mod.load(service_config(tmp_path), emulated=True)
    started: list[Service] = []
    original = Service.start

    def keep(self: Service) -> Service:
        started.append(self)
        return original(self)

    monkeypatch.setattr(Service, "start", keep)
    stop = threading.Event()
    runner = threading.Thread(target=run, args=(cfg, None, stop))
    runner.start()
    try:
        yield started
    finally:
        stop.set()
        runner.join(30)


def test_a_hung_worker_stops_the_watchdog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    address = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(30)
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    with contextlib.closing(sock), running(tmp_path, monkeypatch) as started:
        assert sock.recv(4096).decode().startswith("READY=1")
        assert sock.recv(4096).decode().startswith("WATCHDOG=1")
        service = started[0]
        assert service.workflow is not None
        service.workflow.busy_since = time.monotonic() - 3600  # a capture that never returns
        deadline = time.monotonic() + 10
        while True:
            message = sock.recv(4096).decode()
            if message.startswith("STATUS=hung"):
                break
            assert time.monotonic() < deadline, "the watchdog kept being petted"
        assert "a capture is stuck" in message
        sock.settimeout(0.8)
        with pytest.raises(TimeoutError):  # nothing more: no WATCHDOG=1 while hung
            sock.recv(4096)
        service.workflow.busy_since = None
        sock.settimeout(10)
        assert sock.recv(4096).decode().startswith("WATCHDOG=1")  # petting resumes


def test_an_officer_reacting_to_done_at_once_is_never_told_a_capture_is_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The "done" event reaches the screen (and the rig) while the capture thread is still
    # winding down; the next tap must not be refused as "a capture is still running".
    from firmware.officer.events import Event

    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    with running(tmp_path, monkeypatch) as started:
        deadline = time.monotonic() + 60
        while not started or started[0].workflow is None:
            assert time.monotonic() < deadline, "the service did not start"
            time.sleep(0.05)
        service = started[0]
        workflow = service.workflow
        assert workflow is not None
        seen: list[tuple[str, object]] = []
        next_finger = threading.Event()

        def react(event: Event) -> None:
            if event.name == "finger.done":
                state = workflow.state()
                seen.append(("busy", state and state["busy"]))
                try:
                    workflow.accept_finger(event.data["position"])
                    if event.data["position"] == 2:
                        workflow.capture_finger(7)  # the next finger, at once
                    seen.append(("next", "started"))
                except Exception as exc:  # what the officer would be told
                    seen.append(("next", type(exc).__name__))
                if event.data["position"] == 7:
                    next_finger.set()

        service.hub.subscribe(react)
        workflow.begin("officer-1", 1, (2, 7))
        workflow.capture_finger(2)
        assert next_finger.wait(60), seen
        assert seen == [("busy", False), ("next", "started"), ("busy", False), ("next", "started")]
