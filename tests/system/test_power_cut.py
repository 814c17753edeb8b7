"""The firmware killed with SIGKILL at random moments, restarted: nothing lost, nothing twice.

Each run starts the handheld as its own process, lets it capture, seal, queue
and flush against the real broker and gateway, and kills it at a random
instant. A final run drains the outbox. Every check the firmware reported as
queued must then be answered by the central service exactly once.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest

from central.provision import FleetLayout
from hil.device_run import secure_element
from hil.system import System

RUNS = int(os.environ.get("HOTSPOT_KILL_RUNS", "50"))


def spawn(system: System, device_id: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hil.device_run",
            "--dir",
            str(system.root),
            "--device",
            device_id,
            "--port",
            str(system.broker.port),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_nothing(system: System) -> None:
    device_id = "hh-crash-01"
    layout = FleetLayout(system.root)
    se = secure_element(layout.device_dir(device_id) / "atecc608.json")
    system.registry.add(device_id, se.public_key(0))
    system.ca.issue(device_id, layout.device_dir(device_id) / "tls")
    rng = random.Random(20261122)
    queued: set[str] = set()
    for run in range(RUNS):
        proc = spawn(system, device_id)
        assert proc.stdout is not None
        first = ""
        if run % 4:
            # Kill while checks are being made: from the first one queued (start-up takes
            # 0.7 s on a quiet machine and several on a loaded one, so a fixed delay from
            # the spawn once killed most runs before they had made any).
            watchdog = threading.Timer(60, proc.kill)
            watchdog.start()
            first = proc.stdout.readline()
            watchdog.cancel()
            time.sleep(rng.uniform(0.0, 1.7))
        else:
            time.sleep(rng.uniform(0.0, 1.5))  # and sometimes during start-up
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        queued |= {line[2:] for line in (first + out).splitlines() if line.startswith("Q ")}
    assert len(queued) >= RUNS // 2  # the kills landed while checks were being made
    drain = spawn(system, device_id, "--drain")
    out, _ = drain.communicate(timeout=180)
    assert "DRAINED 0" in out
    rows = system.store.db.query("SELECT record_id FROM answered WHERE device_id = ?", (device_id,))
    answered = [bytes(r[0]).hex() for r in rows]
    assert queued <= set(answered), f"{len(queued - set(answered))} queued checks never answered"
    events = [e for e in system.ledger.audit_events() if e[0] == device_id and e[2] == "answered"]
    assert len(events) == len(set(answered))  # matched once each, duplicates answered from memory
