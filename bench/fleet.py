"""``hotspot bench fleet``: telemetry from a fleet, and the console's report over an operation.

1. ``telemetry_msgs_per_s``: N simulated handhelds, each with its own
   certificate and TLS connection to a real Mosquitto, send the device
   service's telemetry report (the real shape: battery, link, GNSS, backlog,
   versions) on their ``telemetry/app`` topic; a real gateway stores them. The
   reports come faster than the field's one per 30 s until the gateway falls
   behind: the figure is the rate it held (stored within a second of being
   sent, over the run), beside what N handhelds at one per 30 s need.
2. ``bytes_per_device_day``: the database's growth per stored report, times
   the 2,880 reports a handheld sends in a day.
3. ``report_ms``: the console's report page (HTTPS, signed in) for a 3-day
   operation of that fleet: every handheld's checks (40 a day, 2 % HITs) in the
   audit and its telemetry every 30 s for the three days, median of 5 loads.
"""

from __future__ import annotations

import os
import random
import ssl
import statistics
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cbor2
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from central.broker import free_port
from central.ledger import AuditEntry
from central.provision import FleetLayout
from hil.device_run import secure_element
from hil.system import System
from wire import topics

FIELD_PERIOD_S = 30.0
DAY_S = 86_400


@dataclass
class FleetFigures:
    devices: int
    telemetry_msgs_per_s: float
    field_msgs_per_s: float
    bytes_per_device_day: float
    report_ms: float
    operation_checks: int
    telemetry_rows: int


def report_body(device: int, at_ms: int, rng: random.Random) -> bytes:
    return cbor2.dumps(
        {
            "v": 1,
            "at": at_ms,
            "training": False,
            "backlog": rng.randint(0, 30),
            "backlog_age_s": rng.randint(0, 3600),
            "fw": "1.0.0",
            "models": {"minutiae": "leader-dyn-int8/1"},
            "battery": {"soc": rng.uniform(5, 100), "volts": 3.8, "charging": False},
            "link": {"up": True, "dbm": rng.randint(-110, -60), "operator": "TEST", "act": 7},
            "gnss": [42.0 + device * 1e-3, 21.4 + rng.uniform(-0.01, 0.01)],
        }
    )


def run(devices: int, seconds: float, say: Callable[[str], None], root: Path) -> FleetFigures:
    system = System.start(root / "fleet")
    try:
        rate, per_message = _ingest(system, devices, seconds, say)
        checks, rows, report_ms = _report_page(system, devices, say)
    finally:
        system.stop()
    return FleetFigures(
        devices,
        rate,
        devices / FIELD_PERIOD_S,
        per_message * DAY_S / FIELD_PERIOD_S,
        report_ms,
        checks,
        rows,
    )


def _ingest(
    system: System, devices: int, seconds: float, say: Callable[[str], None]
) -> tuple[float, float]:
    layout = FleetLayout(system.root)
    key = secure_element().public_key(0)
    clients: list[mqtt.Client] = []
    say(f"enrolling and connecting {devices} simulated handhelds")
    for number in range(devices):
        device_id = f"fleet-{number:05d}"
        system.registry.add(device_id, key)
        creds = system.ca.issue(device_id, layout.device_dir(device_id) / "tls")
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device_id, protocol=mqtt.MQTTv5)
        client.tls_set(ca_certs=str(creds.ca), certfile=str(creds.cert), keyfile=str(creds.key))
        client.connect("127.0.0.1", system.broker.port, keepalive=60)
        client.loop_start()
        clients.append(client)
    deadline = time.monotonic() + 60
    while not all(c.is_connected() for c in clients) and time.monotonic() < deadline:
        time.sleep(0.05)
    db = system.store.db
    before_rows = _count(db)
    before_bytes = _size(system)
    rng = random.Random(7)
    say(f"sending telemetry as fast as it is stored, for {seconds:.0f} s")
    sent = 0
    started = time.monotonic()
    stop = started + seconds
    while time.monotonic() < stop:
        for number, client in enumerate(clients):
            client.publish(
                topics.telemetry(f"fleet-{number:05d}", "app"),
                report_body(number, int(time.time() * 1000), rng),
                qos=1,
                retain=True,
            )
            sent += 1
        # Keep the offered load just above what is stored, so the figure is what was held.
        while sent - (_count(db) - before_rows) > devices * 2 and time.monotonic() < stop:
            time.sleep(0.01)
    wait_until = time.monotonic() + 10
    while _count(db) - before_rows < sent and time.monotonic() < wait_until:
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    stored = _count(db) - before_rows
    for client in clients:
        client.loop_stop()
        client.disconnect()
    growth = _size(system) - before_bytes
    return stored / elapsed, max(growth, 0) / max(stored, 1)


