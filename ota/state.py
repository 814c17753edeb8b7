"""Which slot is known good and which is on trial: the one file the guard trusts.

Written only with :func:`ota.layout.atomic_write`, so a power cut leaves the
previous or the next state. The rules it encodes:

* ``good`` always names a slot that passed its health check (or the factory slot);
* ``trial`` names a freshly installed slot that has not yet; it is booted at most
  ``MAX_BOOTS`` times before the guard gives up on it and returns to ``good``;
* ``last`` remembers the outcome of the latest update for telemetry and ``ota status``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ota.errors import InstallError
from ota.layout import SLOTS, atomic_write

MAX_BOOTS = 3
"""Boots a trial slot gets to become healthy (a crash loop or power cuts count too)."""


@dataclass
class SlotState:
    good: str
    good_version: str
    trial: str | None = None
    trial_version: str | None = None
    boots: int = 0
    """How many times the trial slot has been started."""
    trial_since: float | None = None
    last: dict[str, Any] = field(default_factory=dict)
    """{"version", "outcome": installed | rolled-back, "reason", "at"} of the latest update."""

    @property
    def inactive(self) -> str:
        return SLOTS[1 - SLOTS.index(self.good)]

    def begin_trial(self, slot: str, version: str) -> None:
        self.trial, self.trial_version, self.boots, self.trial_since = slot, version, 0, time.time()

    def commit(self) -> None:
        assert self.trial is not None and self.trial_version is not None
        self.last = {"version": self.trial_version, "outcome": "installed", "at": time.time()}
        self.good, self.good_version = self.trial, self.trial_version
        self._end_trial()

    def give_up(self, reason: str) -> None:
        self.last = {
            "version": self.trial_version,
            "outcome": "rolled-back",
            "reason": reason,
            "at": time.time(),
        }
        self._end_trial()

    def _end_trial(self) -> None:
        self.trial = self.trial_version = self.trial_since = None
        self.boots = 0

    def save(self, path: Path) -> None:
        atomic_write(path, json.dumps(asdict(self), indent=1, sort_keys=True).encode() + b"\n")

    @classmethod
    def load(cls, path: Path) -> SlotState:
        try:
            body = json.loads(path.read_bytes())
            state = cls(**body)
        except FileNotFoundError:
            raise InstallError(
                f"{path} is missing: this root was not set up with 'hotspot ota install-root'"
            ) from None
        except (ValueError, TypeError) as exc:
            raise InstallError(f"{path} is unreadable ({exc})") from None
        if state.good not in SLOTS or state.trial not in (*SLOTS, None):
            raise InstallError(f"{path} names an unknown slot")
        return state
