"""The verification queue: possible matches an examiner confirms or rejects before anyone acts.

A search whose evidence is strong enough to look at but not to act on alone
(a face, or a weak fingerprint; :mod:`central.decision`) is answered
``possible_match`` at once, so the officer keeps the person while it is
checked, and queued here with what the examiner needs to judge it: both sides'
fingerprint templates (drawn as minutiae plots by :mod:`central.evidence`), the
face token image when the record carries one, the scores and the estimated
false-match rate.

An examiner's decision is stored with their name (and audited); a gateway
instance then answers the record again, revision 1, final: ``hit`` when
confirmed, ``no_hit`` when rejected. Exactly one instance sends it (the row is
claimed with one conditional update), and if the publish fails the claim is
released for the next pass.

The evidence is biometric data: it lives only in the central database, is
never logged, and is dropped (``purge_evidence``) once the item is decided and
sent; the decision and its audit remain.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cbor2

from central.database import Database, Row
from central.ledger import AuditEntry, Ledger
from wire.record import record_id_text

PENDING = "pending"
CONFIRMED = "confirmed"
REJECTED = "rejected"
STATES = (PENDING, CONFIRMED, REJECTED)


class VerificationError(ValueError):
    """A decision that cannot be taken; the message says why."""


@dataclass(frozen=True)
class Side:
    """One side of a comparison: fingerprint templates by position, an optional face image."""

    fingers: tuple[tuple[int, bytes], ...] = ()
    face_image: bytes | None = None
    """A JPEG face token image, when there is one (the probe's, if the record carried it)."""

    def to_cbor(self) -> dict[str, object]:
        return {"fingers": [list(f) for f in self.fingers], "face_image": self.face_image}

    @classmethod
    def from_cbor(cls, data: dict[str, object]) -> Side:
        fingers = data.get("fingers") or []
        assert isinstance(fingers, list)
        image = data.get("face_image")
        return cls(
            tuple((int(p), bytes(t)) for p, t in fingers),
            bytes(image) if isinstance(image, bytes) else None,
        )


@dataclass(frozen=True)
class Evidence:
    probe: Side
    candidate: Side
    finger_scores: tuple[float, ...]
    face_similarity: float | None

    def encode(self) -> bytes:
        data: bytes = cbor2.dumps(
            {
                "probe": self.probe.to_cbor(),
                "candidate": self.candidate.to_cbor(),
                "finger_scores": list(self.finger_scores),
                "face": self.face_similarity,
            }
        )
        return data

    @classmethod
    def decode(cls, data: bytes) -> Evidence:
        m = cbor2.loads(data)
        return cls(
            Side.from_cbor(m["probe"]),
            Side.from_cbor(m["candidate"]),
            tuple(float(s) for s in m["finger_scores"]),
            None if m["face"] is None else float(m["face"]),
        )


@dataclass(frozen=True)
class Item:
    record_id: bytes
    device_id: str
    created_ms: int
    state: str
    reference: str
    notice: str
    fmr: float | None
    modalities: tuple[str, ...]
    decided_by: str | None
    decided_ms: int | None
    sent_ms: int | None
    training: bool

    @property
    def record_hex(self) -> str:
        return self.record_id.hex()


_COLUMNS = (
    "record_id, device_id, created_ms, state, reference, notice, fmr, modalities, "
    "decided_by, decided_ms, sent_ms, training"
)


def _item(row: Row) -> Item:
    return Item(
        bytes(row[0]),
        str(row[1]),
        int(row[2]),
        str(row[3]),
        str(row[4]),
        str(row[5]),
        None if row[6] is None else float(row[6]),
        tuple(m for m in str(row[7]).split("+") if m),
        None if row[8] is None else str(row[8]),
        None if row[9] is None else int(row[9]),
        None if row[10] is None else int(row[10]),
        bool(row[11]),
    )


class VerificationQueue:
    def __init__(self, db: Database, ledger: Ledger) -> None:
        self._db = db
        self._ledger = ledger

    def enqueue(
        self,
        record_id: bytes,
        device_id: str,
        reference: str,
        notice: str,
        fmr: float,
        modalities: tuple[str, ...],
        evidence: Evidence,
        training: bool = False,
    ) -> bool:
        """Queue a possible match (once per record); True if it was new."""
        return (
            self._db.execute(
                "INSERT INTO verification (record_id, device_id, created_ms, state, reference, "
                "notice, fmr, modalities, evidence, training) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (record_id) DO NOTHING",
                (
                    record_id,
                    device_id,
                    _now(),
                    PENDING,
                    reference,
                    notice,
                    fmr,
                    "+".join(modalities),
                    evidence.encode(),
                    int(training),
                ),
            )
            == 1
        )

    def items(self, state: str | None = PENDING, limit: int = 200) -> list[Item]:
        """Items in ``state`` (all when None), oldest first."""
        if state is None:
            rows = self._db.query(
                f"SELECT {_COLUMNS} FROM verification ORDER BY created_ms LIMIT ?", (limit,)
            )
        else:
            rows = self._db.query(
                f"SELECT {_COLUMNS} FROM verification WHERE state = ? ORDER BY created_ms LIMIT ?",
                (state, limit),
            )
        return [_item(r) for r in rows]

    def find(self, record: str) -> Item:
        """The item whose record id (hex) is or starts with ``record`` (at least 8 digits)."""
        prefix = record.strip().lower()
        if len(prefix) < 8 or any(c not in "0123456789abcdef" for c in prefix):
            raise VerificationError(
                f"{record!r} is not a record id: give at least 8 hex digits (see the queue)"
            )
        matches = [i for i in self.items(None, limit=100_000) if i.record_hex.startswith(prefix)]
        if not matches:
            raise VerificationError(f"no possible match for record {record}")
        if len(matches) > 1:
            raise VerificationError(f"record {record} is ambiguous: give more digits")
        return matches[0]

    def evidence(self, record_id: bytes) -> Evidence | None:
        row = self._db.one("SELECT evidence FROM verification WHERE record_id = ?", (record_id,))
        if row is None or row[0] is None or not bytes(row[0]):
            return None
        return Evidence.decode(bytes(row[0]))

    def decide(self, record_id: bytes, confirmed: bool, examiner: str, note: str = "") -> Item:
        """Record an examiner's decision (once); the item as decided."""
        examiner = examiner.strip()
        if not examiner:
            raise VerificationError("a decision needs the examiner's name")
        state = CONFIRMED if confirmed else REJECTED
        with self._db.transaction():
            changed = self._db.execute(
                "UPDATE verification SET state = ?, decided_by = ?, decided_ms = ? "
                "WHERE record_id = ? AND state = ?",
                (state, examiner, _now(), record_id, PENDING),
            )
            row = self._db.one(f"SELECT {_COLUMNS} FROM verification WHERE record_id = ?",
                               (record_id,))  # fmt: skip
            if row is None:
                raise VerificationError(f"no possible match for record {record_id.hex()}")
            item = _item(row)
            if not changed:
                raise VerificationError(
                    f"record {record_id.hex()} was already {item.state} by {item.decided_by}"
                )
            self._ledger.insert_audit(
                AuditEntry(
                    "verified",
                    device_id=item.device_id,
                    record_id=record_id_text(record_id),
                    outcome=state,
                    reference=item.reference,
                    detail=note[:200] or None,
                    actor=examiner,
                    training=item.training,
                )
            )
        return item

    def to_send(self) -> list[Item]:
        """Decided items whose late answer has not gone out yet."""
        rows = self._db.query(
            f"SELECT {_COLUMNS} FROM verification WHERE state <> ? AND sent_ms IS NULL "
            "ORDER BY decided_ms",
            (PENDING,),
        )
        return [_item(r) for r in rows]

    def claim_send(self, record_id: bytes) -> bool:
        """Take the sending of this item's late answer (one instance wins)."""
        return (
            self._db.execute(
                "UPDATE verification SET sent_ms = ? WHERE record_id = ? AND sent_ms IS NULL",
                (_now(), record_id),
            )
            == 1
        )

    def release_send(self, record_id: bytes) -> None:
        self._db.execute("UPDATE verification SET sent_ms = NULL WHERE record_id = ?",
                         (record_id,))  # fmt: skip

    def purge_evidence(self, record_id: bytes) -> None:
        """Drop the biometric evidence of a decided, sent item."""
        self._db.execute(
            "UPDATE verification SET evidence = ? WHERE record_id = ? AND sent_ms IS NOT NULL",
            (b"", record_id),
        )

    def counts(self) -> dict[str, int]:
        rows = self._db.query("SELECT state, COUNT(*) FROM verification GROUP BY state")
        found = {str(r[0]): int(r[1]) for r in rows}
        return {state: found.get(state, 0) for state in STATES}


def _now() -> int:
    return int(time.time() * 1000)
