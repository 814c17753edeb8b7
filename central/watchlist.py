"""The watchlist: people to raise a HIT for, with their fingerprints and face.

Entries live in the central database (:mod:`central.database`), with a change log:
every add, replacement and removal appends to ``watchlist_changes``, and each
gateway applies the changes since the last one it saw to its search index
(:mod:`central.matching`) without rebuilding it. Entries hold templates and
embeddings, never images.

Input is checked before anything is stored, and a refusal says what is wrong:
a reference must be new (unless it is explicitly replaced), a notice type
known, each template an ISO/IEC 19794-2 record with enough minutiae at a valid
finger position, and a face an embedding of the model and size the devices
send (embeddings of different models are never compared).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import cbor2

from central.database import Database, Row
from wire import face as face_wire
from wire.iso19794_2 import MinutiaeRecord, TemplateError

NOTICES = (
    "red-notice",
    "yellow-notice",
    "blue-notice",
    "green-notice",
    "orange-notice",
    "black-notice",
    "purple-notice",
    "diffusion",
    "un-notice",
)
"""INTERPOL's notice types (and a diffusion), the words the handheld shows."""
MIN_MINUTIAE = 8
REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._/:-]{0,127}$")


class WatchlistError(ValueError):
    """Watchlist input refused; the message says what is wrong."""


@dataclass(frozen=True)
class WatchlistEntry:
    reference: str
    """The entry's reference in the source database (e.g. a notice number)."""
    notice: str
    """The notice type: one of :data:`NOTICES`."""
    fingers: tuple[tuple[int, bytes], ...] = ()
    """(ISO finger position, ISO/IEC 19794-2 template) per enrolled finger."""
    face: bytes | None = None
    """Quantised face embedding (int8, :mod:`wire.face`), or None."""
    face_version: str = face_wire.VERSION
    """The model that made the embedding; only embeddings of the same model are compared."""


def validate(entry: WatchlistEntry) -> None:
    """Refuse what cannot be matched, with the reason (WatchlistError)."""
    where = f"watchlist entry {entry.reference!r}"
    if not REFERENCE.match(entry.reference):
        raise WatchlistError(
            f"{where}: a reference is 1-128 letters, digits, spaces and . _ / : - "
            "(starting with a letter or digit)"
        )
    if entry.notice not in NOTICES:
        raise WatchlistError(f"{where}: unknown notice type {entry.notice!r}; use one of {NOTICES}")
    if not entry.fingers and entry.face is None:
        raise WatchlistError(f"{where}: needs at least one finger or a face")
    positions = [position for position, _ in entry.fingers]
    if len(set(positions)) != len(positions):
        raise WatchlistError(f"{where}: finger position {positions} enrolled twice")
    for position, template in entry.fingers:
        if not 0 <= position <= 10:
            raise WatchlistError(f"{where}: finger position {position} is not 0-10")
        try:
            record = MinutiaeRecord.decode(template)
        except TemplateError as exc:
            raise WatchlistError(
                f"{where}: finger {position} is not an ISO/IEC 19794-2 record: {exc}"
            ) from None
        minutiae = max((len(view.minutiae) for view in record.views), default=0)
        if minutiae < MIN_MINUTIAE:
            raise WatchlistError(
                f"{where}: finger {position} has {minutiae} minutiae; at least {MIN_MINUTIAE} "
                "are needed to match (enrol a better impression)"
            )
    if entry.face is not None:
        if entry.face_version != face_wire.VERSION:
            raise WatchlistError(
                f"{where}: the face embedding is of model {entry.face_version!r}; the devices "
                f"send {face_wire.VERSION!r}, and different models are never compared"
            )
        try:
            face_wire.decode(entry.face)
        except face_wire.EmbeddingError as exc:
            raise WatchlistError(f"{where}: {exc}") from None


