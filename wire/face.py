"""The face embedding on the wire, and what its similarity scores mean.

A record's ``face.emb`` is 128 signed bytes: the SFace embedding's direction,
scaled so that its largest component is 127 (cosine similarity ignores the
scale). ``face.ver`` names the model; embeddings of different versions are
never compared. Both the device (1:1 checks, tests) and the central service
(1:N over the watchlist) decode and score through this module, so the score
means the same on both sides.

What a score means (how often a stranger scores this high) is central's to say, in
one place: :mod:`central.calibration`, measured on unconstrained photographs. The
device never turns a face score into a rate.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from wire.errors import MalformedRecord

VERSION = "sface-2021dec/tflite-drq/1"
DIMS = 128

Unit = npt.NDArray[np.float32]


class EmbeddingError(MalformedRecord):
    """Bytes that are not a face embedding of this format."""


def encode(vector: npt.NDArray[np.floating]) -> bytes:
    """128 int8 bytes: the direction of ``vector`` with its largest component at 127."""
    vector = np.asarray(vector, np.float32).reshape(-1)
    if vector.size != DIMS:
        raise EmbeddingError(f"a face embedding has {DIMS} values, not {vector.size}")
    peak = float(np.abs(vector).max())
    if not math.isfinite(peak) or peak == 0:
        raise EmbeddingError("the embedding is empty or not finite; capture the face again")
    return np.round(vector / peak * 127).astype(np.int8).tobytes()


def decode(data: bytes) -> Unit:
    """The unit vector of a stored embedding."""
    if len(data) != DIMS:
        raise EmbeddingError(f"a face embedding has {DIMS} bytes, not {len(data)}")
    vector = np.frombuffer(data, np.int8).astype(np.float32)
    norm = float(np.linalg.norm(vector))
    if norm == 0:
        raise EmbeddingError("the face embedding is all zero")
    return vector / norm


def decode_int8(data: bytes) -> tuple[npt.NDArray[np.int8], float]:
    """A stored embedding as it travels (int8) and 1 / its norm: what a 1:N search reads,
    a quarter of the unit vector's bytes (:func:`decode` times the norm is this)."""
    if len(data) != DIMS:
        raise EmbeddingError(f"a face embedding has {DIMS} bytes, not {len(data)}")
    vector = np.frombuffer(data, np.int8).copy()
    norm = float(np.linalg.norm(vector.astype(np.float64)))
    if norm == 0:
        raise EmbeddingError("the face embedding is all zero")
    return vector, 1.0 / norm


def similarity(a: bytes, b: bytes) -> float:
    """Cosine similarity of two stored embeddings, -1 to 1."""
    return float(decode(a) @ decode(b))


def search(probe: bytes, gallery: Unit, top: int = 5) -> list[tuple[int, float]]:
    """1:N: the ``top`` rows of ``gallery`` ((n, 128) unit rows) closest to ``probe``,
    as (row, score), best first. One matrix product, so 100,000 faces take a few
    milliseconds."""
    if gallery.ndim != 2 or gallery.shape[1] != DIMS:
        raise EmbeddingError(f"the gallery must have shape (n, {DIMS}), not {gallery.shape}")
    if gallery.shape[0] == 0:
        return []
    scores = gallery @ decode(probe)
    k = min(top, scores.size)
    rows = np.argpartition(scores, -k)[-k:]
    rows = rows[np.argsort(-scores[rows])]
    return [(int(r), float(scores[r])) for r in rows]
