"""Synthetic impressions and one shared analyzer for the fingerprint tests."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

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


def bench(command: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """``hotspot bench COMMAND ARGS`` in a child process, as a person runs it."""
    return subprocess.run(
        [sys.executable, "-m", "hotspot", "bench", command, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
