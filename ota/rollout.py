"""The fleet side of updates: staged rollout in waves, stopped by the failure rate.

As hawkBit does it: the operator names the release and the waves (each a list
of device groups); the controller announces the release to the first wave's
groups (a retained, signed MQTT message per group), watches the devices'
telemetry, and opens the next wave only when every device of the current one
has finished (or the wave's time is up) and the share that failed stays at or
below the threshold. Past it, the rollout halts: the current wave's
announcements are withdrawn so that devices that have not started do not,
and later waves never hear of the release. Devices that already failed are
back on their previous release by themselves (the guard).

State lives in SQLite (``rollout.db`` in the fleet directory) so that
``hotspot ota status`` can show the fleet from another process.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cbor2
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from wire import envelope, topics
from wire.rollout import FINAL_STATES, Announcement, UpdateReport

SCHEMA = """
create table if not exists assignment (device text primary key, grp text not null);
create table if not exists rollout (
    id text primary key, version text not null, waves text not null,
    max_failure real not null, state text not null, wave integer not null,
    started real not null, updated real not null, reason text not null default '');
create table if not exists report (
    device text not null, rollout text not null, version text not null, state text not null,
    running text not null, grp text not null, progress real not null, reason text not null,
    at real not null, primary key (device, rollout));
"""


@dataclass(frozen=True)
class Plan:
    version: str
    waves: list[list[str]]
    """Each wave: the device groups it announces to."""
    max_failure: float = 0.2
    """Halt when more than this share of a wave's devices fail."""
    wave_timeout_s: float = 3600.0
    """A device that has not finished by then counts as failed."""


class RolloutStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=30)
        self._lock = threading.Lock()
        with self._db:
            self._db.executescript(SCHEMA)

    def assign(self, group: str, devices: list[str]) -> None:
        topics.release(group)  # validates the name
        with self._lock, self._db:
            self._db.executemany(
                "insert or replace into assignment values (?, ?)", [(d, group) for d in devices]
            )

    def members(self, groups: list[str]) -> set[str]:
        marks = ",".join("?" * len(groups))
        rows = self._db.execute(f"select device from assignment where grp in ({marks})", groups)
        return {row[0] for row in rows}

    def begin(self, plan: Plan) -> str:
        rollout = uuid.uuid4().hex[:12]
        now = time.time()
        with self._lock, self._db:
            self._db.execute(
                "insert into rollout values (?, ?, ?, ?, 'running', 0, ?, ?, '')",
                (rollout, plan.version, json.dumps(plan.waves), plan.max_failure, now, now),
            )
        return rollout

    def set_state(self, rollout: str, state: str, wave: int, reason: str = "") -> None:
        with self._lock, self._db:
            self._db.execute(
                "update rollout set state = ?, wave = ?, reason = ?, updated = ? where id = ?",
                (state, wave, reason, time.time(), rollout),
            )

    def record(self, device: str, report: UpdateReport) -> None:
        with self._lock, self._db:
            self._db.execute(
                "insert or replace into report values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    device,
                    report.rollout,
                    report.version,
                    report.state,
                    report.running,
                    report.group,
                    report.progress,
                    report.reason,
                    time.time(),
                ),
            )

    def reports(self, rollout: str) -> dict[str, tuple[str, str]]:
        """device -> (state, reason) in ``rollout``."""
        rows = self._db.execute(
            "select device, state, reason from report where rollout = ?", (rollout,)
        )
        return {device: (state, reason) for device, state, reason in rows}

    def status(self) -> dict[str, Any]:
        names = ("id", "version", "waves", "max_failure", "state", "wave", "reason")
        rollouts = [
            dict(zip(names, row, strict=True))
            for row in self._db.execute(
                "select id, version, waves, max_failure, state, wave, reason from rollout "
                "order by started"
            )
        ]
        devices: dict[str, dict[str, Any]] = {}
        for device, group in self._db.execute("select device, grp from assignment"):
            devices[device] = {"group": group}
        for device, state, running, version, progress, reason in self._db.execute(
            "select device, state, running, version, progress, reason from report order by at"
        ):
            devices.setdefault(device, {}).update(
                state=state, running=running, target=version, progress=progress, reason=reason
            )
        return {"rollouts": rollouts, "devices": devices}

    def close(self) -> None:
        self._db.close()


