"""The face embedding format and score calibration shared by the device and central."""

from __future__ import annotations

import numpy as np
import pytest

from wire import face


def test_encode_decode_keeps_the_direction() -> None:
    rng = np.random.default_rng(3)
    vector = rng.normal(size=128).astype(np.float32)
    data = face.encode(vector * 13.0)
    assert len(data) == 128
    unit = vector / np.linalg.norm(vector)
    assert float(face.decode(data) @ unit) > 0.999


@pytest.mark.parametrize("data", [b"", b"\x01" * 127, b"\x01" * 129, b"\x00" * 128])
def test_malformed_embeddings_are_refused(data: bytes) -> None:
    with pytest.raises(face.EmbeddingError):
        face.decode(data)


def test_empty_or_nan_vectors_are_refused() -> None:
    with pytest.raises(face.EmbeddingError):
        face.encode(np.zeros(128))
    with pytest.raises(face.EmbeddingError):
        face.encode(np.full(128, np.nan))
    with pytest.raises(face.EmbeddingError):
        face.encode(np.ones(64))


def test_search_returns_the_mates_first() -> None:
    rng = np.random.default_rng(4)
    gallery = rng.normal(size=(5000, 128)).astype(np.float32)
    gallery /= np.linalg.norm(gallery, axis=1, keepdims=True)
    probe = face.encode(gallery[1234] + 0.02 * rng.normal(size=128).astype(np.float32))
    hits = face.search(probe, gallery, top=3)
    assert hits[0][0] == 1234 and hits[0][1] > 0.9
    assert hits[0][1] >= hits[1][1] >= hits[2][1]
    assert face.search(probe, gallery[:0]) == []
