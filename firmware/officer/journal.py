"""The shift journal and the officers' sign-in state, in the outbox's database.

A shift is an officer's working period on the device, from sign-in to "end
shift"; locking the screen or restarting the service does not end it, so the
officer comes back to the same list. Each check's line (case reference, which
fingers, whether a face was taken, training or not) is sealed with the outbox
key and written with the check in one transaction (:meth:`Outbox.put`), so the
list and the queue never disagree, even after a power cut. A line's state is
not stored but read from the queue and the answers: *queued* (not yet with
the broker), *sent* (the broker has it), *answered*. No template, embedding or
image is kept here.

Officers' failed PIN attempts, lockouts, chosen languages and sessions (token
hashes, never tokens) live here too, so a restart does not reset a lockout.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import cbor2

from firmware.outbox import Outbox
from wire.answer import HIT, Answer

SCHEMA = """
CREATE TABLE IF NOT EXISTS shifts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    officer TEXT NOT NULL,
    operation TEXT NOT NULL,
    started_ms INTEGER NOT NULL,
    ended_ms INTEGER
);
CREATE TABLE IF NOT EXISTS officers (
    id TEXT PRIMARY KEY,
    failures INTEGER NOT NULL DEFAULT 0,
    locked_until_ms INTEGER NOT NULL DEFAULT 0,
    language TEXT
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash BLOB PRIMARY KEY,
    officer TEXT NOT NULL,
    shift INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL,
    locked INTEGER NOT NULL DEFAULT 0
);
"""

QUEUED, SENT, ANSWERED = "queued", "sent", "answered"


@dataclass(frozen=True)
class CheckDetails:
    """What the shift list shows of a check: no biometric data."""

    officer: str
    case_reference: str | None
    fingers: tuple[int, ...]
    face: bool
    training: bool

    def encode(self) -> bytes:
        data: bytes = cbor2.dumps(
            {
                "officer": self.officer,
                "case": self.case_reference,
                "fingers": list(self.fingers),
                "face": self.face,
                "trn": self.training,
            }
        )
        return data

    @classmethod
    def decode(cls, data: bytes) -> CheckDetails:
        m = cbor2.loads(data)
        return cls(m["officer"], m["case"], tuple(m["fingers"]), m["face"], m["trn"])


@dataclass(frozen=True)
class CheckLine:
    record_id: bytes
    shift: int
    created_ms: int
    details: CheckDetails
    state: str
    """queued, sent or answered."""
    answer: Answer | None
    acknowledged_ms: int | None
    acknowledged_by: str | None

    @property
    def needs_acknowledgement(self) -> bool:
        return (
            self.answer is not None and self.answer.outcome == HIT and self.acknowledged_ms is None
        )


@dataclass(frozen=True)
class Shift:
    id: int
    officer: str
    operation: str
    started_ms: int


@dataclass(frozen=True)
class OfficerState:
    failures: int
    locked_until_ms: int
    language: str | None


@dataclass(frozen=True)
class SessionRow:
    officer: str
    shift: int
    last_seen_ms: int
    locked: bool


AnswerReader = Callable[[bytes], Answer | None]
"""Verifies a stored, signed answer and decodes it (None when it does not verify)."""


class Journal:
    def __init__(
        self, outbox: Outbox, read_answer: AnswerReader, clock: Callable[[], float] = time.time
    ) -> None:
        self._outbox = outbox
        self._read_answer = read_answer
        self._clock = clock
        with outbox.database() as db:
            db.executescript(SCHEMA)

    def _now(self) -> int:
        return int(self._clock() * 1000)

    # -- shifts -----------------------------------------------------------------------------

    def open_shift(self, officer: str, operation: str) -> Shift:
        """The officer's open shift, or a new one."""
        with self._outbox.database() as db:
            row = db.execute(
                "SELECT id, operation, started_ms FROM shifts "
                "WHERE officer = ? AND ended_ms IS NULL ORDER BY id DESC LIMIT 1",
                (officer,),
            ).fetchone()
            if row is not None:
                return Shift(int(row[0]), officer, str(row[1]), int(row[2]))
            now = self._now()
            cursor = db.execute(
                "INSERT INTO shifts (officer, operation, started_ms) VALUES (?, ?, ?)",
                (officer, operation, now),
            )
            assert cursor.lastrowid is not None
            return Shift(cursor.lastrowid, officer, operation, now)

    def shift(self, shift_id: int) -> Shift | None:
        with self._outbox.database() as db:
            row = db.execute(
                "SELECT officer, operation, started_ms FROM shifts WHERE id = ?", (shift_id,)
            ).fetchone()
        return None if row is None else Shift(shift_id, str(row[0]), str(row[1]), int(row[2]))

    def end_shift(self, shift_id: int) -> None:
        with self._outbox.database() as db:
            db.execute("UPDATE shifts SET ended_ms = ? WHERE id = ?", (self._now(), shift_id))
            db.execute("DELETE FROM sessions WHERE shift = ?", (shift_id,))

    # -- checks -----------------------------------------------------------------------------

    def checks(self, shift_id: int) -> list[CheckLine]:
        """The shift's checks, newest first."""
        return self._lines("WHERE c.shift = ? ORDER BY c.created_ms DESC", (shift_id,))

    def check(self, record_id: bytes) -> CheckLine | None:
        lines = self._lines("WHERE c.id = ?", (record_id,))
        return lines[0] if lines else None

    def unacknowledged_hits(self) -> list[CheckLine]:
        """HITs no officer has acknowledged yet, oldest first: the HIT screen shows them."""
        lines = self._lines(
            "WHERE a.id IS NOT NULL AND c.acknowledged_ms IS NULL ORDER BY c.created_ms", ()
        )
        return [line for line in lines if line.needs_acknowledgement]

    def acknowledge(self, record_id: bytes, officer: str) -> bool:
        with self._outbox.database() as db:
            cursor = db.execute(
                "UPDATE checks SET acknowledged_ms = ?, acknowledged_by = ? "
                "WHERE id = ? AND acknowledged_ms IS NULL",
                (self._now(), officer, record_id),
            )
        return cursor.rowcount == 1

    def _lines(self, where: str, args: tuple[object, ...]) -> list[CheckLine]:
        with self._outbox.database() as db:
            rows = db.execute(
                "SELECT c.id, c.shift, c.created_ms, c.sealed, c.acknowledged_ms, "
                "c.acknowledged_by, r.attempts, a.sealed FROM checks c "
                "LEFT JOIN records r ON r.id = c.id LEFT JOIN answers a ON a.id = c.id " + where,
                args,
            ).fetchall()
        lines = []
        for rid, shift, created, sealed, ack_ms, ack_by, attempts, answer_sealed in rows:
            record_id = bytes(rid)
            details = CheckDetails.decode(self._outbox.open(record_id, bytes(sealed)))
            answer = None
            if answer_sealed is not None:
                answer = self._read_answer(self._outbox.open(record_id, bytes(answer_sealed)))
            if answer is not None:
                state = ANSWERED
            elif attempts is not None and int(attempts) == 0:
                state = QUEUED
            else:
                state = SENT
            lines.append(
                CheckLine(
                    record_id, int(shift), int(created), details, state, answer, ack_ms, ack_by
                )
            )
        return lines

    def backlog(self) -> tuple[int, int | None]:
        """(checks waiting for their answer, creation time of the oldest in ms or None)."""
        with self._outbox.database() as db:
            count, oldest = db.execute("SELECT COUNT(*), MIN(created_ms) FROM records").fetchone()
        return int(count), None if oldest is None else int(oldest)

    # -- officers ---------------------------------------------------------------------------

    def officer(self, officer: str) -> OfficerState:
        with self._outbox.database() as db:
            row = db.execute(
                "SELECT failures, locked_until_ms, language FROM officers WHERE id = ?", (officer,)
            ).fetchone()
        if row is None:
            return OfficerState(0, 0, None)
        return OfficerState(int(row[0]), int(row[1]), row[2])

    def failed_attempt(self, officer: str, limit: int, lockout_ms: int) -> OfficerState:
        """Count a wrong PIN; at ``limit`` failures lock the officer out for ``lockout_ms``."""
        with self._outbox.database() as db:
            db.execute("INSERT OR IGNORE INTO officers (id) VALUES (?)", (officer,))
            db.execute("UPDATE officers SET failures = failures + 1 WHERE id = ?", (officer,))
            failures = int(
                db.execute("SELECT failures FROM officers WHERE id = ?", (officer,)).fetchone()[0]
            )
            if failures >= limit:
                db.execute(
                    "UPDATE officers SET failures = 0, locked_until_ms = ? WHERE id = ?",
                    (self._now() + lockout_ms, officer),
                )
        return self.officer(officer)

    def signed_in(self, officer: str) -> None:
        with self._outbox.database() as db:
            db.execute("INSERT OR IGNORE INTO officers (id) VALUES (?)", (officer,))
            db.execute(
                "UPDATE officers SET failures = 0, locked_until_ms = 0 WHERE id = ?", (officer,)
            )

    def set_language(self, officer: str, language: str) -> None:
        with self._outbox.database() as db:
            db.execute("INSERT OR IGNORE INTO officers (id) VALUES (?)", (officer,))
            db.execute("UPDATE officers SET language = ? WHERE id = ?", (language, officer))

    # -- sessions ---------------------------------------------------------------------------

    def add_session(self, token_hash: bytes, officer: str, shift: int) -> None:
        with self._outbox.database() as db:
            db.execute(
                "INSERT INTO sessions (token_hash, officer, shift, last_seen_ms) "
                "VALUES (?, ?, ?, ?)",
                (token_hash, officer, shift, self._now()),
            )

    def session(self, token_hash: bytes) -> SessionRow | None:
        with self._outbox.database() as db:
            row = db.execute(
                "SELECT officer, shift, last_seen_ms, locked FROM sessions WHERE token_hash = ?",
                (token_hash,),
            ).fetchone()
        return (
            None if row is None else SessionRow(str(row[0]), int(row[1]), int(row[2]), bool(row[3]))
        )

    def touch_session(self, token_hash: bytes, locked: bool) -> None:
        with self._outbox.database() as db:
            db.execute(
                "UPDATE sessions SET last_seen_ms = ?, locked = ? WHERE token_hash = ?",
                (self._now(), int(locked), token_hash),
            )

    def drop_session(self, token_hash: bytes) -> None:
        with self._outbox.database() as db:
            db.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))
