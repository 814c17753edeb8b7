"""Capture on the device: a fingerprint from the sensor, a face frame from the camera.

The fingerprint image is consumed row by row as the sensor sends it: the
officer sees progress during the seconds a UART module takes, the block
measures are done band by band, and after the last row only the minutiae
network and the quality score remain (``firmware.biometrics.fingerprint``). The face
runs the whole on-device chain (``firmware.biometrics.face``) on the preview
stream and keeps the best frame. Nothing here logs pixels: biometric data
stays in memory.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from firmware.biometrics.face.pipeline import (
    NO_FACE_ADVICE,
    CaptureWindow,
    FaceAnalyzer,
    FrameResult,
)
from firmware.biometrics.fingerprint.pipeline import FingerprintAnalyzer, FingerResult
from hal.camera.protocol import Camera
from hal.fingerprint.protocol import FingerImage, FingerprintSensor
from wire.record import Face

CAPTURE_MARKER = Path("/run/hotspot/capturing")
"""Exists while a capture runs; the update agent defers installing while it does. It is on
tmpfs, so a crash mid-capture cannot leave it behind across a reboot."""


@contextlib.contextmanager
def capturing(marker: Path | None) -> Iterator[None]:
    """Hold ``marker`` (holding this process's id) for the duration of a capture."""
    if marker is None:
        yield
        return
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"{os.getpid()}\n")
    try:
        yield
    finally:
        marker.unlink(missing_ok=True)


@dataclass(frozen=True)
class FingerCapture:
    image: FingerImage
    seconds_waiting: float
    seconds_transfer: float
    seconds_after_last_row: float
    """What the officer waits once the sensor has sent its last byte."""
    result: FingerResult
    """Minutiae, quality (score, block map, guidance) and the template source."""

    def summary(self) -> dict[str, object]:
        return {
            "image": f"{self.image.width}x{self.image.height}",
            "ppi": self.image.ppi,
            "transfer_s": round(self.seconds_transfer, 2),
            "after_last_row_ms": round(1000 * self.seconds_after_last_row),
            **self.result.summary(),
        }


RowListener = Callable[[int, npt.NDArray[np.uint8]], None]
"""Called with each row (index, pixels) as it arrives: the officer's screen draws the print."""


def capture_finger(
    sensor: FingerprintSensor,
    timeout_s: float = 10.0,
    progress: Callable[[int, int], None] | None = None,
    marker: Path | None = None,
    analyzer: FingerprintAnalyzer | None = None,
    on_row: RowListener | None = None,
) -> FingerCapture:
    """Wait for a finger, stream its image through the chain, return the analysed capture."""
    with capturing(marker):
        return _capture_finger(
            sensor, timeout_s, progress, analyzer or FingerprintAnalyzer(), on_row
        )


def _capture_finger(
    sensor: FingerprintSensor,
    timeout_s: float,
    progress: Callable[[int, int], None] | None,
    analyzer: FingerprintAnalyzer,
    on_row: RowListener | None = None,
) -> FingerCapture:
    sensor.set_led("ready")
    started = time.monotonic()
    sensor.wait_finger(timeout_s)
    imaged = time.monotonic()
    sensor.set_led("busy")
    stream = sensor.stream_image()
    chain = analyzer.stream(stream.width, stream.height, stream.ppi)
    for index, row in stream:
        chain.feed(index, row)
        if on_row is not None:
            on_row(index, row)
        if progress is not None:
            progress(index + 1, stream.height)
    received = time.monotonic()
    result = chain.finish()
    done = time.monotonic()
    sensor.set_led("ok" if result.quality.acceptable else "error")
    image = FingerImage(chain.pixels, stream.ppi)
    return FingerCapture(image, imaged - started, received - imaged, done - received, result)


@dataclass(frozen=True)
class FaceCapture:
    """The best frame of a capture window, as the record will carry it."""

    frames: int
    faces: int
    """Frames in which a face was found."""
    best_index: int
    quality: int
    """Unified face quality 0-100 of the best frame (0 when no face was found)."""
    guidance: tuple[str, ...]
    """What to tell the officer about the best frame; empty when it is good."""
    failing: tuple[str, ...]
    face: Face | None
    """Embedding, model version, quality and (when asked for) the token image."""
    frames_per_second: float

    def summary(self) -> dict[str, object]:
        return {
            "frames": self.frames,
            "faces": self.faces,
            "quality": self.quality,
            "guidance": list(self.guidance),
            "failing": list(self.failing),
            "embedding_bytes": len(self.face.embedding) if self.face else 0,
            "model": self.face.model_version if self.face else None,
            "token_image_bytes": len(self.face.token_image or b"") if self.face else 0,
            "fps": round(self.frames_per_second, 1),
        }


def capture_face(
    camera: Camera,
    frames: int = 15,
    token_image: bool = False,
    on_frame: Callable[[int, tuple[str, ...]], None] | None = None,
    analyzer: FaceAnalyzer | None = None,
    marker: Path | None = None,
) -> FaceCapture:
    """Run the face chain on ``frames`` preview frames and keep the best one.

    ``on_frame(index, guidance)`` is called after every frame, for the live hint;
    ``marker`` (normally :data:`CAPTURE_MARKER`) exists while the capture runs.
    """
    if frames < 1:
        raise ValueError("at least one frame is needed")
    with capturing(marker):
        return _capture_face(camera, frames, token_image, on_frame, analyzer)


def _capture_face(
    camera: Camera,
    frames: int,
    token_image: bool,
    on_frame: Callable[[int, tuple[str, ...]], None] | None,
    analyzer: FaceAnalyzer | None,
) -> FaceCapture:
    window = CaptureWindow(analyzer or FaceAnalyzer())
    camera.open()
    best_index = -1
    started = time.monotonic()
    for index in range(frames):
        before = window.best
        guidance = window.feed(camera.capture().pixels)
        if window.best is not before:
            best_index = index
        if on_frame:
            on_frame(index, guidance)
    rate = frames / max(time.monotonic() - started, 1e-6)
    best = window.best
    if best is None:
        return FaceCapture(frames, 0, -1, 0, (NO_FACE_ADVICE,), ("face_found",), None, rate)
    face = face_record(best, window.analyzer.version, token_image)
    return FaceCapture(
        frames,
        window.faces,
        best_index,
        best.quality.score,
        best.guidance,
        best.quality.failing,
        face,
        rate,
    )


def face_record(best: FrameResult, model_version: str, token_image: bool) -> Face:
    """What a record carries of the best frame: the embedding, never the frame itself
    (only the small ICAO token image, where the configuration asks for it)."""
    return Face(
        embedding=best.embedding_bytes(),
        model_version=model_version,
        quality=best.quality.score,
        token_image=best.token_jpeg() if token_image else None,
    )
