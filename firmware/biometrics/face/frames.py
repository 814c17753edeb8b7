"""Checks and small image operations shared by the face chain (numpy and Pillow only).

Why not OpenCV: the device image stays small and the firmware needs only a
resize, a grey conversion and an affine warp, which numpy and Pillow do fast
enough at these sizes (a 112x112 warp takes a fraction of a millisecond).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from firmware.biometrics.face.errors import FaceError

Rgb = npt.NDArray[np.uint8]
Floats = npt.NDArray[np.float32]


def check_rgb(frame: Any) -> Rgb:
    """The frame as (height, width, 3) uint8, or a FaceError saying what is wrong with it."""
    if not isinstance(frame, np.ndarray):
        raise FaceError(f"a frame must be a numpy array, not {type(frame).__name__}")
    if frame.dtype != np.uint8:
        raise FaceError(f"a frame must be uint8 RGB, not {frame.dtype}; convert it first")
    if frame.ndim == 2:
        frame = np.repeat(frame[..., None], 3, axis=2).astype(np.uint8)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise FaceError(f"a frame must have shape (height, width, 3), not {frame.shape}")
    if frame.shape[0] < 16 or frame.shape[1] < 16:
        raise FaceError(f"the frame is empty or too small ({frame.shape[1]}x{frame.shape[0]})")
    return np.asarray(frame, np.uint8)


def grey(rgb: Rgb | Floats) -> Floats:
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.asarray(rgb, dtype=np.float32) @ weights


def resize(rgb: Rgb, width: int, height: int) -> Rgb:
    if rgb.shape[1] == width and rgb.shape[0] == height:
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.Resampling.BILINEAR))


def warp_affine(rgb: Rgb, matrix: Floats, width: int, height: int, border: int = 0) -> Rgb:
    """Sample ``rgb`` at ``matrix @ (x, y, 1)`` for every output pixel (bilinear, in C by Pillow).

    ``matrix`` maps *output* pixel coordinates to *input* ones (2x3).
    """
    coefficients = tuple(float(v) for v in np.asarray(matrix, np.float64).ravel())
    image = Image.fromarray(rgb).transform(
        (width, height),
        Image.Transform.AFFINE,
        coefficients,
        resample=Image.Resampling.BILINEAR,
        fillcolor=(border, border, border),
    )
    return np.asarray(image)


def similarity(src: Floats, dst: Floats) -> Floats:
    """The 2x3 similarity transform (rotation, uniform scale, shift) taking ``src`` to ``dst``.

    Least squares over all point pairs (Umeyama without reflection).
    """
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    ms, md = src.mean(0), dst.mean(0)
    s, d = src - ms, dst - md
    cov = d.T @ s / len(src)
    u, sv, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rot = u @ sign @ vt
    scale = np.trace(np.diag(sv) @ sign) / max(s.var(0).sum(), 1e-12)
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rot
    matrix[:, 2] = md - matrix[:, :2] @ ms
    return matrix.astype(np.float32)


def invert(matrix: Floats) -> Floats:
    full = np.vstack([matrix, [0, 0, 1]]).astype(np.float64)
    return np.linalg.inv(full)[:2].astype(np.float32)
