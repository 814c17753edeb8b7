"""Leave one set out: each quality score's error-versus-discard on a set that chose nothing.

Our fingerprint quality has two constants chosen from data, the midpoints of its
contrast and minutiae gates (``firmware.biometrics.fingerprint.quality``); NFIQ 2
has none chosen on our data. The evaluation that counts uses sensors we do not
have, so a curve measured on the sets the constants were chosen on flatters it.
Here each set is left out in turn: both midpoints are chosen on the other sets
(from ``MIDPOINTS`` and ``MINUTIAE_MIDPOINTS``), and the left-out set's curve is
measured with them.

The choice on the other sets: the pair at least as low as NFIQ 2's curve at the
most discard fractions, then with the lowest mean error, then the stricter
(higher) contrast midpoint, since a faint print is worth retaking anyway, then the
milder (lower) minutiae midpoint. Without NFIQ 2 (NBIS not run) only the mean
error counts.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from bench import metrics
from firmware.biometrics.fingerprint import quality

Scores = npt.NDArray[np.float64]
MIDPOINTS = (8.0, 10.0, 12.0, 14.0, 16.0, 18.0)
"""Contrast-gate midpoints (grey levels) the choice is made among."""
MINUTIAE_MIDPOINTS = (12.0, 15.0, 18.0, 21.0, 24.0)
"""Minutiae-gate midpoints the choice is made among."""


@dataclass(frozen=True)
class SetQualities:
    """What one set contributes: our comparison scores and each impression's measures."""

    label: str
    genuine: Scores
    impostor: Scores
    first: npt.NDArray[np.intp]
    """Of each genuine pair, the index of one impression; ``second`` the other."""
    second: npt.NDArray[np.intp]
    measures: list[dict[str, float]]
    nfiq2: Scores | None


def ours(
    measures: list[dict[str, float]],
    midpoint: float,
    minutiae_midpoint: float = quality.MINUTIAE_GATE[0],
) -> Scores:
    """Our score of each impression with the contrast gate at ``midpoint`` and the minutiae
    gate at ``minutiae_midpoint``."""
    return np.array(
        [
            quality.unified(
                m.get("clear_share", 0.0),
                m.get("contrast", 0.0),
                m.get("finger_mm2", 0.0),
                m.get("minutiae", 0.0),
                (midpoint, quality.CONTRAST_GATE[1]),
                (minutiae_midpoint, quality.MINUTIAE_GATE[1]),
            )
            if m.get("minutiae", 0.0)
            else 0
            for m in measures
        ],
        np.float64,
    )


def curve(one: SetQualities, scores: Scores) -> dict[str, float]:
    pair_quality = np.minimum(scores[one.first], scores[one.second])
    return metrics.edc(one.genuine, pair_quality, one.impostor)


def _at_least_as_low(mine: dict[str, float], theirs: dict[str, float]) -> int:
    """How many discard fractions (0 % aside) leave ``mine`` no higher than ``theirs``."""
    return sum(mine[k] <= theirs[k] + 1e-12 for k in mine if float(k) > 0)


Curve = dict[str, float]


def _merit(
    mine: list[Curve], theirs: list[Curve | None], gates: tuple[float, float]
) -> tuple[int, float, float, float]:
    """Larger is better: fractions at least as low as NFIQ 2's, minus mean error, the contrast
    midpoint, minus the minutiae midpoint (``mine``: our curve on each set with ``gates``;
    ``theirs``: NFIQ 2's, where it ran)."""
    wins, errors = 0, []
    for ours_curve, nfiq2_curve in zip(mine, theirs, strict=True):
        errors += [v for k, v in ours_curve.items() if float(k) > 0]
        if nfiq2_curve is not None:
            wins += _at_least_as_low(ours_curve, nfiq2_curve)
    return wins, -float(np.mean(errors)), gates[0], -gates[1]


def leave_one_out(sets: list[SetQualities]) -> dict[str, dict[str, Any]]:
    """Per left-out set: the midpoints the others chose, our curve with them, NFIQ 2's."""
    out: dict[str, dict[str, Any]] = {}
    grid = list(itertools.product(MIDPOINTS, MINUTIAE_MIDPOINTS))
    # Each set's curves once, not once per fold.
    mine = {g: [curve(one, ours(one.measures, *g)) for one in sets] for g in grid}
    theirs = [None if one.nfiq2 is None else curve(one, one.nfiq2) for one in sets]
    for index, one in enumerate(sets):

        def merit(g: tuple[float, float], left: int = index) -> tuple[int, float, float, float]:
            keep = [k for k in range(len(sets)) if k != left]
            return _merit([mine[g][k] for k in keep], [theirs[k] for k in keep], g)

        gates = max(grid, key=merit)
        row: dict[str, Any] = {
            "gate_midpoint": gates[0],
            "minutiae_midpoint": gates[1],
            "edc": mine[gates][index],
        }
        if theirs[index] is not None:
            row["edc_nfiq2"] = theirs[index]
            row["fractions_at_least_as_good"] = _at_least_as_low(row["edc"], row["edc_nfiq2"])
        out[one.label] = row
    return out


def report(loso: dict[str, dict[str, Any]]) -> str:
    lines = ["Quality, leaving one set out (FNMR at FMR 1% after discarding the lowest x%):"]
    won = total = 0
    for label, row in loso.items():
        lines.append(
            f"  {label:<12} ours (contrast gate {row['gate_midpoint']:.0f}, minutiae gate "
            f"{row['minutiae_midpoint']:.0f}, chosen on the others)"
        )
        for key, title in (("edc", "our quality"), ("edc_nfiq2", "NFIQ 2")):
            if key in row:
                points = "  ".join(f"{float(k):.0%}: {v:.2%}" for k, v in row[key].items())
                lines.append(f"    {title:<12} {points}")
        if "fractions_at_least_as_good" in row:
            won += row["fractions_at_least_as_good"]
            total += len(row["edc"]) - 1
    if total:
        lines.append(f"  ours at least as low as NFIQ 2 at {won} of {total} discard fractions")
    return "\n".join(lines)
