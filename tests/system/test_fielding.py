"""Fielding a fleet end to end: two handhelds on the emulated rig enrol with central through the
commands of the README's "Fielding a fleet", on a broker whose certificate names the host they
use, and run; enrolling again changes nothing; a revoked handheld cannot connect."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from central.broker import MosquittoBroker, free_port
from central.provision import FleetCA, FleetLayout
from central.store import Store
from hil.rig import Rig
from hotspot.cli import main

DEVICES = ("hh-field-1", "hh-field-2")


def hotspot(*args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "hotspot", *args],
        capture_output=True,
        text=True,
        timeout=120,
        input=stdin,
    )
    assert done.returncode == 0, f"hotspot {' '.join(args)}: {done.stderr[-1500:]}"
    return done.stdout


@pytest.fixture
def field(tmp_path: Path) -> Iterator[tuple[Path, int, MosquittoBroker, list[Rig]]]:
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        pytest.fail("mosquitto is not installed: './dev test' installs it")
    fleet, port = tmp_path / "fleet", free_port()
    hotspot("provision", "--dir", str(fleet), "--port", str(port), "--listen", "127.0.0.1",
            "--name", "broker.border.test")  # fmt: skip
    layout = FleetLayout(fleet)
    broker = MosquittoBroker(layout.broker_dir, FleetCA(layout.ca_dir), port=port).start()
    rigs = [Rig(tmp_path / f"rig-{n}").start() for n in range(len(DEVICES))]
    try:
        yield fleet, port, broker, rigs
    finally:
        for rig in rigs:
            rig.stop()
        broker.stop()


def _device_config(rig: Rig, device_id: str, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "device.toml"
    text = rig.config_text().replace(
        "emulated = true\n",
        f'emulated = true\nid = "{device_id}"\ndata_dir = "{folder / "data"}"\n',
        1,
    )
    config.write_text(
        text + f"\n[telemetry]\nperiod_s = 2.0\n\n[interface]\nport = {free_port()}\n"
    )
    return config


def _connects(folder: Path, port: int) -> bool:
    """Whether the handheld's installed key and certificate get it into the broker."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="probe", protocol=mqtt.MQTTv5)
    client.tls_set(
        ca_certs=str(folder / "fleet" / "ca.pem"),
        certfile=str(folder / "fleet" / "device.pem"),
        keyfile=str(folder / "tls" / "device.key"),
    )
    try:
        client.connect("127.0.0.1", port, keepalive=5)
    except OSError:
        return False
    for _ in range(40):
        client.loop(0.1)
        if client.is_connected():
            client.disconnect()
            return True
    return False


def test_two_handhelds_enrol_run_and_one_is_revoked(
    field: tuple[Path, int, MosquittoBroker, list[Rig]], tmp_path: Path
) -> None:
    fleet, port, broker, rigs = field
    gateway = subprocess.Popen(
        [sys.executable, "-m", "hotspot", "central", "run", "--dir", str(fleet)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    services = []
    try:
        folders = []
        for rig, device_id in zip(rigs, DEVICES, strict=True):
            folder = tmp_path / device_id
            config = _device_config(rig, device_id, folder)
            request = folder / "request.json"
            bundle = tmp_path / f"{device_id}.bundle.json"
            hotspot("device", "enrol", "--config", str(config), "--out", str(request))
            said = hotspot("central", "enrol", "--dir", str(fleet), str(request),
                           "--broker", f"127.0.0.1:{port}", "--out", str(bundle))  # fmt: skip
            assert "identity key registered, certificate issued" in said
            hotspot("device", "install-bundle", "--config", str(config), str(bundle))
            hotspot("device", "officer", "add", "--config", str(config), "officer-1",
                    "--pin-stdin", stdin="2468\n")  # fmt: skip
            assert not (folder / "tls" / "device.key").stat().st_mode & 0o077  # the service's only
            folders.append((folder, config, request, bundle))
        store = Store.open(FleetLayout(fleet).database_url)
        assert [d.device_id for d in store.registry.all()] == list(DEVICES)

        # Both run as handhelds do, and report to central.
        for _folder, config, _r, _b in folders:
            services.append(
                subprocess.Popen(
                    [sys.executable, "-m", "hotspot", "device", "run", "--config", str(config)],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    env=dict(os.environ, PYTHONUNBUFFERED="1"),
                )
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not all(
            store.ledger.telemetry(d) is not None for d in DEVICES
        ):
            time.sleep(0.3)
        assert all(store.ledger.telemetry(d) is not None for d in DEVICES), [
            s.stdout.read() if s.poll() is not None and s.stdout else "running" for s in services
        ]

        # Enrolling again changes nothing.
        folder, config, request, bundle = folders[0]
        before = {
            p: p.read_bytes()
            for p in (folder / "tls" / "device.key", folder / "fleet" / "device.pem")
        }
        hotspot("device", "enrol", "--config", str(config), "--out", str(request))
        said = hotspot("central", "enrol", "--dir", str(fleet), str(request),
                       "--broker", f"127.0.0.1:{port}", "--out", str(bundle))  # fmt: skip
        assert "identity key unchanged, certificate unchanged" in said
        hotspot("device", "install-bundle", "--config", str(config), str(bundle))
        assert {p: p.read_bytes() for p in before} == before
        # Someone else's request under this device's name is refused.
        other_request = folders[1][2]
        forged = other_request.read_text().replace(DEVICES[1], DEVICES[0])
        (tmp_path / "forged.json").write_text(forged)
        assert main(["central", "enrol", "--dir", str(fleet), str(tmp_path / "forged.json"),
                     "--broker", f"127.0.0.1:{port}"]) == 2  # fmt: skip

        # Revoked: its certificate no longer opens the broker once it reloads.
        assert _connects(folders[0][0], port)
        hotspot("central", "devices", "revoke", "--dir", str(fleet), DEVICES[0])
        broker.reload()
        time.sleep(0.5)
        assert not _connects(folders[0][0], port)
        assert _connects(folders[1][0], port)  # the other handheld is untouched
    finally:
        for service in services:
            service.terminate()
        for service in services:
            try:
                service.wait(30)
            except subprocess.TimeoutExpired:
                service.kill()
        gateway.terminate()
        gateway.wait(30)
