"""``hotspot bench calibrate``: measure what scores mean, on real images, for the central decision.

For fingerprints, the device's chain (LEADER minutiae, ISO/IEC 19794-2 records)
and the central matcher (MCC) score every pair of the FVC2000/2002 B images:
pairs of one finger are genuine, every other pair an impostor (within and across
sensors, as a watchlist enrolled elsewhere meets the handheld's sensor) — except
pairs of two sets with the same finger number, which are left out of both. The
sets were not all taken from different people: all 495 "impostor" pairs above
0.08 in the first calibration were FVC2000 DB1_B and DB2_B images of the same
finger number (the same volunteers' fingers on two sensors), and counted as
impostors they made the matcher's tail look a hundred times heavier than it is. For
faces, the device's chain embeds every image of ORL and of the LFW development
half, clean and with each of the bench's degradations, and every pair of two
people is an impostor.

Written to ``central/calibration.json`` (``--out``): per modality, the survival
of the impostor scores on a grid (the share of impostor pairs at or above each
score) with a 95 % Clopper-Pearson upper bound where it is measured, and beyond
the last well-measured score a generalised Pareto fit of the tail's excesses,
its upper bound from a bootstrap of the fit. Genuine scores are kept as
quantiles, for the identification rate the benchmark reports.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

Floats = npt.NDArray[np.float64]
Progress = Callable[[str, int, int], None]
MEASURED_MIN_EXCEEDANCES = 20
"""Below this many impostor pairs above a score, the table hands over to the fitted tail."""
TAIL_EXCEEDANCES = 400
"""The tail is fitted to the excesses of this many highest impostor scores."""
BOOTSTRAP = 300


def clopper_pearson_upper(k: int, n: int, confidence: float = 0.95) -> float:
    if k >= n:
        return 1.0
    return float(stats.beta.ppf(confidence, k + 1, n - k))


def survival_table(impostor: Floats, grid: Floats) -> tuple[list[float], list[float], list[int]]:
    ordered = np.sort(impostor)
    n = ordered.size
    above = n - np.searchsorted(ordered, grid, side="left")
    estimate = [float(k / n) for k in above]
    upper = [clopper_pearson_upper(int(k), n) for k in above]
    return estimate, upper, [int(k) for k in above]


def tail_fit(impostor: Floats, grid: Floats, rng: np.random.Generator) -> tuple[Floats, Floats]:
    """(estimate, 95 % upper) of the survival at ``grid`` from a generalised Pareto fit to
    the excesses over the ``TAIL_EXCEEDANCES``-th highest impostor score."""
    ordered = np.sort(impostor)
    n = ordered.size
    u = ordered[n - TAIL_EXCEEDANCES - 1]
    excess = ordered[n - TAIL_EXCEEDANCES :] - u
    base = TAIL_EXCEEDANCES / n
    base_upper = clopper_pearson_upper(TAIL_EXCEEDANCES, n)
    shape, _loc, scale = stats.genpareto.fit(excess, floc=0.0)
    ahead = np.clip(grid - u, 0.0, None)
    estimate = base * stats.genpareto.sf(ahead, shape, 0.0, scale)
    boots = np.empty((BOOTSTRAP, grid.size))
    for b in range(BOOTSTRAP):
        sample = rng.choice(excess, excess.size, replace=True)
        c, _l, s = stats.genpareto.fit(sample, floc=0.0)
        boots[b] = stats.genpareto.sf(ahead, c, 0.0, s)
    upper = base_upper * np.quantile(boots, 0.95, axis=0)
    return estimate, upper


def calibrate_scores(
    name: str, impostor: Floats, genuine: Floats, sources: list[str], step: float
) -> dict[str, Any]:
    rng = np.random.default_rng(2026)
    # The table runs to the top of the score range (both scores end at 1), so that the fitted
    # tail keeps falling past the last score measured rather than stopping at its value there.
    top = 1.0
    grid = np.round(np.arange(float(np.quantile(impostor, 0.5)), top + step, step), 6)
    estimate, upper, counts = survival_table(impostor, grid)
    fit_estimate, fit_upper = tail_fit(impostor, grid, rng)
    measured_to = 0
    for index, count in enumerate(counts):
        if count >= MEASURED_MIN_EXCEEDANCES:
            measured_to = index
    est = [estimate[i] if i <= measured_to else float(fit_estimate[i]) for i in range(grid.size)]
    upp = [
        upper[i] if i <= measured_to else max(float(fit_upper[i]), float(fit_estimate[i]))
        for i in range(grid.size)
    ]
    # The survival never rises with the score, and an upper bound never falls under its estimate.
    for i in range(1, grid.size):
        est[i] = min(est[i], est[i - 1])
        upp[i] = min(upp[i], upp[i - 1])
    upp = [max(u, e) for u, e in zip(upp, est, strict=True)]
    keep = [i for i in range(grid.size) if est[i] >= 1e-14 or i == 0]
    return {
        "pairs": int(impostor.size),
        "genuine_pairs": int(genuine.size),
        "measured_to": float(grid[measured_to]),
        "sources": sources,
        "scores": [float(grid[i]) for i in keep],
        "estimate": [est[i] for i in keep],
        "upper": [upp[i] for i in keep],
        "genuine_quantiles": {
            str(q): float(np.quantile(genuine, q)) for q in (0.01, 0.05, 0.1, 0.5)
        }
        if genuine.size
        else {},
        "impostor_max": float(impostor.max()),
    }


# -- fingerprints ---------------------------------------------------------------------------


def _extract(job: tuple[str, int, int, str, int]) -> tuple[str, int, int, bytes]:
    from bench.fingerprint import load_image
    from firmware.biometrics.fingerprint.pipeline import FingerprintAnalyzer

    label, finger, impression, path, ppi = job
    analyzer = _ANALYZER.get("a") or _ANALYZER.setdefault("a", FingerprintAnalyzer())
    result = analyzer.analyse(load_image(Path(path)), ppi)
    return label, finger, impression, result.record(0).encode()


_ANALYZER: dict[str, Any] = {}


def fingerprint_scores(
    root: Path, progress: Progress | None, workers: int
) -> tuple[Floats, Floats, list[str]]:
    from bench.fingerprint import NAME, discover, ppi_of
    from central import fingerprint_matcher as fpm
    from central.gallery import prepared_views

    jobs = []
    for label, folder in discover(root):
        for path in sorted(folder.iterdir()):
            match = NAME.match(path.name)
            if match:
                jobs.append(
                    (
                        label,
                        int(match.group(1)),
                        int(match.group(2)),
                        str(path),
                        ppi_of(label, None),
                    )
                )
    records = []
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        for done, item in enumerate(pool.imap(_extract, jobs, chunksize=8), start=1):
            records.append(item)
            if progress:
                progress("fingerprint templates", done, len(jobs))
    prepared = [prepared_views(r[3])[0][1] for r in records]
    identity = [(r[0], r[1]) for r in records]
    fpm.warm_up()
    genuine, impostor = [], []
    total = len(prepared) * (len(prepared) - 1) // 2
    done = 0
    for i in range(len(prepared)):
        for j in range(i + 1, len(prepared)):
            if identity[i] != identity[j] and identity[i][1] == identity[j][1]:
                continue  # same finger number in two sets: perhaps the same finger (see above)
            score = float(fpm.match(prepared[i], prepared[j])[0])
            (genuine if identity[i] == identity[j] else impostor).append(score)
        done += len(prepared) - i - 1
        if progress:
            progress("fingerprint pairs", done, total)
    sets = sorted({r[0] for r in records})
    return np.array(impostor), np.array(genuine), [f"FVC {s} B" for s in sets]


# -- faces --------------------------------------------------------------------------------


def face_scores(folders: list[Path], progress: Progress | None) -> tuple[Floats, Floats, list[str]]:
    from bench.degrade import VARIANTS, degrade
    from bench.face import load_set
    from firmware.biometrics.face.pipeline import FaceAnalyzer
    from wire import face as face_wire

    analyzer = FaceAnalyzer()
    samples = [(folder.name, s) for folder in folders for s in load_set(folder)]
    genuine, impostor = [], []
    for variant in ["clean", *VARIANTS]:
        vectors, people = [], []
        for index, (folder, sample) in enumerate(samples):
            rgb = sample.rgb if variant == "clean" else degrade(sample.rgb, variant, index)
            result = analyzer.analyse(rgb)
            if result is not None:
                vectors.append(face_wire.decode(result.embedding_bytes()))
                people.append(f"{folder}/{sample.identity}")
            if progress:
                progress(f"face embeddings, {variant}", index + 1, len(samples))
        matrix = np.stack(vectors)
        sims = matrix @ matrix.T
        i, j = np.triu_indices(len(vectors), k=1)
        same = np.array(people)[i] == np.array(people)[j]
        genuine.append(sims[i, j][same])
        impostor.append(sims[i, j][~same])
    names = [f"{folder.name} (clean and {', '.join(VARIANTS)})" for folder in folders]
    return np.concatenate(impostor), np.concatenate(genuine), names


def run(
    fvc: Path | None,
    faces: list[Path],
    progress: Progress | None = None,
    workers: int = 2,
    only: str | None = None,
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Measure both modalities, or ``only`` one and keep the other from ``previous``."""
    started = time.time()
    modalities: dict[str, Any] = dict(previous["modalities"]) if previous and only else {}
    if only in (None, "fingerprint"):
        assert fvc is not None
        impostor, genuine, sources = fingerprint_scores(fvc, progress, workers)
        modalities["fingerprint"] = calibrate_scores(
            "fingerprint", impostor, genuine, sources, 0.001
        )
        modalities["fingerprint"]["made"] = time.strftime("%Y-%m-%d")
    if only in (None, "face"):
        impostor, genuine, sources = face_scores(faces, progress)
        modalities["face"] = calibrate_scores("face", impostor, genuine, sources, 0.005)
        modalities["face"]["made"] = time.strftime("%Y-%m-%d")
    return {
        "made_by": "hotspot bench calibrate",
        "seconds": round(time.time() - started),
        "modalities": modalities,
    }


def write(result: dict[str, Any], out: Path) -> None:
    out.write_text(json.dumps(result, indent=1) + "\n")
