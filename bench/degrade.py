"""Seeded field degradations for ``hotspot bench face --degrade``.

What a handheld at a green border meets: the face far away (few pixels
between the eyes), motion or focus blur, sensor noise, dusk, and strong JPEG
compression on a bad link. Each variant is applied to every image of the set
with a seed per image, so two runs and both systems see the same pixels.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageFilter

Rgb = npt.NDArray[np.uint8]


def _small(rgb: Rgb, rng: np.random.Generator) -> Rgb:
    # About a third of the size: ORL's ~30 px between the eyes becomes ~10-12 px.
    h, w = rgb.shape[:2]
    f = rng.uniform(0.33, 0.4)
    return np.asarray(
        Image.fromarray(rgb).resize(
            (max(8, round(w * f)), max(8, round(h * f))), Image.Resampling.BILINEAR
        )
    )


def _blur(rgb: Rgb, rng: np.random.Generator) -> Rgb:
    radius = rng.uniform(1.5, 2.5) * max(rgb.shape[:2]) / 112
    return np.asarray(Image.fromarray(rgb).filter(ImageFilter.GaussianBlur(radius)))


def _noise(rgb: Rgb, rng: np.random.Generator) -> Rgb:
    noisy = rgb.astype(np.float32) + rng.normal(0, 18, rgb.shape)
    return np.asarray(np.clip(noisy, 0, 255), np.uint8)


def _low_light(rgb: Rgb, rng: np.random.Generator) -> Rgb:
    dim = rgb.astype(np.float32) * rng.uniform(0.15, 0.25)
    dim += rng.normal(0, 4, rgb.shape)  # read noise dominates in the dark
    return np.asarray(np.clip(dim, 0, 255), np.uint8)


def _jpeg(rgb: Rgb, rng: np.random.Generator) -> Rgb:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=int(rng.integers(6, 11)))
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


VARIANTS: dict[str, Callable[[Rgb, np.random.Generator], Rgb]] = {
    "small": _small,
    "blur": _blur,
    "noise": _noise,
    "low_light": _low_light,
    "jpeg": _jpeg,
}


def degrade(rgb: Rgb, variant: str, seed: int) -> Rgb:
    return VARIANTS[variant](rgb, np.random.default_rng(seed))
