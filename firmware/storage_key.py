"""The outbox key: derived inside the secure element, never written to disk.

At first use an ephemeral P-256 key pair E is made; the shared secret of E's
private half and the device identity key's public half is computed in
software, and E's private half is thrown away. Only E's public half is stored.
Later, the secure element recomputes the same secret from its identity key and
E's public half (ECDH). HKDF turns the secret into the AES-256 key. An SD card
taken from the device therefore holds ciphertext and a public key: without the
element, no key.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hal.secure.protocol import SecureElement

INFO = b"hotspot outbox key v1"


def new_wrapping(se: SecureElement, slot: int) -> tuple[bytes, bytes]:
    """(ephemeral public key to store, the derived key) for a new outbox."""
    device_public = ec.EllipticCurvePublicKey.from_encoded_point(
        ec.SECP256R1(), b"\x04" + se.public_key(slot)
    )
    ephemeral = ec.generate_private_key(ec.SECP256R1())
    shared = ephemeral.exchange(ec.ECDH(), device_public)
    stored = ephemeral.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )[1:]
    return stored, _derive(shared)


def unwrap(se: SecureElement, slot: int, stored: bytes) -> bytes:
    """The outbox key, recomputed by the secure element from the stored public key."""
    return _derive(se.ecdh(slot, stored))


def _derive(shared: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=INFO).derive(shared)
