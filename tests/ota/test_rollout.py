"""Staged rollout over a real Mosquitto: waves, deferral, and a failing wave that halts it."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from ota_fixtures import Fleet

from central.broker import MosquittoBroker
from central.processor import GatewayKeys
from central.provision import FleetCA, central_keys
from ota import boot, health, settings
from ota.agent import RolloutAgent
from ota.antirollback import FileFloor
from ota.client import UpdateClient
from ota.install import Installer
from ota.rollout import Plan, RolloutController, RolloutStore
from ota.settings import MqttSettings
from ota.state import SlotState
from wire.errors import BadSignature
from wire.rollout import Announcement

BAD_CONFIG = '[fuel_gauge]\nbus = "unix:/nonexistent/fuel-gauge"\n'


def test_announcement_from_another_key_does_not_verify() -> None:
    good, rogue = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    keys = GatewayKeys(b"", rogue)
    signed = Announcement("r1", "canary", "1.1.0", 0, 1).sign(keys.sign_digest)
    with pytest.raises(BadSignature):
        Announcement.verify(signed, good.public_key())
    assert Announcement.verify(signed, rogue.public_key()).version == "1.1.0"


def test_failing_wave_halts_the_rollout(fleet: Fleet, tmp_path: Path) -> None:
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        pytest.fail("mosquitto is not installed: './dev test' installs it")
    ca = FleetCA.create(tmp_path / "ca")
    broker = MosquittoBroker(tmp_path / "broker", ca).start()
    records_key, answers_key = central_keys(tmp_path / "keys")
    keys = GatewayKeys.load(records_key, answers_key)
    bad = tmp_path / "bad.toml"
    bad.write_text(BAD_CONFIG)
    groups = {
        "dev-c1": "canary",
        "dev-c2": "canary",
        "dev-f1": "field",
        "dev-f2": "field",
        "dev-r1": "rest",
    }
    deferred = {"dev-c2": 1}  # says 'battery low' once, then may update
    agents, layouts = [], {}
    try:
        for name, group in groups.items():
            layout = fleet.device(name, ("--config", str(bad)) if group == "field" else ())
            layouts[name] = layout
            creds = ca.issue(name, tmp_path / "tls" / name)
            mqtt = MqttSettings(
                name,
                "127.0.0.1",
                broker.port,
                str(creds.ca),
                str(creds.cert),
                str(creds.key),
                str(answers_key.with_suffix(".pub")),
                group,
            )
            floor = FileFloor(layout.floor_file)
            client = UpdateClient(layout.tuf, fleet.url, layout.trusted_root.read_bytes())
            installer = Installer(layout, client, floor, "hotspot-h1")
            cfg = settings.load(layout)

            def activate(layout=layout, floor=floor, cfg=cfg) -> None:  # type: ignore[no-untyped-def]
                boot.boot(layout, floor)  # the restart
                boot.confirm(layout, floor, lambda s: health.check_slot(s, cfg.health_args, 60))

            def conditions(name: str = name) -> str | None:
                if deferred.get(name, 0) > 0:
                    deferred[name] -= 1
                    return "battery 12% < 30%"
                return None

            agents.append(
                RolloutAgent(layout, mqtt, installer, activate, conditions, retry_s=0.2).start()
            )
        for agent in agents:
            assert agent.connected.wait(10)

        store = RolloutStore(tmp_path / "rollout.db")
        for name, group in groups.items():
            store.assign(group, [name])
        creds = ca.issue("central", tmp_path / "tls" / "central")
        events: list[str] = []
        controller = RolloutController(
            store,
            keys.sign_digest,
            "127.0.0.1",
            broker.port,
            (str(creds.ca), str(creds.cert), str(creds.key)),
            events.append,
        )
        done = threading.Event()
        outcome: list[str] = []

        def run() -> None:
            outcome.append(
                controller.run(Plan("1.1.0", [["canary"], ["field"], ["rest"]], 0.5, 120))
            )
            done.set()

        threading.Thread(target=run, daemon=True).start()
        assert done.wait(180), events
        controller.close()
    finally:
        for agent in agents:
            agent.stop()
        broker.stop()

    assert outcome == ["halted"], events
    state = {name: SlotState.load(layout.state_file) for name, layout in layouts.items()}
    assert state["dev-c1"].good_version == state["dev-c2"].good_version == "1.1.0"
    assert deferred["dev-c2"] == 0
    for name in ("dev-f1", "dev-f2"):
        assert state[name].good_version == "1.0.0"
        assert state[name].last["outcome"] == "rolled-back"
        assert "hal.fuel_gauge" in state[name].last["reason"]
    assert state["dev-r1"].good_version == "1.0.0" and not state["dev-r1"].last  # never announced
    status = store.status()
    (rollout,) = status["rollouts"]
    assert rollout["state"] == "halted" and "wave 2" in rollout["reason"]
    assert status["devices"]["dev-c1"]["state"] == "installed"
    assert status["devices"]["dev-f1"]["state"] == "rolled-back"
    assert "state" not in status["devices"]["dev-r1"]
