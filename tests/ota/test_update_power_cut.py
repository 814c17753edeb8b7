"""A process killed (SIGKILL, like a pulled battery) at every step of an update.

Each run kills the real command line at one named step, then checks what the
device would find at the next power-on: ``current`` names a complete slot whose
code passes the health check, the outbox is byte-for-byte intact, and running
the same commands again finishes the update.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from ota_fixtures import Fleet, outbox_digest

from ota import slots
from ota.faults import ENV, STEPS
from ota.health import check_slot
from ota.layout import Layout
from ota.state import SlotState


def _hotspot(layout: Layout, *args: str, kill_at: str | None = None) -> int:
    env = {k: v for k, v in os.environ.items() if k not in (ENV, "PYTHONPATH")}
    if kill_at:
        env[ENV] = kill_at
    done = subprocess.run(
        [sys.executable, "-m", "hotspot", "ota", *args, "--root", str(layout.root)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(f"ota {args} exited {done.returncode}: {done.stderr}")
    return done.returncode


def _bootable(layout: Layout) -> None:
    current = slots.active(layout)
    assert current is not None
    manifest = slots.manifest_of(layout, current)
    assert manifest is not None and slots.verify(layout.slot(current), manifest) == []
    report = check_slot(layout.slot(current), ["--wait", "0.5", "--emulated"], 60)
    assert report.ok, report.reason


COMMANDS = {
    "download": ("update",),
    "verify": ("update",),
    "unpack": ("update",),
    "switch": ("update",),
    "first-boot": ("boot",),
    "commit": ("confirm",),
}


@pytest.mark.parametrize("step", STEPS)
def test_power_cut_at_every_step_leaves_a_bootable_device(fleet: Fleet, step: str) -> None:
    layout = fleet.device()
    outbox = outbox_digest(layout)
    before = {
        "download": [],
        "verify": [],
        "unpack": [],
        "switch": [],
        "first-boot": [("update", "1.1.0")],
        "commit": [("update", "1.1.0"), ("boot",)],
    }
    for args in before[step]:
        assert _hotspot(layout, *args) == 0
    args = ("update", "1.1.0") if COMMANDS[step] == ("update",) else COMMANDS[step]
    assert _hotspot(layout, *args, kill_at=step) == -signal.SIGKILL

    # Next power-on: the guard picks a slot; it must be complete and healthy.
    assert _hotspot(layout, "boot") == 0
    _bootable(layout)
    assert outbox_digest(layout) == outbox

    # And the update still completes from where it stopped.
    state = SlotState.load(layout.state_file)
    if state.trial is None and state.good_version == "1.0.0":
        assert _hotspot(layout, "update", "1.1.0") == 0
        assert _hotspot(layout, "boot") == 0
    assert _hotspot(layout, "confirm") == 0
    state = SlotState.load(layout.state_file)
    assert (state.good_version, state.trial) == ("1.1.0", None)
    assert slots.active(layout) == state.good
    _bootable(layout)
    assert outbox_digest(layout) == outbox


def test_a_cut_at_download_lands_in_the_releases_download(fleet: Fleet) -> None:
    """The 'download' step is the release's files, not the manifest fetched before them
    (the step used to fire on the manifest's first chunk, so the release's download was
    never cut)."""
    layout = fleet.device()
    assert _hotspot(layout, "update", "1.1.0", kill_at="download") == -signal.SIGKILL
    assert (layout.ota / "releases" / "1.1.0.manifest.json").is_file()
    started = [p for p in (layout.tuf / "partial").glob("*.part") if p.stat().st_size > 0]
    fetched = [p for p in layout.blobs.glob("*") if p.is_file()] if layout.blobs.exists() else []
    assert started or fetched, "the cut came before any of the release was downloaded"
