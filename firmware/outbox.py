"""The outbox: checks waiting for their answer, durable through power cuts.

Design, and why:

* SQLite in WAL mode with ``synchronous=FULL``: a record is on stable storage
  when :meth:`Outbox.put` returns, and a power cut at any instant leaves the
  last committed state (SQLite's atomic commit), never a torn row.
* Each envelope is sealed again before it is written (AES-256-GCM, random
  96-bit nonce, AAD = device id | record id) under the key of
  :mod:`firmware.storage_key`; the AAD stops rows being swapped between ids.
* A row leaves only when the central service's *answer* for its id arrives
  (:meth:`Outbox.answered`), not on the broker's PUBACK: the broker having a
  message is not the database having checked it. Re-sends carry the same id;
  the central service answers duplicates from its memory.
* Space is bounded: ``max_bytes`` caps the database (SQLite's page limit, so
  the cap holds even for the journal) and a free-space reserve on the
  filesystem is checked before every write. Either way a full outbox refuses
  the new check with :class:`OutboxFull`, saying what to do, and loses nothing
  that was already queued.
* Sending order: new checks first (the officer is waiting in front of a
  person), then the backlog oldest first.
* The shift journal's line for a check (:mod:`firmware.journal`) is written
  in the same transaction as the check itself: a power cut leaves a check
  queued and listed in the shift, or neither.
* A later revision of an answer (an examiner's verdict on a possible match)
  replaces the stored one and is shown again; the same revision again is a
  harmless duplicate.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id BLOB NOT NULL UNIQUE,
    created_ms INTEGER NOT NULL,
    live INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_sent_ms INTEGER NOT NULL DEFAULT 0,
    sealed BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS answers (
    id BLOB PRIMARY KEY,
    received_ms INTEGER NOT NULL,
    shown INTEGER NOT NULL DEFAULT 0,
    sealed BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS checks (
    id BLOB PRIMARY KEY,
    shift INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    sealed BLOB NOT NULL,
    acknowledged_ms INTEGER,
    acknowledged_by TEXT
);
"""
MIGRATIONS = (
    # 1: answers keep their revision (possible match, then the examiner's verdict)
    "ALTER TABLE answers ADD COLUMN revision INTEGER NOT NULL DEFAULT 0",
)
"""Schema changes in order; PRAGMA user_version counts those applied."""


class OutboxError(Exception):
    """Base of outbox errors."""


class OutboxFull(OutboxError):
    """No room for a new check; everything already queued is kept."""


class OutboxCorrupt(OutboxError):
    """A stored row does not decrypt: wrong key (another device's card?) or tampering."""


@dataclass(frozen=True)
class Pending:
    record_id: bytes
    envelope: bytes
    attempts: int
    created_ms: int


