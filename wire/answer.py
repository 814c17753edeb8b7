"""The central service's answer to one check record (schema version 2; version 1 is read).

An answer is signed by the central service (COSE_Sign1, :mod:`wire.envelope`)
and sent on the device's results topic. It says which of three outcomes the
search gave, how often a stranger's check would get that outcome against the
watchlist as it stands (``fmr``), and whether the outcome is final:

* ``hit`` — strong enough to act on alone;
* ``possible_match`` — a candidate that an examiner must verify before anyone
  acts; the device shows "possible match — being verified", and the verified
  outcome follows as a later answer for the same record with a higher
  ``rev`` (``final`` true);
* ``no_hit``;
* ``rejected`` — the record could not be processed (``why`` says why).

Field table (version 2): ``v``, ``id`` record id, ``out`` outcome, ``score``,
``ref`` matched watchlist reference (never biometric data) or null, ``notice``
its notice type or null, ``at`` answer time (ms since the epoch), ``why``
reason or null, *v2*: ``fmr`` estimated false-match rate of this outcome for
the whole search or null, ``fmr95`` its 95 % upper bound (what the outcome
was decided on) or null, ``mods`` modalities that agreed, ``rev`` revision
(0 first), ``final`` false while a verification is pending, ``trn`` the record
was a training check.
"""

from __future__ import annotations

from dataclasses import dataclass

import cbor2

from wire import fields as f
from wire.errors import MalformedRecord, TooLarge, UnsupportedVersion

VERSION = 2
READS = (1, 2)
MAX_ANSWER_BYTES = 4096

HIT = "hit"
POSSIBLE_MATCH = "possible_match"
NO_HIT = "no_hit"
REJECTED = "rejected"
OUTCOMES = (HIT, POSSIBLE_MATCH, NO_HIT, REJECTED)
MODALITIES = ("fingerprint", "face")


@dataclass(frozen=True)
class Answer:
    """The central service's answer to one record."""

    record_id: bytes
    outcome: str
    """One of :data:`OUTCOMES`."""
    score: float = 0.0
    reference: str | None = None
    """The matched watchlist entry's reference (never biometric data)."""
    notice: str | None = None
    """The notice type of the matched entry (for example an INTERPOL red notice)."""
    answered_ms: int = 0
    reason: str | None = None
    fmr: float | None = None
    """How often a stranger's check gets this outcome against this watchlist (estimated)."""
    fmr_upper: float | None = None
    """The 95 % upper bound of ``fmr``: the figure the outcome was decided on."""
    modalities: tuple[str, ...] = ()
    """The modalities whose comparison agreed with the outcome."""
    revision: int = 0
    """0 for the first answer; each verification step answers again with a higher one."""
    final: bool = True
    """False while an examiner's verification is pending (a possible match)."""
    training: bool = False
    """The record was a training check (emulated hardware)."""

    def encode(self) -> bytes:
        payload: bytes = cbor2.dumps(
            {
                "v": VERSION,
                "id": self.record_id,
                "out": self.outcome,
                "score": float(self.score),
                "ref": self.reference,
                "notice": self.notice,
                "at": self.answered_ms,
                "why": self.reason,
                "fmr": None if self.fmr is None else float(self.fmr),
                "fmr95": None if self.fmr_upper is None else float(self.fmr_upper),
                "mods": list(self.modalities),
                "rev": self.revision,
                "final": self.final,
                "trn": self.training,
            }
        )
        return payload

    @classmethod
    def decode(cls, data: bytes) -> Answer:
        if len(data) > MAX_ANSWER_BYTES:
            raise TooLarge(f"answer of {len(data)} bytes exceeds {MAX_ANSWER_BYTES}")
        m = f.load_map(data, "answer")
        version = m.get("v")
        if version not in READS:
            raise UnsupportedVersion(f"answer schema version {version!r} is not supported")
        allowed = {"v", "id", "out", "score", "ref", "notice", "at", "why"}
        if version >= 2:
            allowed |= {"fmr", "fmr95", "mods", "rev", "final", "trn"}
        f.only(m, allowed, "answer")
        outcome = f.text(m, "out", 16)
        if outcome not in OUTCOMES:
            raise MalformedRecord(f"unknown outcome {outcome!r}")
        mods = m.get("mods", [])
        if not isinstance(mods, list) or not all(x in MODALITIES for x in mods):
            raise MalformedRecord(f"field 'mods' must list modalities of {list(MODALITIES)}")
        fmr = m.get("fmr")
        fmr_upper = m.get("fmr95")
        return cls(
            record_id=f.byte_string(m, "id", 16, 16),
            outcome=outcome,
            score=f.number(m.get("score"), "score", -1e9, 1e9),
            reference=f.opt_text(m, "ref", 128),
            notice=f.opt_text(m, "notice", 64),
            answered_ms=f.integer(m, "at", 0, 2**48),
            reason=f.opt_text(m, "why", 256),
            fmr=None if fmr is None else f.number(fmr, "fmr", 0.0, 1.0),
            fmr_upper=None if fmr_upper is None else f.number(fmr_upper, "fmr95", 0.0, 1.0),
            modalities=tuple(mods),
            revision=f.int_value(m.get("rev", 0), "rev", 0, 1000),
            final=f.boolean(m, "final", True),
            training=f.boolean(m, "trn"),
        )
