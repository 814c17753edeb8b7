"""What the browser tests share: the bench (system, rig, device service) and officer steps."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hil.demo import PIN, Cast
from hil.handheld import HandheldProcess
from hil.rig import Rig
from hil.system import System

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"
WANTED_REF = "WL-UI-0007"
OFFICERS = {"officer-1": PIN, "officer-2": "1357", "officer-3": "9753"}


@dataclass
class Bench:
    system: System
    rig: Rig
    handheld: HandheldProcess
    cast: Cast

    def coverage(self, on: bool) -> None:
        self.rig.set_fault("modem.registration_loss", not on)


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def sign_in(page: Any, officer: str = "officer-1", pin: str = PIN) -> None:
    page.get_by_role("textbox", name="Officer ID").fill(officer)
    page.get_by_role("textbox", name="PIN").fill(pin)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="New check").wait_for()


def take_check(page: Any, case: str, *, face: bool = False) -> str:
    """New check with both index fingers (and the face), sent; returns what the screen says."""
    from playwright.sync_api import expect

    page.get_by_role("button", name="New check").click()
    page.get_by_role("button", name="Start").click()
    for _ in range(2):
        page.get_by_role("button", name="Capture").click()
        accept = page.get_by_role("button", name="Accept")
        expect(accept).to_be_visible()
        accept.click()
    if face:
        page.get_by_role("button", name="Take photo").click()
        page.get_by_role("button", name="Next").click()
    else:
        page.get_by_role("button", name="Skip face").click()
    page.get_by_role("textbox", name="Case reference (optional, no names)").fill(case)
    page.get_by_role("button", name="Send").click()
    state = page.locator("#result-state")
    expect(state).not_to_be_empty()
    return str(state.inner_text())
