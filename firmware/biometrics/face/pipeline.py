"""The face chain on preview frames, and the capture window that keeps the best frame.

``FaceAnalyzer.analyse`` runs detect -> landmarks -> alignment -> embedding ->
quality on one frame. Embedding every frame costs about 9 ms but its raw norm
is the strongest single quality cue, and the chain still runs well above 15
frames per second at 640x480 on one core (``hotspot bench face`` measures it).

``CaptureWindow`` is what the capture screen uses: feed it frames for a
second or two, read the live guidance after each, and take the best frame's
result at the end.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from firmware.biometrics.face.detect import Detection, Detector, subject
from firmware.biometrics.face.embed import VERSION, Embedder, align, quantise
from firmware.biometrics.face.frames import Floats, Rgb, check_rgb
from firmware.biometrics.face.landmarks import LEFT_IRIS, RIGHT_IRIS, Landmarker, Mesh
from firmware.biometrics.face.quality import FaceQuality, assess
from firmware.biometrics.face.token import jpeg, token_image
from firmware.text import N_

NO_FACE_ADVICE = N_("No face found: point the camera at the person's face, 0.5 to 1.5 m away.")


@dataclass(frozen=True)
class FrameResult:
    detection: Detection
    mesh: Mesh
    quality: FaceQuality
    embedding: Floats
    """The network's raw 128 floats."""
    frame: Rgb
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def guidance(self) -> tuple[str, ...]:
        return self.quality.guidance

    def embedding_bytes(self) -> bytes:
        return quantise(self.embedding)

    def token_jpeg(self) -> bytes:
        p = self.mesh.points
        return jpeg(token_image(self.frame, p[RIGHT_IRIS, :2], p[LEFT_IRIS, :2]))


class FaceAnalyzer:
    """The three models, loaded once per process (``models.load`` shares them).

    TFLite interpreters are not thread-safe, so one thread at a time runs the chain:
    on the device that is the capture thread.
    """

    version = VERSION

    def __init__(self) -> None:
        self.detector = Detector()
        self.landmarker = Landmarker()
        self.embedder = Embedder()

    def analyse(self, frame: Rgb) -> FrameResult | None:
        """The frame's main face with its quality, or None when no face is found."""
        frame = check_rgb(frame)
        t0 = time.perf_counter()
        faces = self.detector.detect(frame)
        t1 = time.perf_counter()
        if not faces:
            return None
        main = subject(faces, frame.shape[0], frame.shape[1])
        peers = sum(1 for f in faces if f.box[2] * f.box[3] > 0.25 * main.box[2] * main.box[3])
        mesh = self.landmarker.landmarks(frame, main)
        t2 = time.perf_counter()
        aligned = align(frame, mesh.alignment_points())
        raw = self.embedder.raw(aligned)
        t3 = time.perf_counter()
        quality = assess(frame, main, mesh, aligned, float((raw**2).sum() ** 0.5), peers)
        t4 = time.perf_counter()
        timings = {
            "detect": (t1 - t0) * 1e3,
            "landmarks": (t2 - t1) * 1e3,
            "align_embed": (t3 - t2) * 1e3,
            "quality": (t4 - t3) * 1e3,
        }
        return FrameResult(main, mesh, quality, raw, frame, timings)


@dataclass
class CaptureWindow:
    """Frames of one capture; keeps the best-scored one."""

    analyzer: FaceAnalyzer
    frames: int = 0
    faces: int = 0
    best: FrameResult | None = None
    last: FrameResult | None = None
    """The latest frame's result (None when it held no face): the preview draws its box."""

    def feed(self, frame: Rgb) -> tuple[str, ...]:
        """Analyse one preview frame; return the guidance to show for it now."""
        self.frames += 1
        result = self.last = self.analyzer.analyse(frame)
        if result is None:
            return (NO_FACE_ADVICE,)
        self.faces += 1
        if self.best is None or result.quality.score > self.best.quality.score:
            self.best = result
        return result.guidance