def _report_page(
    system: System, devices: int, say: Callable[[str], None]
) -> tuple[int, int, float]:
    from central.console.accounts import Accounts
    from central.console.app import COOKIE, create_app
    from central.console.server import ConsoleServer

    db = system.store.db
    rng = random.Random(11)
    now = int(time.time() * 1000)
    start = now - 3 * DAY_S * 1000
    say(f"writing a 3-day operation of {devices} handhelds (checks and telemetry)")
    checks = 0
    with db.transaction():
        for number in range(devices):
            device_id = f"fleet-{number:05d}"
            for index in range(3 * 40):
                at = start + rng.randint(0, 3 * DAY_S * 1000)
                hit = rng.random() < 0.02
                system.ledger.insert_audit(
                    AuditEntry(
                        "answered", device_id, f"{number}-{index}", "hit" if hit else "no_hit",
                        "WL-1" if hit else None, officer="officer-1", operation="OP-BENCH",
                        notice="red-notice" if hit else None,
                        modalities="fingerprint" if hit else None,
                        captured_ms=at - rng.randint(500, 60_000),
                    )
                )  # fmt: skip
                checks += 1
    rows = []
    for number in range(devices):
        for at in range(start, now, int(FIELD_PERIOD_S * 1000)):
            rows.append(
                (f"fleet-{number:05d}", "app", at, report_body(number, at, rng),
                 rng.randint(0, 3600))
            )  # fmt: skip
        if len(rows) >= 50_000:
            _insert(db, rows)
            rows.clear()
    _insert(db, rows)
    telemetry_rows = _count(db)
    Accounts(db).add("bench", "viewer", "bench-password-1", replace=True)
    token, _ = Accounts(db).sign_in("bench", "bench-password-1")
    creds = system.ca.issue("console", FleetLayout(system.root).console_tls, server=True)
    server = ConsoleServer(create_app(system.store), "127.0.0.1", free_port(), creds.cert,
                           creds.key).start()  # fmt: skip
    context = ssl.create_default_context(cafile=str(creds.ca))
    times = []
    try:
        for _ in range(5):
            request = urllib.request.Request(
                server.url + "reports/OP-BENCH", headers={"Cookie": f"{COOKIE}={token}"}
            )
            began = time.perf_counter()
            with urllib.request.urlopen(request, context=context, timeout=300) as response:
                body = response.read()
            times.append((time.perf_counter() - began) * 1000)
            assert f">{checks}<".encode() in body, "the report did not count the operation"
    finally:
        server.stop()
    return checks, telemetry_rows, statistics.median(times)


def _insert(db: Any, rows: list[tuple[str, str, int, bytes, int]]) -> None:
    with db.transaction():
        db.executemany(
            "INSERT INTO telemetry (device_id, kind, at_ms, report, backlog_age_s) "
            "VALUES (?, ?, ?, ?, ?)",
            rows,
        )


def _count(db: Any) -> int:
    row = db.one("SELECT COUNT(*) FROM telemetry")
    return int(row[0]) if row else 0


def _size(system: System) -> int:
    central = system.root / "central"
    return sum(p.stat().st_size for p in central.glob("central.db*") if p.is_file())


def report(figures: FleetFigures) -> str:
    return "\n".join(
        [
            f"handhelds                     {figures.devices:>10,}",
            f"telemetry held                {figures.telemetry_msgs_per_s:>10.0f} reports/s "
            f"(the fleet at one per 30 s sends {figures.field_msgs_per_s:.0f}/s)",
            f"storage per handheld-day      {figures.bytes_per_device_day / 1e6:>10.2f} MB",
            f"report page, 3-day operation  {figures.report_ms:>10.0f} ms "
            f"({figures.operation_checks:,} checks, {figures.telemetry_rows:,} telemetry rows)",
        ]
    )


def main(devices: int, seconds: float, as_json: bool, say: Callable[[str], None]) -> int:
    import json

    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory(prefix="hotspot-bench-fleet-") as tmp:
        figures = run(devices, seconds, say, Path(tmp))
    print(json.dumps(figures.__dict__) if as_json else report(figures))
    return 0
