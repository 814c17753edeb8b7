"""Capture on the device: a fingerprint from the sensor, a face frame from the camera.

The fingerprint image is consumed row by row as the sensor sends it, so the
officer sees progress during the seconds a UART module takes and the work
after the last row is small. Until the quality models land (issues 3 and 5)
the figures reported here are signal measures — foreground coverage, ridge
contrast, sharpness, exposure — never pixels: biometric data stays in memory.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from hal.camera.protocol import Camera
from hal.fingerprint.protocol import FingerImage, FingerprintSensor

BLOCK = 16


@dataclass(frozen=True)
class FingerCapture:
    image: FingerImage
    seconds_waiting: float
    seconds_transfer: float
    coverage: float
    """Fraction of 16x16 blocks with ridge structure."""
    contrast: float
    """Median grey-level standard deviation inside the covered blocks."""

    def summary(self) -> dict[str, float | int | str]:
        return {
            "image": f"{self.image.width}x{self.image.height}",
            "ppi": self.image.ppi,
            "transfer_s": round(self.seconds_transfer, 2),
            "coverage": round(self.coverage, 3),
            "contrast": round(self.contrast, 1),
        }


def block_stats(pixels: npt.NDArray[np.uint8]) -> tuple[float, float]:
    """(coverage, contrast) from 16x16 block standard deviations."""
    h, w = pixels.shape
    hb, wb = h // BLOCK, w // BLOCK
    blocks = pixels[: hb * BLOCK, : wb * BLOCK].astype(np.float32)
    blocks = blocks.reshape(hb, BLOCK, wb, BLOCK).transpose(0, 2, 1, 3).reshape(hb, wb, -1)
    std = blocks.std(axis=2)
    covered = std > 20.0
    coverage = float(covered.mean()) if covered.size else 0.0
    contrast = float(np.median(std[covered])) if covered.any() else 0.0
    return coverage, contrast


def capture_finger(
    sensor: FingerprintSensor,
    timeout_s: float = 10.0,
    progress: Callable[[int, int], None] | None = None,
) -> FingerCapture:
    sensor.set_led("ready")
    started = time.monotonic()
    sensor.wait_finger(timeout_s)
    imaged = time.monotonic()
    sensor.set_led("busy")
    image = sensor.stream_image().collect(progress)
    done = time.monotonic()
    coverage, contrast = block_stats(image.pixels)
    sensor.set_led("ok")
    return FingerCapture(image, imaged - started, done - imaged, coverage, contrast)


@dataclass(frozen=True)
class FaceCapture:
    frames: int
    best_index: int
    sharpness: float
    """Variance of the Laplacian of the best frame's grey image."""
    exposure: float
    """Mean grey level of the best frame, 0-255."""


def capture_face(camera: Camera, frames: int = 10) -> FaceCapture:
    """Take ``frames`` preview frames and keep the sharpest."""
    if frames < 1:
        raise ValueError("at least one frame is needed")
    camera.open()
    best = (-1.0, 0, 0.0)
    for index in range(frames):
        rgb = camera.capture().pixels.astype(np.float32)
        grey = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        sharpness = float(ndimage.laplace(grey).var())
        if sharpness > best[0]:
            best = (sharpness, index, float(grey.mean()))
    return FaceCapture(frames, best[1], round(best[0], 1), round(best[2], 1))
