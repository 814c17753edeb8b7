"""The officer's application as one object: what the interface calls and listens to.

It ties the accounts, the shift journal, the check in progress and the status
monitor together, and decides how an answer reaches the officer:

* a **live** answer is the one the officer is waiting for (the check was sent
  with coverage and no new check was begun since, within ``LIVE_WINDOW_S``):
  it replaces the "waiting" screen;
* a **late** answer (for a check queued offline, or one the officer moved on
  from) raises a notification naming that check's reference and time;
* a **HIT** takes the whole screen either way, with the alert, and stays
  until an officer acknowledges it; unacknowledged HITs survive a restart
  (they are read back from the journal), and the acknowledgement is recorded
  with who and when.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from firmware.config import OperationSection
from firmware.officer.accounts import Accounts, Session
from firmware.officer.events import EventHub
from firmware.officer.journal import CheckLine, Journal
from firmware.officer.status import StatusMonitor
from firmware.officer.workflow import CheckWorkflow
from wire.answer import HIT, Answer

log = logging.getLogger(__name__)

LIVE_WINDOW_S = 120.0


@dataclass(frozen=True)
class Operation:
    id: str
    name: str
    site: str


def line_data(line: CheckLine) -> dict[str, object]:
    """A shift line as the interface shows it (no biometric data)."""
    answer = line.answer
    return {
        "id": line.record_id.hex(),
        "created_ms": line.created_ms,
        "case": line.details.case_reference,
        "fingers": list(line.details.fingers),
        "face": line.details.face,
        "training": line.details.training,
        "state": line.state,
        "outcome": answer.outcome if answer else None,
        "reference": answer.reference if answer else None,
        "notice": answer.notice if answer else None,
        "modalities": list(answer.modalities) if answer else [],
        "fmr": answer.fmr if answer else None,
        "final": answer.final if answer else None,
        "reason": answer.reason if answer else None,
        "acknowledged_ms": line.acknowledged_ms,
        "acknowledged_by": line.acknowledged_by,
        "needs_acknowledgement": line.needs_acknowledgement,
    }


class Desk:
    def __init__(
        self,
        hub: EventHub,
        journal: Journal,
        accounts: Accounts,
        workflow: CheckWorkflow,
        status: StatusMonitor,
        operation: OperationSection,
        training: bool,
        on_hit: Callable[[], None] = lambda: None,
    ) -> None:
        self.hub, self.journal, self.accounts = hub, journal, accounts
        self.workflow, self.status = workflow, status
        self.operation = Operation(operation.id, operation.name, operation.site)
        self.training = training
        self._on_hit = on_hit
        self._lock = threading.Lock()
        self._waiting: tuple[bytes, float] | None = None

    # -- checks -----------------------------------------------------------------------------

    def begin(self, session: Session, fingers: tuple[int, ...]) -> None:
        with self._lock:
            self._waiting = None
        self.workflow.begin(session.officer, session.shift.id, fingers)

    def submit(self, case_reference: str | None) -> tuple[bytes, bool]:
        record_id, sent = self.workflow.submit(case_reference, self.training)
        with self._lock:
            self._waiting = (record_id, time.monotonic())
        self.status.kick()
        self.changed(record_id)
        return record_id, sent

    def changed(self, record_id: bytes) -> None:
        """A check's line changed (queued, sent): the shift lists show it again."""
        line = self.journal.check(record_id)
        if line is not None:
            self.hub.publish("line", line=line_data(line))

    def shift(self, session: Session) -> list[dict[str, object]]:
        return [line_data(line) for line in self.journal.checks(session.shift.id)]

    def pending_hits(self) -> list[dict[str, object]]:
        return [line_data(line) for line in self.journal.unacknowledged_hits()]

    def acknowledge(self, session: Session, record_id: bytes) -> bool:
        done = self.journal.acknowledge(record_id, session.officer)
        if done:
            log.info("HIT acknowledged by %s", session.officer)
            line = self.journal.check(record_id)
            if line is not None:
                self.hub.publish("hit.acknowledged", line=line_data(line))
        return done

    # -- answers (the uplink's thread) ------------------------------------------------------

    def on_answer(self, answer: Answer) -> None:
        line = self.journal.check(answer.record_id)
        with self._lock:
            waiting = self._waiting
            live = (
                waiting is not None
                and waiting[0] == answer.record_id
                and time.monotonic() - waiting[1] <= LIVE_WINDOW_S
            )
            if live:
                self._waiting = None
        self.status.kick()
        if line is None:  # a check from before the journal existed: nothing to show it with
            return
        if answer.outcome == HIT:
            self._on_hit()
        self.hub.publish(
            "answer", line=line_data(line), live=live, received_ms=int(time.time() * 1000)
        )
