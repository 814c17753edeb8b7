"""The health check of a slot on trial, run from that slot's own code.

The new release judges its own hardware access and models (only its code knows
its models), but it does not judge its own fate: the guard, from the good slot,
runs ``python -m hotspot hal health --json`` with the trial slot on
``PYTHONPATH`` and treats anything but a prompt, well-formed "ok" as a failure:
an import error, a crash, a hang past the deadline, garbage on stdout.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEADLINE_S = 120.0

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HealthReport:
    ok: bool
    reason: str = ""
    checks: dict[str, Any] = field(default_factory=dict)


def slot_env(slot_dir: Path) -> dict[str, str]:
    """The environment that runs ``slot_dir``'s application instead of any other copy."""
    env = dict(os.environ)
    # Absolute: the check runs with the slot as its working directory, where a relative
    # path (from a relative --root) would name nothing, and Python would quietly import
    # the installed copy instead of the release on trial.
    env["PYTHONPATH"] = str(slot_dir.resolve() / "app")
    env.pop("HOTSPOT_OTA_KILL_AT", None)
    return env


def unit_active(unit: str, timeout_s: float = 10.0) -> HealthReport:
    """Whether systemd reports ``unit`` active ("service up"). The firmware unit is
    ``Type=notify`` and sends READY only once every device answered, so "active"
    means the new release started and found its hardware."""
    try:
        done = subprocess.run(
            ["systemctl", "is-active", unit],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except FileNotFoundError:
        return HealthReport(False, f"cannot ask systemd about {unit}: systemctl not found")
    except subprocess.TimeoutExpired:
        return HealthReport(False, f"systemctl did not answer about {unit}")
    state = done.stdout.strip() or "unknown"
    if done.returncode == 0 and state == "active":
        return HealthReport(True, "", {f"unit.{unit}": {"ok": True}})
    return HealthReport(False, f"{unit} is {state}, not active", {f"unit.{unit}": {"ok": False}})


def check_slot(
    slot_dir: Path,
    args: Sequence[str] = (),
    deadline_s: float = DEADLINE_S,
    python: str = sys.executable,
) -> HealthReport:
    slot_dir = slot_dir.resolve()
    # faulthandler: should the check die of a signal (a native library crashing on the
    # way out, say), its Python stacks land on stderr, which a failed check logs whole.
    command = [python, "-X", "faulthandler", "-m", "hotspot", "hal", "health", "--json", *args]
    try:
        done = subprocess.run(
            command,
            cwd=slot_dir,
            env=slot_env(slot_dir),
            capture_output=True,
            text=True,
            timeout=deadline_s,
        )
    except subprocess.TimeoutExpired:
        return HealthReport(False, f"no health answer within {deadline_s:.0f} s")
    if done.returncode != 0 and done.stderr.strip():
        # The verdict below keeps one line; the journal keeps the rest for whoever
        # has to find out why a release was rolled back.
        log.warning(
            "health check of %s %s; its stderr:\n%s",
            slot_dir.name,
            _ending(done.returncode),
            done.stderr.strip()[-4000:],
        )
    try:
        body = json.loads(done.stdout)
        checks = dict(body["checks"])
        ok = bool(body["ok"])
    except (ValueError, KeyError, TypeError):
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return HealthReport(False, f"health check {_ending(done.returncode)}: {tail[0][:200]}")
    if ok and done.returncode == 0:
        return HealthReport(True, "", checks)
    failing = sorted(name for name, value in checks.items() if not value.get("ok", False))
    if failing:
        return HealthReport(False, f"failing: {', '.join(failing)}", checks)
    # Every check passed, yet the process failed (a crash while exiting, say): the exit
    # status and the last line it wrote are all there is to go on, so say them.
    tail = (done.stderr or "").strip().splitlines()[-1:] or ["nothing on stderr"]
    return HealthReport(
        False,
        f"every check passed but the health check {_ending(done.returncode)}: {tail[0][:200]}",
        checks,
    )


def _ending(returncode: int) -> str:
    """How a process ended, as a person reads it: "exited 3", "died of SIGSEGV"."""
    if returncode < 0:
        try:
            return f"died of {signal.Signals(-returncode).name}"
        except ValueError:
            return f"died of signal {-returncode}"
    return f"exited {returncode}"
