"""Camera frames with a face in them, from an image that a package ships.

The base image is scikit-image's ``astronaut`` (NASA, public domain; shipped
inside the scikit-image wheel, so no download). Variations are rendered from
it: scale (distance to the camera), shift, in-plane roll, exposure, blur and
sensor noise, placed on a 640x480 canvas like a handheld preview frame.

Realism limits: it is always the same person, lit the same way; out-of-plane
head turns (yaw, pitch), closed eyes and occlusions cannot be rendered from a
single photograph; the background is the photograph's own, stretched at the
borders. Good for exercising the capture chain and its guidance, not for
measuring recognition accuracy.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

RgbFrame = npt.NDArray[np.uint8]


@functools.lru_cache(maxsize=1)
def base_image() -> RgbFrame:
    """The astronaut portrait, 512x512 RGB."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut(), dtype=np.uint8)  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class FrameVariation:
    """How one rendered frame differs from the base photograph."""

    scale: float = 1.0
    """1.0 fills the frame's height with the portrait; 0.4 is a face far away."""
    dx: float = 0.0
    dy: float = 0.0
    roll_deg: float = 0.0
    exposure: float = 1.0
    """Multiplies the light: 0.3 is a dark scene, 2.0 blown out."""
    blur_sigma: float = 0.0
    noise_sigma: float = 0.0


def render(
    variation: FrameVariation = FrameVariation(),
    size: tuple[int, int] = (480, 640),
    seed: int = 0,
) -> RgbFrame:
    """One RGB frame of shape ``(height, width, 3)``, dtype uint8."""
    base = base_image().astype(np.float64)
    h, w = size
    bh, bw = base.shape[:2]
    zoom = variation.scale * h / bh
    a = np.deg2rad(variation.roll_deg)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    cy, cx = (h - 1) / 2 + variation.dy, (w - 1) / 2 + variation.dx
    ry = ((yy - cy) * np.cos(a) + (xx - cx) * np.sin(a)) / zoom
    rx = (-(yy - cy) * np.sin(a) + (xx - cx) * np.cos(a)) / zoom
    sy, sx = ry + (bh - 1) / 2, rx + (bw - 1) / 2
    frame = np.stack(
        [
            ndimage.map_coordinates(base[..., c], [sy, sx], order=1, mode="nearest")
            for c in range(3)
        ],
        axis=-1,
    )
    frame *= variation.exposure
    if variation.blur_sigma > 0:
        frame = ndimage.gaussian_filter(frame, (variation.blur_sigma, variation.blur_sigma, 0))
    if variation.noise_sigma > 0:
        rng = np.random.default_rng(seed)
        frame += rng.normal(0, variation.noise_sigma, frame.shape)
    return np.asarray(np.clip(frame, 0, 255), dtype=np.uint8)


class PhantomFaceSource:
    """Preview frames of a person in front of the camera who moves a little."""

    def __init__(self, size: tuple[int, int] = (480, 640), seed: int = 0) -> None:
        self._size = size
        self._rng = np.random.default_rng(seed)
        self._count = 0

    def next_frame(self) -> RgbFrame:
        r = self._rng
        variation = FrameVariation(
            scale=float(r.uniform(0.75, 0.95)),
            dx=float(r.normal(0, 12)),
            dy=float(r.normal(0, 8)),
            roll_deg=float(r.normal(0, 3)),
            exposure=float(r.uniform(0.85, 1.1)),
            blur_sigma=float(abs(r.normal(0, 0.6))),
            noise_sigma=3.0,
        )
        self._count += 1
        return render(variation, self._size, seed=self._count)
