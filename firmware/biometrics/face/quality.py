"""Face image quality on the device, after ISO/IEC 29794-5 and OFIQ's measures.

Each measure has a raw value in its natural unit (pixels, degrees, a ratio, a
grey level) and a score 0-1 from a logistic curve shaped like OFIQ's: half
way at the point where recognition starts to suffer, so that a failing
measure (score below 0.5) is worth telling the officer about. The unified
score 0-100 is the geometric mean of the measure scores times the
embedding-strength term (how far the network's raw feature is from the weak
faces' norm, the idea behind MagFace, which OFIQ uses for its unified score).

Measured here: inter-eye distance (yaw-corrected), yaw / pitch / roll from the
3-D mesh, eyes open (eye aspect ratio), mouth closed, sharpness, luminance
(under- and over-exposure, backlight), dynamic range, illumination
uniformity, a single face in view. Not measured (no model small enough for
the device yet): occlusion by a mask or hand, head coverings, expression.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from firmware.biometrics.face.detect import Detection
from firmware.biometrics.face.frames import Floats, Rgb, grey
from firmware.biometrics.face.landmarks import (
    CHIN,
    FOREHEAD,
    LEFT_EYE,
    LEFT_IRIS,
    MOUTH,
    RIGHT_EYE,
    RIGHT_IRIS,
    Mesh,
)
from firmware.text import N_

PITCH_OFFSET_DEG = -8.0
"""The forehead-chin line of a face looking into the camera is not upright in the mesh's
depth (median over ORL's 400 mostly frontal faces: -8 degrees); removed so that 0 means
looking straight at the camera."""
NORM_WEAK = 6.0
NORM_STRONG = 10.0
"""SFace raw feature norms: below ~6 the faces are mostly unusable, above ~10 well formed."""


@dataclass(frozen=True)
class Measure:
    name: str
    value: float
    score: float
    advice: str
    """What to tell the officer when this measure fails (score below 0.5)."""

    @property
    def failing(self) -> bool:
        return self.score < 0.5


@dataclass(frozen=True)
class FaceQuality:
    score: int
    """Unified quality 0-100."""
    measures: tuple[Measure, ...]

    @property
    def failing(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.measures if m.failing)

    @property
    def guidance(self) -> tuple[str, ...]:
        """Plain-words advice, worst first; empty when the shot is good."""
        bad = sorted((m for m in self.measures if m.failing), key=lambda m: m.score)
        return tuple(dict.fromkeys(m.advice for m in bad))

    def value(self, name: str) -> float:
        return next(m.value for m in self.measures if m.name == name)


def _rise(x: float, half: float, width: float) -> float:
    """0 well below ``half``, 1 well above, 0.5 at it."""
    z = (x - half) / width
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def head_pose(mesh: Mesh) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees from the mesh's 3-D points; 0, 0, 0 faces the camera."""
    p = mesh.points.astype(np.float64)
    across = p[LEFT_EYE[0]] - p[RIGHT_EYE[0]]  # subject's right eye corner to left
    down = p[CHIN] - p[FOREHEAD]
    roll = math.degrees(math.atan2(across[1], across[0]))
    yaw = math.degrees(math.atan2(across[2], math.hypot(across[0], across[1])))
    pitch = math.degrees(math.atan2(-down[2], math.hypot(down[0], down[1]))) - PITCH_OFFSET_DEG
    return yaw, pitch, roll


def _eye_ratio(p: Floats, eye: tuple[int, ...]) -> float:
    outer, inner, a, b, c, d = (p[i, :2] for i in eye)
    width = float(np.linalg.norm(outer - inner))
    return float(np.linalg.norm(a - b) + np.linalg.norm(c - d)) / (2 * max(width, 1e-6))


def _face_region(aligned: Rgb) -> Floats:
    """The grey centre of the aligned crop: brows to chin, cheek to cheek, no background."""
    g = grey(aligned)
    n = g.shape[0]
    return g[int(n * 0.25) : int(n * 0.92), int(n * 0.18) : int(n * 0.82)]


def assess(
    frame: Rgb,
    face: Detection,
    mesh: Mesh,
    aligned: Rgb,
    embedding_norm: float,
    faces_in_view: int = 1,
) -> FaceQuality:
    p = mesh.points
    yaw, pitch, roll = head_pose(mesh)
    ied = float(np.linalg.norm(p[LEFT_IRIS, :2] - p[RIGHT_IRIS, :2]))
    ied /= max(math.cos(math.radians(min(abs(yaw), 60.0))), 0.5)
    eyes = min(_eye_ratio(p, RIGHT_EYE), _eye_ratio(p, LEFT_EYE))
    corner_a, corner_b, upper, lower = (p[i, :2] for i in MOUTH)
    mouth_width = max(float(np.linalg.norm(corner_a - corner_b)), 1e-6)
    mouth = float(np.linalg.norm(upper - lower)) / mouth_width

    region = _face_region(aligned)
    lum = float(region.mean())
    contrast = float(region.std())
    lap = np.abs(
        4 * region[1:-1, 1:-1]
        - region[:-2, 1:-1]
        - region[2:, 1:-1]
        - region[1:-1, :-2]
        - region[1:-1, 2:]
    )
    sharp = float(lap.mean()) / max(contrast, 4.0) * 10
    hist = (
        np.bincount(np.clip(region, 0, 255).astype(np.int32).ravel(), minlength=256) / region.size
    )
    entropy = float(-(hist[hist > 0] * np.log2(hist[hist > 0])).sum())
    half = region.shape[1] // 2
    left, right = float(region[:, :half].mean()), float(region[:, half:].mean())
    uniform = min(left, right) / max(left, right, 1.0)
    x, y, w, h = (round(v) for v in face.box)
    mask = np.ones(frame.shape[:2], bool)
    mask[max(0, y) : max(0, y + h), max(0, x) : max(0, x + w)] = False
    background = (
        float(grey(frame[::4, ::4])[mask[::4, ::4]].mean()) if mask[::4, ::4].any() else lum
    )
    backlight = background / max(lum, 1.0)

    measures = (
        Measure(
            "inter_eye_distance",
            ied,
            _rise(ied, 28.0, 4.0),
            N_("Move closer: the face is too small in the picture."),
        ),
        Measure(
            "yaw",
            yaw,
            _rise(-abs(yaw), -25.0, 4.0),
            N_("Ask the person to face the camera: the head is turned."),
        ),
        Measure(
            "pitch",
            pitch,
            _rise(-abs(pitch), -25.0, 4.0),
            N_("Ask the person to look straight ahead, not up or down."),
        ),
        Measure(
            "roll",
            roll,
            _rise(-abs(roll), -30.0, 5.0),
            N_("Ask the person to hold the head level."),
        ),
        Measure(
            "eyes_open",
            eyes,
            _rise(eyes, 0.14, 0.025),
            N_("Ask the person to open the eyes and look at the camera."),
        ),
        Measure(
            "mouth_closed",
            mouth,
            _rise(-mouth, -0.35, 0.06),
            N_("Ask the person to close the mouth."),
        ),
        Measure(
            "sharpness",
            sharp,
            _rise(sharp, 2.0, 0.35),
            N_("Blurred: hold the device still and let it focus."),
        ),
        Measure(
            "underexposure",
            lum,
            _rise(lum, 45.0, 10.0),
            N_("Too dark: add light on the face or move to a brighter place."),
        ),
        Measure(
            "overexposure",
            lum,
            _rise(-lum, -220.0, 10.0),
            N_("Too bright: move out of direct light."),
        ),
        Measure(
            "backlight",
            backlight,
            _rise(-backlight, -2.2, 0.3),
            N_("Backlit: turn the person away from the light source."),
        ),
        Measure(
            "dynamic_range",
            entropy,
            _rise(entropy, 4.5, 0.4),
            N_("Flat light: the face has too little contrast."),
        ),
        Measure(
            "illumination_uniformity",
            uniform,
            _rise(uniform, 0.5, 0.07),
            N_("One side of the face is in shadow: turn the person towards the light."),
        ),
        Measure(
            "single_face",
            float(faces_in_view),
            1.0 if faces_in_view == 1 else 0.3,
            N_("More than one face in view: frame only the person being checked."),
        ),
        Measure(
            "embedding_strength",
            embedding_norm,
            _rise(embedding_norm, (NORM_WEAK + NORM_STRONG) / 2, 1.0),
            N_("The face is not clear enough to recognise: retake it."),
        ),
    )
    scores = np.array([max(m.score, 1e-3) for m in measures])
    unified = round(100 * float(np.exp(np.log(scores).mean())))
    return FaceQuality(unified, measures)
