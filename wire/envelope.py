"""Sealing records and answers with COSE (RFC 9052).

A record travels as ``COSE_Encrypt( COSE_Sign1( record ) )``:

* **COSE_Sign1**, ES256, signed by the device identity key. The device computes
  the ``Sig_structure`` itself and has the secure element sign its SHA-256
  digest, so the key never leaves the chip. ``kid`` is the device id.
* **COSE_Encrypt** with one recipient, ECDH-ES + HKDF-256 (direct key
  agreement) to the central service's P-256 key, content AES-256-GCM; the
  device id is the external AAD, so a ciphertext replayed under another
  device's topic does not open. Neither the broker nor a stolen SD card can
  read a template.

Opening uses python-cwt, an independent COSE implementation, for both the
decryption and the signature check, which keeps our hand-built Sign1 honest.
Answers travel as a COSE_Sign1 by the central service's signing key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import cbor2
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from wire.errors import BadSignature, DecryptionFailed, MalformedRecord, TooLarge

ES256 = -7
A256GCM = 3
CONTENT_TYPE = "application/vnd.hotspot.check+cbor;v=1"
MAX_ENVELOPE_BYTES = 80 * 1024

SignDigest = Callable[[bytes], bytes]
"""Signs a 32-byte SHA-256 digest, returning a raw 64-byte r || s (the secure element)."""


def sign1(
    payload: bytes, kid: str, sign_digest: SignDigest, content_type: str = CONTENT_TYPE
) -> bytes:
    """A tagged COSE_Sign1 (ES256) whose signature comes from ``sign_digest``."""
    protected = cbor2.dumps({1: ES256, 3: content_type, 4: kid.encode()})
    to_be_signed = cbor2.dumps(["Signature1", protected, b"", payload])
    signature = sign_digest(hashlib.sha256(to_be_signed).digest())
    if len(signature) != 64:
        raise ValueError("an ES256 signature is 64 bytes (r || s)")
    encoded: bytes = cbor2.dumps(cbor2.CBORTag(18, [protected, {}, payload, signature]))
    return encoded


def verify_sign1(message: bytes, kid: str, public_key: ec.EllipticCurvePublicKey) -> bytes:
    """The payload of a COSE_Sign1 from ``kid``; BadSignature unless it verifies."""
    from cwt import COSE, COSEKey

    header = _sign1_header(message)
    if header.get(4) != kid.encode():
        raise BadSignature(f"message is signed as {header.get(4)!r}, expected {kid!r}")
    pem = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key = COSEKey.from_pem(pem, alg="ES256", kid=kid)
    try:
        payload: bytes = COSE.new().decode(message, key)
    except Exception as exc:
        raise BadSignature(f"signature of {kid!r} does not verify ({type(exc).__name__})") from None
    return payload


def _sign1_header(message: bytes) -> dict[Any, Any]:
    try:
        obj = cbor2.loads(message)
    except Exception as exc:
        raise MalformedRecord(f"signed payload is not CBOR ({type(exc).__name__})") from None
    if not (isinstance(obj, cbor2.CBORTag) and obj.tag == 18 and isinstance(obj.value, list)):
        raise MalformedRecord("signed payload is not a tagged COSE_Sign1")
    if len(obj.value) != 4 or not isinstance(obj.value[0], bytes):
        raise MalformedRecord("COSE_Sign1 must have 4 elements with a protected header")
    try:
        header = cbor2.loads(obj.value[0]) if obj.value[0] else {}
    except Exception:
        raise MalformedRecord("COSE_Sign1 protected header is not CBOR") from None
    if not isinstance(header, dict) or header.get(1) != ES256:
        raise MalformedRecord("COSE_Sign1 must be ES256")
    return header


def seal(
    record: bytes,
    device_id: str,
    sign_digest: SignDigest,
    central_public_pem: bytes,
    central_kid: str,
) -> bytes:
    """Sign ``record`` as ``device_id`` and encrypt it to the central service."""
    from cwt import COSE, COSEKey, Recipient

    signed = sign1(record, device_id, sign_digest)
    key = COSEKey.from_pem(central_public_pem, kid=central_kid)
    recipient = Recipient.new(
        unprotected={"alg": "ECDH-ES+HKDF-256"}, recipient_key=key, context={"alg": "A256GCM"}
    )
    sealed: bytes = COSE.new().encode_and_encrypt(
        signed,
        protected={"alg": "A256GCM"},
        recipients=[recipient],
        external_aad=device_id.encode(),
    )
    if len(sealed) > MAX_ENVELOPE_BYTES:
        raise TooLarge(f"sealed record of {len(sealed)} bytes exceeds {MAX_ENVELOPE_BYTES}")
    return sealed


def open_sealed(
    envelope: bytes,
    device_id: str,
    central_private_pem: bytes,
    central_kid: str,
    device_public_key: ec.EllipticCurvePublicKey,
) -> bytes:
    """Decrypt an envelope received on ``device_id``'s topic and verify the device signature."""
    from cwt import COSE, COSEKey

    if len(envelope) > MAX_ENVELOPE_BYTES:
        raise TooLarge(f"envelope of {len(envelope)} bytes exceeds {MAX_ENVELOPE_BYTES}")
    key = COSEKey.from_pem(central_private_pem, kid=central_kid, alg="ECDH-ES+HKDF-256")
    try:
        signed: bytes = COSE.new().decode(
            envelope, key, context={"alg": "A256GCM"}, external_aad=device_id.encode()
        )
    except Exception as exc:
        raise DecryptionFailed(
            f"envelope from {device_id!r} does not open ({type(exc).__name__}): "
            "tampered, encrypted to another key, or sent under another device's topic"
        ) from None
    return verify_sign1(signed, device_id, device_public_key)


def public_key_from_raw(raw: bytes) -> ec.EllipticCurvePublicKey:
    """A P-256 public key from the secure element's 64-byte X || Y."""
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + raw)