class Outbox:
    def __init__(
        self,
        path: str | Path,
        key: bytes,
        device_id: str,
        *,
        max_bytes: int | None = None,
        reserve_bytes: int = 32 * 1024 * 1024,
    ) -> None:
        if len(key) != 32:
            raise ValueError("the outbox key is 32 bytes (AES-256)")
        self.path = Path(path)
        self._aead = AESGCM(key)
        self._device = device_id.encode()
        self._reserve = reserve_bytes
        self._lock = threading.RLock()  # the "full" message counts rows while put() holds it
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        _migrate(self._db)
        if max_bytes is not None:
            page = int(self._db.execute("PRAGMA page_size").fetchone()[0])
            self._db.execute(f"PRAGMA max_page_count={max(16, max_bytes // page)}")

    # -- meta (the wrapping public key lives here) -------------------------------------

    @staticmethod
    def wipe_meta(path: str | Path, key: str) -> bool:
        """Delete a meta value for good (tamper response: the outbox key's wrapping).

        ``secure_delete`` overwrites the freed bytes and a truncating checkpoint clears
        the write-ahead log, so no copy of the value stays on the card. Safe while another
        connection has the database open (WAL). True when there was a value to delete.
        """
        if not Path(path).exists():
            return False
        db = sqlite3.connect(path, timeout=10.0)
        try:
            db.execute("PRAGMA secure_delete = ON")
            gone = db.execute("DELETE FROM meta WHERE key = ?", (key,)).rowcount
            db.commit()
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            db.close()
        return gone > 0

    @staticmethod
    def read_meta(path: str | Path, key: str) -> bytes | None:
        """Read a meta value before the outbox key is known."""
        if not Path(path).exists():
            return None
        db = sqlite3.connect(path)
        try:
            db.executescript(SCHEMA)
            _migrate(db)
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        finally:
            db.close()
        return None if row is None else bytes(row[0])

    def write_meta(self, key: str, value: bytes) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- queue ----------------------------------------------------------------------------------

    def put(
        self,
        record_id: bytes,
        envelope: bytes,
        *,
        live: bool = True,
        journal: tuple[int, bytes] | None = None,
    ) -> None:
        """Store a sealed check durably; OutboxFull if there is no room.

        ``journal`` is (shift, details): the shift journal's line for the check, sealed
        like the check and written in the same transaction.
        """
        self._check_space(len(envelope))
        sealed = self._seal(record_id, envelope)
        now = _now_ms()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT OR IGNORE INTO records (id, created_ms, live, sealed) "
                    "VALUES (?, ?, ?, ?)",
                    (record_id, now, int(live), sealed),
                )
                if journal is not None:
                    shift, details = journal
                    self._db.execute(
                        "INSERT OR IGNORE INTO checks (id, shift, created_ms, sealed) "
                        "VALUES (?, ?, ?, ?)",
                        (record_id, shift, now, self._seal(record_id, details)),
                    )
                self._db.execute("COMMIT")
            except BaseException as exc:
                if self._db.in_transaction:  # SQLite rolls back by itself when the disk is full
                    self._db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError) and "full" in str(exc).lower():
                    raise OutboxFull(self._full_message()) from exc
                raise

    def due(self, limit: int, resend_after_ms: int = 30_000) -> list[Pending]:
        """Rows to send now: never sent, or unanswered for ``resend_after_ms``.

        New (live) checks first, then the backlog oldest first.
        """
        cutoff = _now_ms() - resend_after_ms
        with self._lock:
            rows = self._db.execute(
                "SELECT id, sealed, attempts, created_ms FROM records "
                "WHERE attempts = 0 OR last_sent_ms <= ? "
                "ORDER BY live DESC, seq ASC LIMIT ?",
                (cutoff, limit),
            ).fetchall()
        return [
            Pending(bytes(r[0]), self._open(bytes(r[0]), bytes(r[1])), r[2], r[3]) for r in rows
        ]

    def sent(self, record_id: bytes) -> bool:
        """The broker has the record; True the first time (it was only queued until now)."""
        with self._lock:
            row = self._db.execute(
                "UPDATE records SET attempts = attempts + 1, last_sent_ms = ?, live = 0 "
                "WHERE id = ? RETURNING attempts",
                (_now_ms(), record_id),
            ).fetchone()
        return row is not None and int(row[0]) == 1

    def answered(self, record_id: bytes, answer: bytes, revision: int = 0) -> bool:
        """Store the answer and drop the record, atomically.

        True when the answer is new for the officer: the record was queued, or this is
        a later revision than the stored answer (which it replaces, to be shown again).
        False for a duplicate.
        """
        sealed = self._seal(record_id, answer)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                gone = self._db.execute("DELETE FROM records WHERE id = ?", (record_id,)).rowcount
                row = self._db.execute(
                    "SELECT revision FROM answers WHERE id = ?", (record_id,)
                ).fetchone()
                if row is None:
                    self._db.execute(
                        "INSERT INTO answers (id, received_ms, sealed, revision) "
                        "VALUES (?, ?, ?, ?)",
                        (record_id, _now_ms(), sealed, revision),
                    )
                newer = row is not None and revision > int(row[0])
                if newer:
                    self._db.execute(
                        "UPDATE answers SET received_ms = ?, sealed = ?, revision = ?, shown = 0 "
                        "WHERE id = ?",
                        (_now_ms(), sealed, revision, record_id),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return gone == 1 or newer

    def answer(self, record_id: bytes) -> bytes | None:
        with self._lock:
            row = self._db.execute(
                "SELECT sealed FROM answers WHERE id = ?", (record_id,)
            ).fetchone()
        return None if row is None else self._open(record_id, bytes(row[0]))

    def unshown_answers(self) -> list[tuple[bytes, bytes]]:
        """Answers not yet shown to the officer (late answers included), oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, sealed FROM answers WHERE shown = 0 ORDER BY received_ms"
            ).fetchall()
        return [(bytes(r[0]), self._open(bytes(r[0]), bytes(r[1]))) for r in rows]

    def mark_shown(self, record_id: bytes) -> None:
        with self._lock:
            self._db.execute("UPDATE answers SET shown = 1 WHERE id = ?", (record_id,))

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM records").fetchone()[0])

    def oldest_ms(self) -> int | None:
        """When the oldest record still waiting was queued (ms since the epoch), or None."""
        with self._lock:
            row = self._db.execute("SELECT MIN(created_ms) FROM records").fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def ids(self) -> set[bytes]:
        with self._lock:
            return {bytes(r[0]) for r in self._db.execute("SELECT id FROM records")}

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- for the shift journal, which shares this database -----------------------------------

    @contextlib.contextmanager
    def database(self) -> Iterator[sqlite3.Connection]:
        """The outbox's connection, held for the caller alone (the journal's tables live here)."""
        with self._lock:
            yield self._db

    def seal(self, record_id: bytes, data: bytes) -> bytes:
        """Seal ``data`` under the outbox key, bound to this device and ``record_id``."""
        return self._seal(record_id, data)

    def open(self, record_id: bytes, sealed: bytes) -> bytes:
        return self._open(record_id, sealed)

    # -- internals ------------------------------------------------------------------------------

    def _seal(self, record_id: bytes, data: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, data, self._device + b"|" + record_id)

    def _open(self, record_id: bytes, sealed: bytes) -> bytes:
        try:
            return self._aead.decrypt(sealed[:12], sealed[12:], self._device + b"|" + record_id)
        except InvalidTag:
            raise OutboxCorrupt(
                "an outbox row does not decrypt: the card belongs to another device or was "
                "tampered with; keep it for investigation and do not delete it"
            ) from None

    def _check_space(self, size: int) -> None:
        stat = os.statvfs(self.path.parent)
        free = stat.f_bavail * stat.f_frsize
        if free - 4 * size < self._reserve:
            raise OutboxFull(self._full_message())

    def _full_message(self) -> str:
        return (
            f"the outbox is full ({len(self)} checks waiting): the check was NOT stored. "
            "Move to coverage so queued checks can be sent, or free space on the device."
        )


def _migrate(db: sqlite3.Connection) -> None:
    done = int(db.execute("PRAGMA user_version").fetchone()[0])
    for number, statement in enumerate(MIGRATIONS[done:], start=done + 1):
        db.execute("BEGIN IMMEDIATE")
        try:
            if int(db.execute("PRAGMA user_version").fetchone()[0]) < number:
                db.execute(statement)
                db.execute(f"PRAGMA user_version = {number}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


def _now_ms() -> int:
    return int(time.time() * 1000)
