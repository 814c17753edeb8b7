"""What the gateway has answered, for deduplication; its audit trail; the devices' telemetry.

The ledger is keyed by record id. A record delivered twice (QoS 1 after a
reconnect, a device re-sending an unanswered check, the same message reaching
two gateway instances on two hosts) is matched once: an instance first claims
the record (``claims``, a unique key: the database decides who wins), matches
it and stores the answer; any other delivery waits for that answer and sends
the same bytes. A claim left by an instance that died is taken over after
``CLAIM_TIMEOUT_S``.

The audit trail records who sent what, who took it (officer, operation) and
what was answered or decided (and by whom) — ids, outcomes, references, scores
and reasons — never a template, an embedding or an image.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from central.database import Database

CLAIM_TIMEOUT_S = 30.0
CLAIM_POLL_S = 0.02


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit trail: what happened to a message, never biometric data."""

    event: str
    device_id: str | None = None
    record_id: str | None = None
    outcome: str | None = None
    reference: str | None = None
    score: float | None = None
    detail: str | None = None
    officer: str | None = None
    operation: str | None = None
    actor: str | None = None
    """Who did it at central (an examiner, an administrator), when a person did."""
    training: bool = False
    notice: str | None = None
    modalities: str | None = None
    """The modalities that agreed, joined with '+'."""
    captured_ms: int | None = None
    """When the device took the check (for the answer time an operation's report gives)."""


