"""Frames for the face tests: the astronaut phantom and LFW thumbnails (from scikit-image)."""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt
from skimage import data, transform

from firmware.biometrics.face.pipeline import FaceAnalyzer
from hal.phantoms.face import FrameVariation, render

Rgb = npt.NDArray[np.uint8]


@functools.cache
def analyzer() -> FaceAnalyzer:
    return FaceAnalyzer()


def frame(**variation: float) -> Rgb:
    return render(FrameVariation(**variation))


def other_people(count: int = 6) -> list[Rgb]:
    """Different people: LFW thumbnails (25x25 grey) enlarged into a frame."""
    faces = data.lfw_subset()[:count]  # type: ignore[no-untyped-call]
    out = []
    for face in faces:
        big = (transform.resize(face, (200, 200)) * 255).astype(np.uint8)
        canvas = np.full((320, 320), 128, np.uint8)
        canvas[60:260, 60:260] = big
        out.append(np.repeat(canvas[..., None], 3, axis=2))
    return out


def close_eyes(rgb: Rgb) -> Rgb:
    """Paint skin from under each eye over it (lids shut, as far as a single photo allows)."""
    result = analyzer().analyse(rgb)
    assert result is not None
    p = result.mesh.points
    edited = rgb.copy()
    for eye in ((33, 133, 159, 145), (263, 362, 386, 374)):
        xs, ys = p[list(eye), 0], p[list(eye), 1]
        x0, x1 = int(xs.min()) - 3, int(xs.max()) + 3
        y0, y1 = int(ys.min()) - 4, int(ys.max()) + 4
        edited[y0:y1, x0:x1] = rgb[y1 + 6 : y1 + 6 + (y1 - y0), x0:x1]
    return edited
