"""Synthetic impressions and one shared analyzer for the fingerprint tests."""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt

from firmware.biometrics.fingerprint.pipeline import FingerprintAnalyzer
from hal.phantoms import fingerprint as fp

Grey = npt.NDArray[np.uint8]


@functools.cache
def analyzer() -> FingerprintAnalyzer:
    return FingerprintAnalyzer()


@functools.cache
def impression(finger: int, index: int, difficulty: float = 0.2) -> Grey:
    image = fp.impression(fp.identity(finger, seed=21), index, difficulty=difficulty)
    image.setflags(write=False)
    return image
