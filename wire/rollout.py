"""Release announcements and update reports: the OTA part of the wire schema.

The central side announces, per device group, which release the group should
run: a retained MQTT message on ``hotspot/v1/ota/<group>/release``, a COSE_Sign1
by the central service's answer key (the key every device already trusts for
answers), so a broker or a device with publish rights cannot steer the fleet.
The announcement only names a version: what the version *is* comes from the
TUF repository, which the device verifies on its own.

Devices report progress in their telemetry under the key ``"ota"``
(:class:`UpdateReport`), which the rollout controller reads to judge a wave.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import cbor2
from cryptography.hazmat.primitives.asymmetric import ec

from wire import envelope
from wire.errors import MalformedRecord

CENTRAL_KID = "central"
CONTENT_TYPE = "application/vnd.hotspot.release+cbor;v=1"
FINAL_STATES = frozenset({"installed", "rolled-back", "failed"})
"""Report states that end a device's part in a rollout wave."""
STATES = FINAL_STATES | {"deferred", "downloading", "installing", "trial"}


@dataclass(frozen=True)
class Announcement:
    rollout: str
    group: str
    version: str
    wave: int
    issued_ms: int

    def sign(self, sign_digest: envelope.SignDigest) -> bytes:
        payload = cbor2.dumps(asdict(self))
        return envelope.sign1(payload, CENTRAL_KID, sign_digest, CONTENT_TYPE)

    @classmethod
    def verify(cls, message: bytes, central: ec.EllipticCurvePublicKey) -> Announcement:
        """The announcement in ``message``; BadSignature or MalformedRecord if it is not one."""
        body = _map(envelope.verify_sign1(message, CENTRAL_KID, central))
        try:
            return cls(
                rollout=str(body["rollout"]),
                group=str(body["group"]),
                version=str(body["version"]),
                wave=int(body["wave"]),
                issued_ms=int(body["issued_ms"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedRecord(f"release announcement lacks a field: {exc}") from None


@dataclass(frozen=True)
class UpdateReport:
    rollout: str
    version: str
    state: str
    running: str
    """The version the device runs now."""
    group: str
    progress: float = 0.0
    reason: str = ""

    def as_telemetry(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_telemetry(cls, telemetry: dict[str, Any]) -> UpdateReport | None:
        body = telemetry.get("ota")
        if not isinstance(body, dict):
            return None
        try:
            report = cls(**body)
        except TypeError:
            return None
        return report if report.state in STATES else None


def _map(payload: bytes) -> dict[str, Any]:
    try:
        body = cbor2.loads(payload)
    except Exception as exc:
        raise MalformedRecord(f"not CBOR: {type(exc).__name__}") from None
    if not isinstance(body, dict):
        raise MalformedRecord("expected a CBOR map")
    return body
