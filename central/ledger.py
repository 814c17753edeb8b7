"""What the gateway has answered, for deduplication, and its audit trail.

The ledger is keyed by record id: a record delivered twice (QoS 1 after a
reconnect, a device re-sending an unanswered check) gets the stored answer
again, and is matched only once. The audit trail records who sent what and
what was answered — ids, outcomes, references, scores and reasons — and never
a template, an embedding or an image.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS answered (
    record_id BLOB PRIMARY KEY,
    device_id TEXT NOT NULL,
    answer BLOB NOT NULL,
    at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS telemetry (
    device_id TEXT PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    report BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    device_id TEXT,
    record_id TEXT,
    event TEXT NOT NULL,
    outcome TEXT,
    reference TEXT,
    score REAL,
    detail TEXT
);
"""


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


class Ledger:
    def __init__(self, path: str | Path) -> None:
        # Gateway instances share this file: wait for another's write rather than fail.
        self._db = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def answer_for(self, record_id: bytes) -> bytes | None:
        with self._lock:
            row = self._db.execute(
                "SELECT answer FROM answered WHERE record_id = ?", (record_id,)
            ).fetchone()
        return None if row is None else bytes(row[0])

    def record_answer(
        self,
        record_id: bytes,
        device_id: str,
        answer: bytes,
        audit: AuditEntry | None = None,
    ) -> bytes:
        """Store the answer unless one exists; return the answer that stands.

        ``audit`` is written in the same transaction: one disk flush per answered
        record instead of two.
        """
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if audit is not None:
                    self._insert_audit(audit)
                self._db.execute(
                    "INSERT OR IGNORE INTO answered (record_id, device_id, answer, at_ms) "
                    "VALUES (?, ?, ?, ?)",
                    (record_id, device_id, answer, _now()),
                )
                row = self._db.execute(
                    "SELECT answer FROM answered WHERE record_id = ?", (record_id,)
                ).fetchone()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return bytes(row[0])

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
    ) -> None:
        entry = AuditEntry(event, device_id, record_id, outcome, reference, score, detail)
        with self._lock:
            self._insert_audit(entry)

    def _insert_audit(self, e: AuditEntry) -> None:
        self._db.execute(
            "INSERT INTO audit (at_ms, device_id, record_id, event, outcome, reference, "
            "score, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (_now(), e.device_id, e.record_id, e.event, e.outcome, e.reference, e.score, e.detail),
        )

    def audit_events(self) -> list[tuple[str | None, str | None, str, str | None, str | None]]:
        with self._lock:
            return [
                (r[0], r[1], r[2], r[3], r[4])
                for r in self._db.execute(
                    "SELECT device_id, record_id, event, outcome, detail FROM audit ORDER BY seq"
                )
            ]

    def store_telemetry(self, device_id: str, report: bytes) -> None:
        """Keep each device's latest telemetry report (battery, signal, backlog, versions)."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO telemetry (device_id, at_ms, report) VALUES (?, ?, ?)",
                (device_id, _now(), report),
            )

    def telemetry(self, device_id: str) -> bytes | None:
        with self._lock:
            row = self._db.execute(
                "SELECT report FROM telemetry WHERE device_id = ?", (device_id,)
            ).fetchone()
        return None if row is None else bytes(row[0])

    def answered_count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM answered").fetchone()[0])


def _now() -> int:
    return int(time.time() * 1000)
