"""Enrolment: a handheld's request to join a fleet, and the bundle central answers with.

The request (``hotspot device enrol``) carries a certificate signing request
for the device's TLS key, which stays on the device, and the secure element's
identity public key (PEM, SubjectPublicKeyInfo), bound together by a signature
of the identity key over both and the device id: central can tell that the
TLS key was asked for by the device that holds the identity key, and nobody can
graft someone else's TLS key onto a registered identity. No private key is in
it.

The bundle (``hotspot central enrol``) carries what the device needs to talk
to central: the broker's address, its update settings, and the public files —
the fleet CA, the device's certificate, the central keys' public halves and
the update trust root.

Both are JSON (``format`` says which); decoding is strict and says what is wrong.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

from wire import topics
from wire.errors import MalformedRecord

REQUEST_FORMAT = "hotspot-enrolment-request/1"
BUNDLE_FORMAT = "hotspot-provisioning-bundle/1"
BUNDLE_FILES = ("ca.pem", "device.pem", "central-records.pub", "central-answers.pub")
"""Files every bundle has; ``update-root.json`` is there when the fleet has an update
repository."""
OPTIONAL_FILES = ("update-root.json",)
MAX_BYTES = 256 * 1024


class EnrolmentError(MalformedRecord):
    """A request or bundle that cannot be used; the message says why."""


def binding_digest(device_id: str, csr_der: bytes, identity_der: bytes) -> bytes:
    """What the identity key signs: the device id, the request and the identity key."""
    h = hashlib.sha256()
    h.update(b"hotspot-enrolment-binding/1\0")
    h.update(device_id.encode() + b"\0")
    h.update(hashlib.sha256(csr_der).digest())
    h.update(hashlib.sha256(identity_der).digest())
    return h.digest()


@dataclass(frozen=True)
class EnrolmentRequest:
    device_id: str
    csr_pem: bytes
    identity_pem: bytes
    binding: bytes
    """Raw r || s (64 bytes) of the identity key's ECDSA P-256 signature of
    :func:`binding_digest`."""

    def encode(self) -> bytes:
        body = {
            "format": REQUEST_FORMAT,
            "device_id": self.device_id,
            "csr": self.csr_pem.decode(),
            "identity": self.identity_pem.decode(),
            "binding": base64.b64encode(self.binding).decode(),
        }
        return json.dumps(body, indent=1).encode() + b"\n"

    @classmethod
    def decode(cls, data: bytes) -> EnrolmentRequest:
        body = _load(data, REQUEST_FORMAT, "an enrolment request")
        try:
            device_id = topics.check_device_id(str(body["device_id"]))
            request = cls(
                device_id,
                str(body["csr"]).encode(),
                str(body["identity"]).encode(),
                base64.b64decode(str(body["binding"]), validate=True),
            )
        except (KeyError, ValueError) as exc:
            raise EnrolmentError(
                f"the enrolment request is incomplete or malformed: {exc}"
            ) from None
        return request

    def csr(self) -> x509.CertificateSigningRequest:
        try:
            return x509.load_pem_x509_csr(self.csr_pem)
        except ValueError:
            raise EnrolmentError("the request's certificate signing request is not PEM") from None

    def identity(self) -> ec.EllipticCurvePublicKey:
        try:
            key = serialization.load_pem_public_key(self.identity_pem)
        except ValueError:
            raise EnrolmentError("the request's identity key is not a PEM public key") from None
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
            raise EnrolmentError("the identity key must be a P-256 key (the secure element's)")
        return key

    def identity_raw(self) -> bytes:
        """The identity key as the registry keeps it: X || Y, 64 bytes."""
        point = self.identity().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return point[1:]

    def verify(self) -> x509.CertificateSigningRequest:
        """Check the request through and through; its CSR. EnrolmentError says what failed."""
        csr = self.csr()
        if not csr.is_signature_valid:
            raise EnrolmentError("the certificate signing request's own signature is wrong")
        names = csr.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        if [n.value for n in names] != [self.device_id]:
            raise EnrolmentError(
                f"the certificate request names {[n.value for n in names]}, not {self.device_id!r}"
            )
        identity = self.identity()
        digest = binding_digest(
            self.device_id,
            csr.public_bytes(serialization.Encoding.DER),
            identity.public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
        )
        if len(self.binding) != 64:
            raise EnrolmentError("the binding signature must be 64 bytes (r || s)")
        der = utils.encode_dss_signature(
            int.from_bytes(self.binding[:32], "big"), int.from_bytes(self.binding[32:], "big")
        )
        try:
            identity.verify(der, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
        except InvalidSignature:
            raise EnrolmentError(
                "the identity key did not sign this request: it was altered, or made for "
                "another device"
            ) from None
        return csr


@dataclass(frozen=True)
class ProvisioningBundle:
    device_id: str
    broker_host: str
    broker_port: int
    files: dict[str, bytes]
    """File name -> contents: :data:`BUNDLE_FILES` and any of :data:`OPTIONAL_FILES`."""
    update_repository: str = ""
    update_group: str = "default"
    notes: list[str] = field(default_factory=list)

    def encode(self) -> bytes:
        body = {
            "format": BUNDLE_FORMAT,
            "device_id": self.device_id,
            "broker": {"host": self.broker_host, "port": self.broker_port},
            "update": {"repository": self.update_repository, "group": self.update_group},
            "files": {name: data.decode() for name, data in sorted(self.files.items())},
            "notes": self.notes,
        }
        return json.dumps(body, indent=1).encode() + b"\n"

    @classmethod
    def decode(cls, data: bytes) -> ProvisioningBundle:
        body = _load(data, BUNDLE_FORMAT, "a provisioning bundle")
        try:
            files = {str(k): str(v).encode() for k, v in dict(body["files"]).items()}
            bundle = cls(
                topics.check_device_id(str(body["device_id"])),
                str(body["broker"]["host"]),
                int(body["broker"]["port"]),
                files,
                str(body["update"]["repository"]),
                topics.check_device_id(str(body["update"]["group"])),
                [str(n) for n in body.get("notes", [])],
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise EnrolmentError(f"the bundle is incomplete or malformed: {exc}") from None
        missing = [name for name in BUNDLE_FILES if name not in bundle.files]
        unknown = set(bundle.files) - set(BUNDLE_FILES) - set(OPTIONAL_FILES)
        if missing or unknown:
            raise EnrolmentError(f"the bundle's files are wrong: missing {missing}, unknown "
                                 f"{sorted(unknown)}")  # fmt: skip
        if not bundle.broker_host or not 0 < bundle.broker_port < 65536:
            raise EnrolmentError("the bundle's broker address is not HOST and PORT 1-65535")
        return bundle


def _load(data: bytes, expected: str, what: str) -> dict[str, Any]:
    if len(data) > MAX_BYTES:
        raise EnrolmentError(f"{len(data)} bytes is too large for {what}")
    try:
        body = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise EnrolmentError(f"this is not {what} (not JSON)") from None
    if not isinstance(body, dict) or body.get("format") != expected:
        found = body.get("format") if isinstance(body, dict) else None
        raise EnrolmentError(f"this is not {what} (format {found!r}, expected {expected!r})")
    return body
