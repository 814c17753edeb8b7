"""What central does with one record: verify, decrypt, deduplicate, match, answer.

:class:`Processor` knows nothing of the broker: one payload in, at most one answer out
(and the examiners' late answers when asked), so the same logic serves the gateway
instances (:mod:`central.gateway`), the tests and the benchmarks.

What is rejected, and how: a message on a topic that is not a device's, from
an unregistered or revoked device, too large, or that does not decrypt or
verify is dropped and audited (nothing authenticated it, so nothing is
answered). A record that verifies but cannot be used (unknown schema version,
malformed fields, a device id that disagrees with the topic) is answered
``rejected`` with the reason, so the device stops re-sending and tells the
officer. Nothing biometric is logged.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

from central.ledger import AuditEntry, Ledger
from central.matching import MatchOutcome, WatchlistMatcher
from central.registry import DeviceRegistry, UnknownDevice
from central.verification import CONFIRMED, Evidence, Side, VerificationQueue
from wire import envelope, topics
from wire.answer import HIT, NO_HIT, POSSIBLE_MATCH, REJECTED, Answer
from wire.errors import MalformedRecord, UnsupportedVersion, WireError
from wire.record import CheckRecord, record_id_text

if TYPE_CHECKING:
    from central.metrics import Metrics  # prometheus-client: only where metrics are served

log = logging.getLogger(__name__)

CENTRAL_KID = "central"
MAX_PAYLOAD = envelope.MAX_ENVELOPE_BYTES


@dataclass(frozen=True)
class GatewayKeys:
    records_private_pem: bytes
    answers_private: ec.EllipticCurvePrivateKey

    @classmethod
    def load(cls, records_key: Path, answers_key: Path) -> GatewayKeys:
        answers = serialization.load_pem_private_key(answers_key.read_bytes(), password=None)
        if not isinstance(answers, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{answers_key} is not a P-256 key")
        return cls(records_key.read_bytes(), answers)

    def sign_digest(self, digest: bytes) -> bytes:
        der = self.answers_private.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
        r, s = utils.decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


class Processor:
    """The broker-independent core: one payload in, at most one answer out."""

    def __init__(
        self,
        keys: GatewayKeys,
        registry: DeviceRegistry,
        ledger: Ledger,
        matcher: WatchlistMatcher,
        verification: VerificationQueue,
        owner: str | None = None,
    ) -> None:
        self.keys = keys
        self.registry = registry
        self.ledger = ledger
        self.matcher = matcher
        self.verification = verification
        self.owner = owner or f"{socket.gethostname()}/{os.getpid()}"
        """Who claims a record in the ledger while matching it (host and process)."""
        self.metrics: Metrics | None = None

    @staticmethod
    def _count(counter: Any) -> None:
        if counter:
            counter.inc()

    def _refuse(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.refused.labels(reason).inc()

    def telemetry(self, topic: str, payload: bytes) -> bool:
        """Keep a device's telemetry report (in the series of its kind, ``app`` or ``update``)
        if it is well-formed CBOR from a registered device."""
        try:
            device_id = topics.device_of(topic)
            kind = topics.telemetry_kind(topic)
            self.registry.get(device_id)
            report = cbor2.loads(payload)
        except (ValueError, UnknownDevice, cbor2.CBORDecodeError):
            return False
        if not isinstance(report, dict) or len(payload) > 4096:
            return False
        age = report.get("backlog_age_s")
        self.ledger.store_telemetry(
            device_id, payload, kind, age if isinstance(age, int) and 0 <= age < 2**31 else None
        )
        return True

    def handle(self, topic: str, payload: bytes) -> tuple[str, bytes] | None:
        """Process one message; return (results topic, signed answer) or None if dropped."""
        self._count(self.metrics and self.metrics.records_in)
        try:
            device_id = topics.device_of(topic)
        except ValueError:
            self._refuse("topic")
            self.ledger.audit("dropped", detail=f"not a device topic: {topic[:80]}")
            return None
        if len(payload) > MAX_PAYLOAD:
            self._refuse("too large")
            self.ledger.audit("dropped", device_id=device_id, detail=f"{len(payload)} bytes")
            return None
        try:
            device = self.registry.get(device_id)
        except UnknownDevice as exc:
            self._refuse("revoked" if "revoked" in str(exc) else "unregistered")
            self.ledger.audit("dropped", device_id=device_id, detail=str(exc))
            return None
        try:
            signed = envelope.open_sealed(
                payload, device_id, self.keys.records_private_pem, CENTRAL_KID, device.key()
            )
        except WireError as exc:
            self._refuse("envelope")
            self.ledger.audit("dropped", device_id=device_id, detail=type(exc).__name__)
            return None
        try:
            record = CheckRecord.decode(signed)
        except (UnsupportedVersion, MalformedRecord) as exc:
            self._refuse("malformed")
            record_id = _salvage_id(signed)
            self.ledger.audit(
                "rejected", device_id=device_id, detail=f"{type(exc).__name__}: {exc}"
            )
            if record_id is None:
                return None
            return self._answer(device_id, Answer(record_id, REJECTED, reason=str(exc)[:250]))
        if record.device_id != device_id:
            self._refuse("wrong device")
            reason = f"record claims device {record.device_id!r} on {device_id!r}'s topic"
            self.ledger.audit("rejected", device_id=device_id, detail=reason)
            return self._answer(device_id, Answer(record.record_id, REJECTED, reason=reason))
        signed, computed = self.ledger.answer_once(
            record.record_id, device_id, self.owner, lambda: self._match(device_id, record)
        )
        if not computed:
            self._count(self.metrics and self.metrics.answers_out.labels("repeated"))
            self.ledger.audit(
                "duplicate",
                device_id=device_id,
                record_id=record_id_text(record.record_id),
                detail=f"the stored answer sent again by {self.owner}",
            )
        return topics.results(device_id), signed

    def _match(self, device_id: str, record: CheckRecord) -> tuple[bytes, AuditEntry]:
        """Search, queue a possible match for an examiner, sign: (answer, its audit line)."""
        outcome = self.matcher.search(record)
        self._count(self.metrics and self.metrics.answers_out.labels(outcome.outcome))
        found = outcome.outcome in (HIT, POSSIBLE_MATCH)
        answer = Answer(
            record.record_id,
            outcome.outcome,
            score=round(outcome.score, 4),
            reference=outcome.reference,
            notice=outcome.notice,
            answered_ms=int(time.time() * 1000),
            fmr=outcome.fmr if found else None,
            fmr_upper=outcome.fmr_upper if found else None,
            modalities=outcome.modalities if found else (),
            final=outcome.outcome != POSSIBLE_MATCH,
            training=record.training,
        )
        if outcome.outcome == POSSIBLE_MATCH:
            self._queue_for_examiner(device_id, record, outcome)
        # A training check (emulated hardware) is answered like any other, so that the
        # exercise is real, but the audit marks it and no report counts it as a check.
        training = "TRAINING (emulated hardware), " if record.training else ""
        audit = AuditEntry(
            "answered",
            device_id=device_id,
            record_id=record_id_text(record.record_id),
            outcome=answer.outcome,
            reference=answer.reference,
            score=answer.score,
            detail=f"{training}{outcome.modality}, search FMR {outcome.fmr:.1e} "
            f"(95 % bound {outcome.fmr_upper:.1e}) against {outcome.people:,} people, "
            f"{outcome.candidates} compared in full, by {self.owner}",
            officer=record.operator_id,
            operation=record.operation_id,
            training=record.training,
            notice=answer.notice,
            modalities="+".join(answer.modalities) or None,
            captured_ms=record.captured_ms,
        )
        signed = envelope.sign1(answer.encode(), CENTRAL_KID, self.keys.sign_digest)
        return signed, audit

    def _queue_for_examiner(
        self, device_id: str, record: CheckRecord, outcome: MatchOutcome
    ) -> None:
        assert outcome.reference is not None and outcome.evidence is not None
        candidate = next(iter(self.matcher.watchlist.entries([outcome.reference])), None)
        probe = Side(
            tuple((f.position, f.template) for f in record.fingers),
            record.face.token_image if record.face is not None else None,
        )
        evidence = Evidence(
            probe,
            Side(candidate.fingers if candidate is not None else ()),
            outcome.evidence.fingers,
            outcome.evidence.face,
        )
        self.verification.enqueue(
            record.record_id,
            device_id,
            outcome.reference,
            outcome.notice or "",
            outcome.fmr,
            outcome.modalities,
            evidence,
            record.training,
        )

    def late_answers(self) -> list[tuple[str, bytes, bytes]]:
        """Examiners' decisions not yet sent, each claimed by this instance and answered as
        revision 1 (final): (results topic, signed answer, record id). Release the claim of
        one that could not be published (:meth:`VerificationQueue.release_send`)."""
        out = []
        for item in self.verification.to_send():
            if not self.verification.claim_send(item.record_id):
                continue  # another instance sends it
            confirmed = item.state == CONFIRMED
            answer = Answer(
                item.record_id,
                HIT if confirmed else NO_HIT,
                reference=item.reference if confirmed else None,
                notice=item.notice if confirmed else None,
                answered_ms=int(time.time() * 1000),
                reason="verified by an examiner" if confirmed else "rejected by an examiner",
                fmr=item.fmr if confirmed else None,
                modalities=item.modalities if confirmed else (),
                revision=1,
                final=True,
                training=item.training,
            )
            signed = envelope.sign1(answer.encode(), CENTRAL_KID, self.keys.sign_digest)
            self.ledger.revise_answer(
                item.record_id,
                signed,
                1,
                AuditEntry(
                    "late answer",
                    device_id=item.device_id,
                    record_id=record_id_text(item.record_id),
                    outcome=answer.outcome,
                    reference=answer.reference,
                    actor=item.decided_by,
                    training=item.training,
                    notice=answer.notice,
                    modalities="+".join(answer.modalities) or None,
                ),
            )
            out.append((topics.results(item.device_id), signed, item.record_id))
        return out

    def _answer(
        self, device_id: str, answer: Answer, audit: AuditEntry | None = None
    ) -> tuple[str, bytes]:
        signed = envelope.sign1(answer.encode(), CENTRAL_KID, self.keys.sign_digest)
        stands = self.ledger.record_answer(answer.record_id, device_id, signed, audit)
        return topics.results(device_id), stands


def _salvage_id(signed: bytes) -> bytes | None:
    """The record id of a record we cannot otherwise read (to answer 'rejected')."""
    try:
        data = cbor2.loads(signed)
    except Exception:
        return None
    value = data.get("id") if isinstance(data, dict) else None
    return value if isinstance(value, bytes) and len(value) == 16 else None
