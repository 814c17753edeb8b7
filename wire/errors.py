"""Errors of the wire format: every malformed, forged or unknown input is one of these."""

from __future__ import annotations


class WireError(Exception):
    """Base of wire-format errors."""


class MalformedRecord(WireError):
    """The bytes are not a record of this schema (bad CBOR, missing or mistyped field)."""


class UnsupportedVersion(WireError):
    """A record or answer of a schema version this side does not know."""


class BadSignature(WireError):
    """The signature does not verify against the claimed sender's key."""


class DecryptionFailed(WireError):
    """The envelope cannot be opened: wrong key, tampered ciphertext or header."""


class TooLarge(WireError):
    """The payload exceeds the size limit of the schema."""
