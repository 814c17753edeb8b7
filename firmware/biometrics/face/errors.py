"""The one exception the face chain raises for input it cannot use."""

from __future__ import annotations


class FaceError(ValueError):
    """A frame or embedding the face chain cannot use; the message says why and what to do."""
