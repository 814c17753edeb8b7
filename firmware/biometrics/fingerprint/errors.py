"""The one exception the fingerprint chain raises for input it cannot use."""

from __future__ import annotations


class FingerprintError(ValueError):
    """An image the fingerprint chain cannot use; the message says why and what to do."""