class Watchlist:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, entry: WatchlistEntry, *, replace: bool = False) -> None:
        self.add_many([entry], replace=replace)

    def add_many(self, entries: Iterable[WatchlistEntry], *, replace: bool = False) -> int:
        """Validate, then store all (or none); a reference already listed is refused unless
        ``replace``. The number stored."""
        batch = list(entries)
        seen: set[str] = set()
        for entry in batch:
            validate(entry)
            if entry.reference in seen:
                raise WatchlistError(f"watchlist entry {entry.reference!r} appears twice")
            seen.add(entry.reference)
        now = int(time.time() * 1000)
        rows = [
            (
                e.reference,
                e.notice,
                cbor2.dumps([list(f) for f in e.fingers]),
                e.face,
                e.face_version if e.face is not None else None,
                now,
            )
            for e in batch
        ]
        with self._db.transaction():
            self._serialise_changes()
            if not replace and batch:
                listed = self._listed([e.reference for e in batch])
                if listed:
                    raise WatchlistError(
                        f"watchlist entry {sorted(listed)[0]!r} is already listed: remove it "
                        "first, or replace it (--replace)"
                    )
            self._db.executemany(
                "INSERT INTO watchlist (reference, notice, fingers, face, face_version, added_ms) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (reference) DO UPDATE SET "
                "notice = excluded.notice, fingers = excluded.fingers, face = excluded.face, "
                "face_version = excluded.face_version, added_ms = excluded.added_ms",
                rows,
            )
            self._db.executemany(
                "INSERT INTO watchlist_changes (reference, op, at_ms) VALUES (?, 'add', ?)",
                [(e.reference, now) for e in batch],
            )
        return len(batch)

    def _serialise_changes(self) -> None:
        """One writer at a time, so that change numbers are committed in order.

        A gateway applies the changes after the last number it saw; on PostgreSQL two
        writers could otherwise commit number 11 before 10, and a gateway reading in
        between would skip 10 for ever. (SQLite's write lock already serialises them.)
        """
        if self._db.dialect == "postgresql":
            self._db.execute("LOCK TABLE watchlist_changes IN EXCLUSIVE MODE")

    def _listed(self, references: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(references), 500):
            chunk = references[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            found |= {
                str(r[0])
                for r in self._db.query(
                    f"SELECT reference FROM watchlist WHERE reference IN ({marks})", chunk
                )
            }
        return found

    def remove(self, reference: str) -> bool:
        with self._db.transaction():
            self._serialise_changes()
            gone = self._db.execute("DELETE FROM watchlist WHERE reference = ?", (reference,))
            if gone:
                self._db.execute(
                    "INSERT INTO watchlist_changes (reference, op, at_ms) VALUES (?, 'remove', ?)",
                    (reference, int(time.time() * 1000)),
                )
        return gone == 1

    def rows(self, references: Iterable[str] | None = None) -> list[Row]:
        """Entries as stored (reference, notice, CBOR fingers, face, face version): every one,
        or those of ``references`` that exist. The gallery loads these without decoding."""
        columns = "SELECT reference, notice, fingers, face, face_version FROM watchlist"
        if references is None:
            return [row for page in self.pages() for row in page]
        wanted = list(references)
        rows: list[Row] = []
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            rows += self._db.query(f"{columns} WHERE reference IN ({marks})", chunk)
        return rows

    def pages(self, size: int = 10_000) -> Iterator[list[Row]]:
        """Every entry as stored, ``size`` at a time in reference order: a gateway loading a
        million people holds one page of rows, not all of them (a gigabyte)."""
        columns = "SELECT reference, notice, fingers, face, face_version FROM watchlist"
        after = ""
        while True:
            page = self._db.query(
                f"{columns} WHERE reference > ? ORDER BY reference LIMIT ?", (after, size)
            )
            if not page:
                return
            yield page
            after = page[-1][0]

    def entries(self, references: Iterable[str] | None = None) -> Iterator[WatchlistEntry]:
        """Every entry (by reference order), or those of ``references`` that exist."""
        for reference, notice, fingers, face, face_version in self.rows(references):
            decoded = tuple((int(p), bytes(t)) for p, t in cbor2.loads(bytes(fingers)))
            yield WatchlistEntry(
                reference,
                notice,
                decoded,
                None if face is None else bytes(face),
                face_version or face_wire.VERSION,
            )

    def changes(self, since: int) -> list[tuple[int, str, str]]:
        """(sequence number, reference, "add" or "remove") after ``since``, in order."""
        rows = self._db.query(
            "SELECT seq, reference, op FROM watchlist_changes WHERE seq > ? ORDER BY seq", (since,)
        )
        return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]

    def last_change(self) -> int:
        row = self._db.one("SELECT MAX(seq) FROM watchlist_changes")
        return int(row[0]) if row and row[0] is not None else 0

    def version(self) -> int:
        """Changes whenever an entry is added or removed (the last change's number)."""
        return self.last_change()

    def __len__(self) -> int:
        row = self._db.one("SELECT COUNT(*) FROM watchlist")
        return int(row[0]) if row else 0
