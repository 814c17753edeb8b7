"""The guard: what runs before the application starts and after it comes up.

``boot`` runs first at every start (``ExecStartPre`` of the firmware unit),
from the good slot's code. It counts the starts of a slot on trial; after
``MAX_BOOTS`` starts without a verdict (a crash loop, a hang the watchdog
killed, power cuts in the first boot) it gives up on the trial and points
``current`` back at the good slot. It also reconciles the state file with
the ``current`` link, whichever of the two a power cut left behind.

``confirm`` runs once the application is up: the trial slot's health check,
then commit (the trial becomes the good slot, the anti-rollback floor rises)
or roll back (``current`` returns to the good slot at once).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ota import slots
from ota.antirollback import Floor
from ota.bundle import parse_version
from ota.faults import checkpoint
from ota.health import HealthReport
from ota.layout import Layout
from ota.state import MAX_BOOTS, SlotState


@dataclass(frozen=True)
class Verdict:
    outcome: str
    """'installed', 'rolled-back' or 'nothing' (no trial was pending)."""
    version: str
    reason: str = ""


def boot(layout: Layout, floor: Floor) -> str:
    """Decide which slot starts now and point ``current`` at it; returns the slot."""
    slots.recover(layout)  # a slot a power cut left without its name
    state = SlotState.load(layout.state_file)
    lowest = floor.version()
    if lowest is None or parse_version(lowest) < parse_version(state.good_version):
        floor.raise_to(state.good_version)  # finish a commit cut short by power loss
    if state.trial is None:
        slots.switch(layout, state.good)
        return state.good
    if state.boots >= MAX_BOOTS:
        state.give_up(f"not healthy after {MAX_BOOTS} starts (crash loop or power loss)")
        state.save(layout.state_file)
        slots.switch(layout, state.good)
        return state.good
    state.boots += 1
    state.save(layout.state_file)
    slots.switch(layout, state.trial)
    checkpoint("first-boot")
    return state.trial


def confirm(layout: Layout, floor: Floor, health: Callable[[Path], HealthReport]) -> Verdict:
    """Judge the trial slot with ``health`` (given the slot directory); commit or roll back."""
    state = SlotState.load(layout.state_file)
    if state.trial is None or state.trial_version is None:
        return Verdict("nothing", state.good_version)
    version = state.trial_version
    report = health(layout.slot(state.trial))
    if report.ok:
        state.commit()
        state.save(layout.state_file)
        checkpoint("commit")
        floor.raise_to(version)
        return Verdict("installed", version)
    state.give_up(report.reason)
    state.save(layout.state_file)
    slots.switch(layout, state.good)
    return Verdict("rolled-back", version, report.reason)
