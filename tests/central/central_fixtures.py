"""Watchlist material for central's tests: valid templates and face embeddings, made here."""

from __future__ import annotations

import math

import numpy as np

from wire import face as face_wire
from wire.iso19794_2 import FingerView, Minutia, MinutiaeRecord


def good_template(seed: int, minutiae: int = 30, position: int = 7) -> bytes:
    """A well-formed ISO/IEC 19794-2 record with ``minutiae`` minutiae (not a real finger)."""
    rng = np.random.default_rng(seed)
    points = tuple(
        Minutia(int(x), int(y), float(a) % (2 * math.pi))
        for x, y, a in zip(
            rng.integers(20, 280, minutiae),
            rng.integers(20, 380, minutiae),
            rng.uniform(0, 2 * math.pi, minutiae),
            strict=True,
        )
    )
    return MinutiaeRecord(300, 400, (FingerView(position, points, 60),)).encode()


def face(seed: int) -> bytes:
    """A valid int8 face embedding of the model the devices send."""
    return face_wire.encode(np.random.default_rng(seed).normal(0, 1, face_wire.DIMS))
