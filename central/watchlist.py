"""The watchlist: people to raise a HIT for, with their fingerprints and face.

Storage sits behind :class:`WatchlistStore` so PostgreSQL can replace SQLite
at scale; matching reads a snapshot of the entries (``version`` tells it when
to rebuild its index). Entries hold templates and embeddings, never images.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cbor2


@dataclass(frozen=True)
class WatchlistEntry:
    reference: str
    """The entry's reference in the source database (e.g. a notice number)."""
    notice: str
    """The notice type: red-notice, missing-person, stolen-document..."""
    fingers: tuple[tuple[int, bytes], ...] = ()
    """(ISO finger position, ISO/IEC 19794-2 template) per enrolled finger."""
    face: bytes | None = None
    """Quantised face embedding (int8), or None."""


class WatchlistStore(Protocol):
    def add(self, entry: WatchlistEntry) -> None: ...

    def remove(self, reference: str) -> bool: ...

    def entries(self) -> Iterator[WatchlistEntry]: ...

    def version(self) -> int:
        """Changes whenever an entry is added or removed."""
        ...

    def __len__(self) -> int: ...


SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    reference TEXT PRIMARY KEY,
    notice TEXT NOT NULL,
    fingers BLOB NOT NULL,
    face BLOB
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class SQLiteWatchlist:
    def __init__(self, path: str | Path) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self._db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('version', 0)")
        self._lock = threading.Lock()

    def add(self, entry: WatchlistEntry) -> None:
        self.add_many([entry])

    def add_many(self, entries: list[WatchlistEntry]) -> None:
        rows = [
            (e.reference, e.notice, cbor2.dumps([list(f) for f in e.fingers]), e.face)
            for e in entries
        ]
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO entries (reference, notice, fingers, face) "
                "VALUES (?, ?, ?, ?)",
                rows,
            )
            self._db.execute("UPDATE meta SET value = value + 1 WHERE key = 'version'")
            self._db.execute("COMMIT")

    def remove(self, reference: str) -> bool:
        with self._lock:
            gone = self._db.execute(
                "DELETE FROM entries WHERE reference = ?", (reference,)
            ).rowcount
            self._db.execute("UPDATE meta SET value = value + 1 WHERE key = 'version'")
        return gone == 1

    def entries(self) -> Iterator[WatchlistEntry]:
        with self._lock:
            rows = self._db.execute(
                "SELECT reference, notice, fingers, face FROM entries ORDER BY reference"
            ).fetchall()
        for reference, notice, fingers, face in rows:
            decoded = tuple((int(p), bytes(t)) for p, t in cbor2.loads(fingers))
            yield WatchlistEntry(reference, notice, decoded, None if face is None else bytes(face))

    def version(self) -> int:
        with self._lock:
            return int(
                self._db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()[0]
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM entries").fetchone()[0])
