"""What a secure element does for the firmware.

The device identity key is created inside the element and never leaves it:
callers get the public key and signatures over digests they supply. Monotonic
counters back OTA anti-rollback. Keys are P-256; signatures are raw 64-byte
``r || s`` (not DER), as the ATECC608 returns them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class SecureElementInfo:
    model: str
    revision: str
    serial: str
    """Hex serial number (9 bytes on the ATECC608)."""
    locked: bool


class SecureElement(Protocol):
    def info(self) -> SecureElementInfo: ...

    def random(self) -> bytes:
        """32 bytes from the element's random number generator."""
        ...

    def generate_key(self, slot: int) -> bytes:
        """Create a new P-256 key in ``slot``; return its 64-byte public key X || Y."""
        ...

    def public_key(self, slot: int) -> bytes:
        """The 64-byte public key X || Y of the key in ``slot``."""
        ...

    def sign_digest(self, slot: int, digest: bytes) -> bytes:
        """Sign a 32-byte SHA-256 digest with the key in ``slot``; 64-byte r || s."""
        ...

    def ecdh(self, slot: int, peer_public: bytes) -> bytes:
        """The 32-byte ECDH shared secret of the key in ``slot`` and a 64-byte peer key.

        Lets the firmware derive storage keys that exist only while the element
        answers: the outbox key is never written to disk.
        """
        ...

    def counter(self, counter_id: int) -> int: ...

    def increment_counter(self, counter_id: int) -> int:
        """Add one to a monotonic counter and return the new value."""
        ...


def public_key_pem(raw: bytes) -> str:
    """PEM (SubjectPublicKeyInfo) of a raw 64-byte P-256 public key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + raw)
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def verify_signature(public_raw: bytes, digest: bytes, signature: bytes) -> bool:
    """Check a raw r || s signature over a SHA-256 digest."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + public_raw)
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    try:
        key.verify(
            utils.encode_dss_signature(r, s), digest, ec.ECDSA(utils.Prehashed(hashes.SHA256()))
        )
    except InvalidSignature:
        return False
    return True