class RolloutController:
    """Runs one rollout over MQTT as the central user (client id ``rollout``)."""

    def __init__(
        self,
        store: RolloutStore,
        sign_digest: envelope.SignDigest,
        host: str,
        port: int,
        tls: tuple[str, str, str],
        on_event: Callable[[str], None] = lambda _text: None,
    ) -> None:
        self.store, self._sign, self._say = store, sign_digest, on_event
        self._changed = threading.Event()
        self._connected = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"rollout-{uuid.uuid4().hex[:6]}",
            protocol=mqtt.MQTTv5,
        )
        ca, cert, key = tls
        self._client.tls_set(ca_certs=ca, certfile=cert, keyfile=key)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.connect(host, port, keepalive=30)
        self._client.loop_start()
        if not self._connected.wait(15):
            raise ConnectionError(f"the broker at {host}:{port} did not accept the controller")

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            client.subscribe(f"{topics.PREFIX}/+/telemetry/update", qos=1)
            self._connected.set()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            device = topics.device_of(msg.topic)
            body = cbor2.loads(msg.payload)
        except Exception:
            return  # not ours to judge; the gateway audits malformed telemetry
        report = UpdateReport.from_telemetry(body) if isinstance(body, dict) else None
        if report is not None:
            self.store.record(device, report)
            self._changed.set()

    def announce(self, rollout: str, group: str, version: str, wave: int) -> None:
        signed = Announcement(rollout, group, version, wave, int(time.time() * 1000)).sign(
            self._sign
        )
        self._client.publish(topics.release(group), signed, qos=1, retain=True).wait_for_publish()

    def withdraw(self, group: str) -> None:
        self._client.publish(topics.release(group), b"", qos=1, retain=True).wait_for_publish()

    def run(self, plan: Plan) -> str:
        """Roll ``plan`` out wave by wave; returns 'completed' or 'halted'."""
        rollout = self.store.begin(plan)
        for index, groups in enumerate(plan.waves):
            devices = self.store.members(groups)
            self.store.set_state(rollout, "running", index)
            for group in groups:
                self.announce(rollout, group, plan.version, index)
            self._say(
                f"wave {index + 1}: {plan.version} announced to {', '.join(groups)} "
                f"({len(devices)} devices)"
            )
            failed, total = self._watch(rollout, devices, plan.wave_timeout_s)
            rate = failed / total if total else 0.0
            self._say(f"wave {index + 1}: {total - failed} of {total} healthy")
            if rate > plan.max_failure:
                for group in groups:
                    self.withdraw(group)
                reason = (
                    f"wave {index + 1} failed on {failed} of {total} devices "
                    f"({rate:.0%} > {plan.max_failure:.0%})"
                )
                self.store.set_state(rollout, "halted", index, reason)
                self._say(f"halted: {reason}; later waves not announced")
                return "halted"
        self.store.set_state(rollout, "completed", len(plan.waves) - 1)
        self._say("rollout completed")
        return "completed"

    def _watch(self, rollout: str, devices: set[str], timeout_s: float) -> tuple[int, int]:
        deadline = time.monotonic() + timeout_s
        while True:
            reports = self.store.reports(rollout)
            final = {
                d: reports[d] for d in devices if d in reports and reports[d][0] in FINAL_STATES
            }
            if len(final) == len(devices) or time.monotonic() >= deadline:
                failed = sum(1 for d in devices if final.get(d, ("", ""))[0] != "installed")
                return failed, len(devices)
            self._changed.wait(min(1.0, max(0.0, deadline - time.monotonic())))
            self._changed.clear()

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
