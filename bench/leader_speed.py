"""Each shipped LEADER model alone, timed on this machine (``hotspot bench leader``).

Why a bench of its own: the whole-chain time in ``hotspot bench fingerprint``
mixes the network with resampling, the mask and the quality score, and a
window runs whichever size holds it, so it cannot say what one size costs or
whether a rebuild made a size faster. This times every size's model alone on
the same seeded input, and, with ``--against``, another folder of LEADER files
(an earlier release's ``models/fingerprint``) interleaved run by run, so that
the two sides share the machine's moods. The point heads (``heads.py``) are
timed at 48 minutiae, the most a template keeps.
"""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from firmware.biometrics.fingerprint import leader
from firmware.biometrics.fingerprint.pipeline import MAX_MINUTIAE
from models import Model, ModelError


class BenchError(Exception):
    """The models to time cannot be found or loaded."""


@dataclass(frozen=True)
class Timing:
    size: str
    pixels: int
    best_ms: float
    median_ms: float
    against_best_ms: float | None = None
    against_median_ms: float | None = None


def _load(path: Path, threads: int) -> Model:
    if not path.is_file():
        raise BenchError(
            f"{path} is missing: give a folder of leader_<size>_<precision>.tflite files"
        )
    try:
        return Model(path, threads)
    except ModelError as exc:
        raise BenchError(str(exc)) from None


def _clock(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return 1000 * (time.perf_counter() - started)


def run(
    sizes: list[str],
    precision: str = "dr8",
    rounds: int = 12,
    threads: int = 1,
    against: Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Best and median milliseconds of each size's model (and of ``against``'s file of the
    same name), one invoke after the other, ``rounds`` rounds; the point heads' time."""
    known = {name: (height, width) for name, height, width in leader.SIZES}
    unknown = [size for size in sizes if size not in known]
    if unknown:
        raise BenchError(f"no LEADER size {', '.join(unknown)}: choose from {', '.join(known)}")
    network = leader.MinutiaeNetwork(precision)
    rng = np.random.default_rng(0)
    timings = []
    features = None
    for size in sizes:
        height, width = known[size]
        image = rng.uniform(0, 255, (1, height, width, 1)).astype(np.float32)
        ours = network.model(size) if threads == 1 else _load(network.model(size).path, threads)
        theirs = None
        if against is not None:
            theirs = _load(against / f"leader_{size}_{precision}.tflite", threads)
        mine: list[float] = []
        other: list[float] = []
        for _ in range(rounds):
            mine.append(_clock(functools.partial(ours.run, image)))
            if theirs is not None:
                other.append(_clock(functools.partial(theirs.run, image)))
        packed = next(iter(ours.run(image).values()))[0]
        features = leader.unpack(packed)[0]
        timings.append(
            Timing(
                size,
                height * width,
                min(mine),
                statistics.median(mine),
                min(other) if other else None,
                statistics.median(other) if other else None,
            )
        )
        progress(size)
    heads_ms = None
    if features is not None:
        ys = rng.integers(0, 2 * features.shape[0], MAX_MINUTIAE)
        xs = rng.integers(0, 2 * features.shape[1], MAX_MINUTIAE)
        heads = network.heads
        heads.at(features, ys, xs)
        heads_ms = min(_clock(lambda: heads.at(features, ys, xs)) for _ in range(rounds))
    return {
        "precision": precision,
        "threads": threads,
        "rounds": rounds,
        "against": str(against) if against is not None else None,
        "models": [asdict(t) for t in timings],
        "point_heads_ms": heads_ms,
    }


def report(result: dict[str, Any]) -> str:
    against = result["against"]
    lines = [
        f"LEADER {result['precision']}, {result['threads']} thread(s), best and median of "
        f"{result['rounds']} runs each" + (f", interleaved with {against}" if against else ""),
        "",
        "| model | pixels | ms best | ms median |"
        + (" against: best | median | ours / theirs |" if against else ""),
        "|---|---|---|---|" + ("---|---|---|" if against else ""),
    ]
    for t in result["models"]:
        row = f"| {t['size']} | {t['pixels']:,} | {t['best_ms']:.1f} | {t['median_ms']:.1f} |"
        if against:
            ratio = t["best_ms"] / t["against_best_ms"]
            row += f" {t['against_best_ms']:.1f} | {t['against_median_ms']:.1f} | {ratio:.2f} |"
        lines.append(row)
    if result["point_heads_ms"] is not None:
        lines += ["", f"point heads at {MAX_MINUTIAE} minutiae: {result['point_heads_ms']:.1f} ms"]
    return "\n".join(lines)
