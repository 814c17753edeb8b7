"""Verification error figures shared by the biometric benchmarks.

Scores are "higher means more alike". A comparison that could not be made
(no face found, no template) is given ``-inf``: it rejects a genuine pair and
never accepts an impostor, which is how a failure to acquire shows up for the
officer, so it is counted in the error rates rather than left out.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Scores = npt.NDArray[np.float64]


def threshold_at_fmr(impostor: Scores, fmr: float) -> float:
    """The lowest threshold whose false-match rate is at most ``fmr``."""
    ordered = np.sort(impostor)[::-1]
    allowed = int(np.floor(fmr * len(ordered)))
    if allowed >= len(ordered):
        return float("-inf")
    return float(np.nextafter(ordered[allowed], np.inf))


def fnmr_at_fmr(genuine: Scores, impostor: Scores, fmr: float) -> float:
    threshold = threshold_at_fmr(impostor, fmr)
    return float(np.mean(genuine < threshold))


def eer(genuine: Scores, impostor: Scores) -> float:
    """Equal error rate: where FNMR and FMR cross (averaged at the crossing)."""
    finite = np.concatenate([genuine, impostor])
    finite = finite[np.isfinite(finite)]
    thresholds = np.unique(np.concatenate([finite, [np.inf]]))
    gen = np.sort(genuine)
    imp = np.sort(impostor)
    fnmr = np.searchsorted(gen, thresholds, side="left") / len(gen)
    fmr = 1 - np.searchsorted(imp, thresholds, side="left") / len(imp)
    i = int(np.argmin(np.abs(fnmr - fmr)))
    return float((fnmr[i] + fmr[i]) / 2)


def verification(genuine: Scores, impostor: Scores) -> dict[str, float | int]:
    """The figures every biometric benchmark reports for one set of comparisons."""
    return {
        "genuine_pairs": int(genuine.size),
        "impostor_pairs": int(impostor.size),
        "eer": eer(genuine, impostor),
        "fnmr_at_fmr_1pct": fnmr_at_fmr(genuine, impostor, 0.01),
        "fnmr_at_fmr_01pct": fnmr_at_fmr(genuine, impostor, 0.001),
    }


def edc(
    genuine: Scores,
    genuine_quality: Scores,
    impostor: Scores,
    fmr: float = 0.01,
    fractions: tuple[float, ...] = (0.0, 0.05, 0.10, 0.20, 0.30),
) -> dict[str, float]:
    """Error-versus-discard: FNMR at the threshold fixed for ``fmr`` on the whole set,
    after discarding the genuine pairs whose lower quality is in the lowest ``x``."""
    threshold = threshold_at_fmr(impostor, fmr)
    order = np.argsort(genuine_quality, kind="stable")
    curve = {}
    for x in fractions:
        kept = order[round(x * len(order)) :]
        curve[f"{x:.2f}"] = float(np.mean(genuine[kept] < threshold)) if kept.size else 0.0
    return curve


def pair_scores(
    labels: list[str], similarity: npt.NDArray[np.float64]
) -> tuple[Scores, Scores, npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """All genuine and impostor scores from a full similarity matrix (upper triangle)."""
    ids = np.asarray(labels)
    i, j = np.triu_indices(len(ids), k=1)
    same = ids[i] == ids[j]
    return similarity[i[same], j[same]], similarity[i[~same], j[~same]], i[same], j[same]
