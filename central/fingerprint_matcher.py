"""Minutiae matching: Minutia Cylinder-Code local structures, relaxed global consolidation.

Cappelli, Ferrara and Maltoni, "Minutia Cylinder-Code" (IEEE TPAMI 2010),
bit-based variant, vectorised with numpy:

1. **Cylinders.** Around each minutia, a cylinder of 16 x 16 spatial cells
   (radius 70 px at 500 ppi) by 6 direction sections, turned to the minutia's
   own direction, records which neighbours lie near each cell with which
   relative direction. A cell is valid inside the radius and inside the
   minutiae's convex hull grown by 50 px (outside it nothing was seen, so
   silence means nothing). Each cylinder is 1,536 value bits and 1,536
   validity bits, packed into 24 + 24 64-bit words.
2. **Local similarity.** For two minutiae whose directions differ by less
   than 90 degrees: one minus the normalised Hamming distance of their bits
   over the cells valid in both, when at least 60 % of the cells are.
3. **Global score (LSS-R).** The most similar minutia pairs are relaxed
   against each other: a pair keeps its weight as far as the other pairs
   agree with it on distance, relative direction and radial angle. The score
   is the mean relaxed similarity of the most efficient pairs (the number
   grows with the smaller template, 4 to 12), so a handful of chance
   agreements cannot score high.

The heavy loops are compiled with numba: step 1's cylinders in
:mod:`central.cylinder_kernel`, one call a template (as whole-array numpy they were
5-8 ms a template of 35-48 minutiae, compiled and visiting only the cells each
neighbour reaches about 0.45 ms, to the same bits), and steps 2 and 3 in
:mod:`central.fingerprint_kernel` (as array operations a comparison was some 70
numpy calls and 250 µs, compiled it is 25-65 µs for templates of 20-40
minutiae). The same kernel
serves 1:1 and 1:N: :class:`Gallery` stores templates end to end and compares
a probe with all of them in one call.
Scores (0..1) map to an estimated false-match rate through
``central.matching``'s calibration table, measured by ``hotspot bench fingerprint``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from central import cylinder_kernel
from central import fingerprint_kernel as kernel
from wire.iso19794_2 import Minutia

FloatArray = npt.NDArray[np.float64]
Words = npt.NDArray[np.uint64]

RADIUS = 70.0
NS = 16
ND = 6
SIGMA_S = 28.0 / 3.0
SIGMA_D = 2.0 * np.pi / 9.0
MU_PSI = 0.01
HULL_OFFSET = 50.0
MIN_VALID_CELLS = 0.75
MIN_NEIGHBOURS = 2
MIN_MATCHABLE = 0.60
"""Share of a full cylinder's cells that must be valid in both for a local similarity."""
MIN_MINUTIAE = kernel.MIN_MINUTIAE
_DELTA_S = 2.0 * RADIUS / NS
_DELTA_D = 2.0 * np.pi / ND
_WORDS = NS * NS * ND // 64
_GRID = (np.arange(1, NS + 1) - (NS + 1) / 2.0) * _DELTA_S
_CELL_X, _CELL_Y = (a.reshape(-1) for a in np.meshgrid(_GRID, _GRID, indexing="xy"))
_IN_RADIUS = np.hypot(_CELL_X, _CELL_Y) <= RADIUS
_SECTIONS: FloatArray = np.asarray(-np.pi + (np.arange(1, ND + 1) - 0.5) * _DELTA_D, np.float64)
_MIN_COMMON = int(np.ceil(MIN_MATCHABLE * _IN_RADIUS.sum() * ND))
"""Validity bits two cylinders must share to be compared."""


def wrap(a: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.floating[Any]]:
    """Angles folded into [-pi, pi]: by rounding, several times faster than a float modulo."""
    return np.asarray(a - (2 * np.pi) * np.rint(a * (0.5 / np.pi)))


@dataclass(frozen=True)
class Prepared:
    """A template ready for matching; its cylinders are built on first use (0.5-2.5 ms), so
    the 1:N index, which needs only positions and directions, can take thousands cheaply."""

    xy: FloatArray
    """(n, 2) at 500 ppi, y pointing up."""
    angle: FloatArray

    @property
    def size(self) -> int:
        return int(self.xy.shape[0])

    @functools.cached_property
    def _cylinders(self) -> tuple[Words, Words]:
        return cylinders(self.xy, self.angle)

    @property
    def bits(self) -> Words:
        """(n, 24) cylinder value bits."""
        return self._cylinders[0]

    @property
    def valid(self) -> Words:
        """(n, 24) cylinder validity bits; all zero for an invalid cylinder."""
        return self._cylinders[1]


