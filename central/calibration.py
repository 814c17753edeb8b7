"""What a score means: how often a stranger scores this high, measured on real images.

``calibration.json`` (beside this module, written by ``hotspot bench calibrate``)
holds, for each modality, the impostor score distribution of the device's chain
and the central matcher, measured on public images (the FVC2000/2002 B sets for
fingerprints, ORL and a development half of LFW with the bench's degradations
for faces): the share of impostor pairs at or above each score (the survival
function), and above the top of what was measured a generalised Pareto fit of
the tail, each with a 95 % upper bound (Clopper-Pearson where measured, a
bootstrap of the fit beyond).

:func:`survival` turns a score into (estimate, upper bound) of one comparison's
false-match rate; :mod:`central.decision` combines the modalities that agree
and the watchlist's size into the false-match rate of the whole search.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from importlib import resources
from typing import Any

FINGERPRINT = "fingerprint"
FACE = "face"


@dataclass(frozen=True)
class Tail:
    """Survival of one comparison's impostor score: a table, then a fitted tail."""

    scores: tuple[float, ...]
    estimate: tuple[float, ...]
    upper: tuple[float, ...]
    """95 % upper bound of the survival at each score."""
    pairs: int
    """Impostor pairs measured."""
    sources: tuple[str, ...]
    floor: float = 1e-12

    def at(self, score: float) -> tuple[float, float]:
        """(estimate, 95 % upper bound) of P(impostor score >= ``score``)."""
        if score <= self.scores[0]:
            return self.estimate[0], self.upper[0]
        if score >= self.scores[-1]:
            return max(self.estimate[-1], self.floor), max(self.upper[-1], self.floor)
        lo = 0
        hi = len(self.scores) - 1
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self.scores[mid] <= score:
                lo = mid
            else:
                hi = mid
        w = (score - self.scores[lo]) / (self.scores[hi] - self.scores[lo])
        return (
            _log_interp(self.estimate[lo], self.estimate[hi], w, self.floor),
            _log_interp(self.upper[lo], self.upper[hi], w, self.floor),
        )


def _log_interp(a: float, b: float, w: float, floor: float) -> float:
    la, lb = math.log(max(a, floor)), math.log(max(b, floor))
    return math.exp(la + (lb - la) * w)


@functools.cache
def tails() -> dict[str, Tail]:
    text = resources.files("central").joinpath("calibration.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return {
        name: Tail(
            tuple(t["scores"]),
            tuple(t["estimate"]),
            tuple(t["upper"]),
            int(t["pairs"]),
            tuple(t["sources"]),
        )
        for name, t in data["modalities"].items()
    }


def survival(modality: str, score: float) -> tuple[float, float]:
    """(estimate, 95 % upper bound) of one comparison's false-match rate at ``score``."""
    return tails()[modality].at(score)


def threshold(modality: str, upper_fmr: float) -> float:
    """The lowest score whose upper-bound false-match rate is at most ``upper_fmr``."""
    tail = tails()[modality]
    for score, upper in zip(tail.scores, tail.upper, strict=True):
        if upper <= upper_fmr:
            return score
    return tail.scores[-1]