class Ledger:
    def __init__(self, db: Database) -> None:
        self._db = db

    def answer_for(self, record_id: bytes) -> bytes | None:
        row = self._db.one("SELECT answer FROM answered WHERE record_id = ?", (record_id,))
        return None if row is None else bytes(row[0])

    def answer_once(
        self,
        record_id: bytes,
        device_id: str,
        owner: str,
        compute: Callable[[], tuple[bytes, AuditEntry]],
    ) -> tuple[bytes, bool]:
        """The record's answer, computed by exactly one instance: (answer, computed here)."""
        while True:
            existing = self.answer_for(record_id)
            if existing is not None:
                return existing, False
            if self._claim(record_id, owner):
                # The claimant before us may have answered and let go between our look
                # and our claim: then the answer stands and there is nothing to match.
                existing = self.answer_for(record_id)
                if existing is not None:
                    self._db.execute(
                        "DELETE FROM claims WHERE record_id = ? AND owner = ?", (record_id, owner)
                    )
                    return existing, False
                break
            if not self._wait_or_take_over(record_id, owner):
                continue
            break
        answer, audit = compute()
        with self._db.transaction():
            self.insert_audit(audit)
            stored_here = self._db.execute(
                "INSERT INTO answered (record_id, device_id, answer, revision, at_ms) "
                "VALUES (?, ?, ?, 0, ?) ON CONFLICT (record_id) DO NOTHING",
                (record_id, device_id, answer, _now()),
            )
            self._db.execute("DELETE FROM claims WHERE record_id = ?", (record_id,))
        if stored_here:
            return answer, True  # no need to read back what this transaction wrote
        # An instance that took our claim over as stale answered first: its answer stands.
        stored = self.answer_for(record_id)
        assert stored is not None
        return stored, True

    def _claim(self, record_id: bytes, owner: str) -> bool:
        with self._db.transaction():
            if self._db.dialect == "postgresql":
                # A claim lost in a crash is harmless (the record is delivered again and
                # claimed again), so it need not wait for the disk: one fsync per record saved.
                self._db.execute("SET LOCAL synchronous_commit TO OFF")
            return (
                self._db.execute(
                    "INSERT INTO claims (record_id, owner, at_ms) VALUES (?, ?, ?) "
                    "ON CONFLICT (record_id) DO NOTHING",
                    (record_id, owner, _now()),
                )
                == 1
            )

    def _wait_or_take_over(self, record_id: bytes, owner: str) -> bool:
        """Wait for the claimant's answer; True when its claim was stale and is now ours."""
        deadline = time.monotonic() + CLAIM_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.answer_for(record_id) is not None:
                return False
            if self._db.one("SELECT 1 FROM claims WHERE record_id = ?", (record_id,)) is None:
                return False  # the claimant gave up: try again
            time.sleep(CLAIM_POLL_S)
        stale = _now() - int(CLAIM_TIMEOUT_S * 1000)
        taken = self._db.execute(
            "UPDATE claims SET owner = ?, at_ms = ? WHERE record_id = ? AND at_ms <= ?",
            (owner, _now(), record_id, stale),
        )
        return taken == 1

    def record_answer(
        self,
        record_id: bytes,
        device_id: str,
        answer: bytes,
        audit: AuditEntry | None = None,
    ) -> bytes:
        """Store the answer unless one exists (a rejection needs no claim); the one that stands."""
        with self._db.transaction():
            if audit is not None:
                self.insert_audit(audit)
            self._db.execute(
                "INSERT INTO answered (record_id, device_id, answer, revision, at_ms) "
                "VALUES (?, ?, ?, 0, ?) ON CONFLICT (record_id) DO NOTHING",
                (record_id, device_id, answer, _now()),
            )
        stored = self.answer_for(record_id)
        assert stored is not None
        return stored

    def revise_answer(
        self, record_id: bytes, answer: bytes, revision: int, audit: AuditEntry
    ) -> None:
        """A later answer for the record (an examiner's verdict) replaces the stored one."""
        with self._db.transaction():
            self.insert_audit(audit)
            self._db.execute(
                "UPDATE answered SET answer = ?, revision = ?, at_ms = ? "
                "WHERE record_id = ? AND revision < ?",
                (answer, revision, _now(), record_id, revision),
            )

    def audit(
        self,
        event: str,
        *,
        device_id: str | None = None,
        record_id: str | None = None,
        outcome: str | None = None,
        reference: str | None = None,
        score: float | None = None,
        detail: str | None = None,
        actor: str | None = None,
    ) -> None:
        entry = AuditEntry(
            event, device_id, record_id, outcome, reference, score, detail, actor=actor
        )
        self.insert_audit(entry)

    def insert_audit(self, e: AuditEntry) -> None:
        self._db.execute(
            "INSERT INTO audit (at_ms, device_id, record_id, event, outcome, reference, score, "
            "detail, officer, operation, actor, training, notice, modalities, captured_ms) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                _now(),
                e.device_id,
                e.record_id,
                e.event,
                e.outcome,
                e.reference,
                e.score,
                e.detail,
                e.officer,
                e.operation,
                e.actor,
                int(e.training),
                e.notice,
                e.modalities,
                e.captured_ms,
            ),
        )

    def audit_events(self) -> list[tuple[str | None, str | None, str, str | None, str | None]]:
        rows = self._db.query(
            "SELECT device_id, record_id, event, outcome, detail FROM audit ORDER BY seq"
        )
        return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    def store_telemetry(
        self, device_id: str, report: bytes, kind: str = "app", backlog_age_s: int | None = None
    ) -> None:
        """Keep a telemetry report in the device's time series."""
        self._db.execute(
            "INSERT INTO telemetry (device_id, kind, at_ms, report, backlog_age_s) "
            "VALUES (?, ?, ?, ?, ?)",
            (device_id, kind, _now(), report, backlog_age_s),
        )

    def telemetry_series(
        self, device_id: str, kind: str = "app", since_ms: int = 0
    ) -> list[tuple[int, bytes]]:
        """(time, report) of ``kind`` since ``since_ms``, oldest first."""
        rows = self._db.query(
            "SELECT at_ms, report FROM telemetry WHERE device_id = ? AND kind = ? AND at_ms >= ? "
            "ORDER BY at_ms, seq",
            (device_id, kind, since_ms),
        )
        return [(int(r[0]), bytes(r[1])) for r in rows]

    def prune_telemetry(self, keep_days: float) -> int:
        """Drop reports older than ``keep_days`` (the retention period); how many."""
        cutoff = _now() - int(keep_days * 86_400_000)
        return self._db.execute("DELETE FROM telemetry WHERE at_ms < ?", (cutoff,))

    def telemetry(self, device_id: str, kind: str = "app") -> bytes | None:
        """The device's latest report of ``kind``."""
        row = self._db.one(
            "SELECT report FROM telemetry WHERE device_id = ? AND kind = ? "
            "ORDER BY at_ms DESC, seq DESC LIMIT 1",
            (device_id, kind),
        )
        return None if row is None else bytes(row[0])

    def answered_count(self) -> int:
        row = self._db.one("SELECT COUNT(*) FROM answered")
        return int(row[0]) if row else 0


def _now() -> int:
    return int(time.time() * 1000)