def prepare(minutiae: Sequence[Minutia], ppi: float = 500.0) -> Prepared:
    """A template for matching; coordinates scaled to 500 ppi, y pointing up."""
    scale = 500.0 / ppi
    xy = np.array([(m.x * scale, -m.y * scale) for m in minutiae], dtype=np.float64).reshape(-1, 2)
    angle = np.array([m.angle for m in minutiae], dtype=np.float64)
    return Prepared(xy, angle)


def cylinders(xy: FloatArray, angle: FloatArray) -> tuple[Words, Words]:
    """(value bits, validity bits) of every minutia's cylinder, 24 words each."""
    n = xy.shape[0]
    if n == 0:
        empty = np.zeros((0, _WORDS), np.uint64)
        return empty, empty.copy()
    equations = _hull(xy)
    return cylinder_kernel.cylinder_set(
        xy,
        angle,
        np.cos(angle),
        np.sin(angle),
        _CELL_X,
        _CELL_Y,
        np.zeros((0, 3)) if equations is None else equations,
        equations is not None,
        _SECTIONS,
        SIGMA_S,
        SIGMA_D,
        MU_PSI,
        NS,
        _DELTA_S,
        HULL_OFFSET,
        _IN_RADIUS,
        RADIUS + 3 * SIGMA_S,
        MIN_VALID_CELLS * float(_IN_RADIUS.sum()),
        MIN_NEIGHBOURS,
    )


def _hull(xy: FloatArray) -> FloatArray | None:
    """Qhull's equations of the minutiae's convex hull (faces, 3: normal . p + offset <= 0
    inside), or None where there is no area (fewer than three, or collinear): then a
    cylinder's radius alone bounds its valid cells."""
    if xy.shape[0] < 3:
        return None
    from scipy.spatial import ConvexHull, QhullError

    try:
        return np.ascontiguousarray(ConvexHull(xy).equations)
    except QhullError:
        return None


class Gallery:
    """Templates stored end to end for one-to-many comparison: no padding, one compiled loop."""

    def __init__(self, templates: Sequence[Prepared]) -> None:
        self.size = len(templates)
        counts = np.array([t.size for t in templates], dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.xy = np.concatenate([t.xy for t in templates] + [np.zeros((0, 2))])
        self.angle = np.concatenate([t.angle for t in templates] + [np.zeros(0)])
        self.bits = np.concatenate([t.bits for t in templates] + [np.zeros((0, _WORDS), np.uint64)])
        self.valid = np.concatenate(
            [t.valid for t in templates] + [np.zeros((0, _WORDS), np.uint64)]
        )

    def scores(self, probe: Prepared) -> FloatArray:
        """Score of ``probe`` against every template, 0..1."""
        if self.size == 0:
            return np.zeros(0)
        return np.asarray(
            kernel.score_many(
                probe.xy,
                probe.angle,
                probe.bits,
                probe.valid,
                _MIN_COMMON,
                self.xy,
                self.angle,
                self.bits,
                self.valid,
                self.starts,
            )
        )


def warm_up() -> None:
    """Compile (or load from numba's cache) the kernel now, so the first real check is not
    the one that waits for it (seconds on a cold cache)."""
    ring = np.linspace(0, 2 * np.pi, MIN_MINUTIAE * 2, endpoint=False)
    template = Prepared(np.stack([60 * np.cos(ring), 60 * np.sin(ring)], axis=1), ring)
    match(template, template)
    Gallery([template]).scores(template)


def match(a: Prepared, b: Prepared) -> tuple[float, int]:
    """(score 0..1, minutiae pairs that carried it) of two prepared templates."""
    if a.size < kernel.MIN_MINUTIAE or b.size < kernel.MIN_MINUTIAE:
        return 0.0, 0
    score = kernel.score(
        a.xy, a.angle, a.bits, a.valid, b.xy, b.angle, b.bits, b.valid, _MIN_COMMON
    )
    return float(score), int(kernel.consolidated_pairs(min(a.size, b.size)))


@dataclass(frozen=True)
class Calibration:
    """Maps a score to an estimated false-match rate from impostor scores."""

    impostor_scores: FloatArray

    def fmr(self, score: float) -> float:
        """Fraction of impostor comparisons scoring at least ``score`` (bounded below)."""
        n = self.impostor_scores.size
        above = int(np.count_nonzero(self.impostor_scores >= score))
        return max(above, 1) / (n + 1) if above else 1.0 / (n + 1)

    def threshold(self, fmr: float) -> float:
        """The score above which the estimated false-match rate is at most ``fmr``."""
        ordered = np.sort(self.impostor_scores)[::-1]
        index = int(np.floor(fmr * ordered.size))
        return float(ordered[min(index, ordered.size - 1)]) + 1e-9
