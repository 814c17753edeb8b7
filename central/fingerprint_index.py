"""Pre-selection for 1:N fingerprint search: an inverted index of minutia triplets.

Comparing a probe with every watchlist finger by the full matcher costs about
40 µs a pair once the finger's cylinders exist (and 0.5-2.5 ms to build them), so
100,000 people would take seconds, and minutes on a cold cache. The index looks at
every finger of the watchlist, but cheaply, and hands the full matcher a short
list (Germain et al.'s FLASH, Bhanu and Tan's triplet indexing, adapted):

* **Keys.** Each minutia and every two of its four nearest neighbours form a
  triplet, described by what survives rotation and translation: the two
  distances, the directions towards the two neighbours relative to the
  minutia's own direction, and the two neighbours' directions relative to it.
  Quantised (8 px, 15 degrees, 45 degrees) and hashed, each triplet is a key;
  a watchlist finger is filed under its keys (about 240 of them).
* **Tolerance.** A probe's distances and directions are a few pixels and
  degrees off the enrolled ones, so a probe triplet also looks in the
  neighbouring bin of each of its four finer measures (16 keys per triplet);
  the enrolled side stores each triplet once, which keeps the index small.
* **Votes, then consistency.** Every watchlist finger gets one vote per shared
  key. The best-voted few hundred are re-scored by their largest group of
  votes that agree on one rotation (a genuine mate's triplets all imply the
  same finger rotation; chance collisions scatter), normalised by the square
  root of the finger's key count so fingers with many minutiae do not win by
  size alone.

Measured with the LEADER extractor on the eight FVC2000/2002 B sets (first
impression of each of the 80 fingers enrolled among 20,000 synthetic fingers
from ``bench.population``, the 560 other impressions searched): the mate is
first in 85 % of searches, in the top 3 in 94 % and among the 300 re-scored
in 96 %, at 2 ms a search. The full matcher over every template of a 3,080-
finger gallery ranks the mate first in 88 %; 2.7 % of searches are ones it
gets right and the top 3 miss (``hotspot bench fingerprint`` reports this per
set as ``preselection_lost``). Among 100,000 synthetic fingers the mate is
first in 70 % and in the top 3 in 79 %, at 2.5 ms a search on one core.

Memory: 4 bytes per key and 32 MB per finger position, so 100,000 people with
two fingers each take about 260 MB. An index is immutable; the gallery
(:mod:`central.gallery`) keeps a large one and a small, sparse one of the
fingers added since, and folds the small one into a new large one beside the
serving one when it grows. Keys are computed by compiled code
(:mod:`central.gallery_kernel`) for enrolment and probe alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from central import gallery_kernel
from central.fingerprint_matcher import Prepared

IntArray = npt.NDArray[np.int64]

NEIGHBOURS = 4
DIST_BIN = 8.0
DIR_BINS = 24  # 15 degrees
RIDGE_BINS = 8  # 45 degrees
ROTATION_BINS = 16
HASH_BITS = 22
SHORTLIST_VOTES = 300
"""How many best-voted fingers are re-scored for rotation consistency."""

_TWO_PI = 2 * np.pi
_GOLDEN = 2654435761


@dataclass(frozen=True)
class Candidate:
    finger: int
    """Index of the finger in the list the index was built from."""
    score: float


def _triplets(p: Prepared) -> tuple[npt.NDArray[np.float64], IntArray]:
    """(t, 6) triplet measures in bin units, and the central minutia of each (compiled, so
    that enrolment and probe compute bit for bit the same measures on any machine)."""
    measures, centres = gallery_kernel.triplets(p.xy, p.angle)
    return measures, centres


def _key(q: IntArray) -> IntArray:
    """Hash quantised measures (..., 6) to a bucket."""
    c = np.minimum(q[..., 0], 31)
    c = c * 32 + np.minimum(q[..., 1], 31)
    c = c * DIR_BINS + q[..., 2] % DIR_BINS
    c = c * DIR_BINS + q[..., 3] % DIR_BINS
    c = c * RIDGE_BINS + q[..., 4] % RIDGE_BINS
    c = c * RIDGE_BINS + q[..., 5] % RIDGE_BINS
    return np.asarray((c * _GOLDEN) % (1 << HASH_BITS), dtype=np.int64)


def _angle_units(angle: npt.NDArray[np.float64]) -> npt.NDArray[np.uint8]:
    return np.asarray(np.round(np.mod(angle, _TWO_PI) * (256 / _TWO_PI)) % 256, dtype=np.uint8)


def enrolled_keys(p: Prepared) -> tuple[IntArray, npt.NDArray[np.uint8]]:
    """One key per triplet, and the direction of its central minutia (1/256 turns)."""
    measures, centres = _triplets(p)
    return _key(np.floor(measures).astype(np.int64)), _angle_units(p.angle[centres])


def probe_keys(p: Prepared) -> tuple[IntArray, npt.NDArray[np.uint8]]:
    """Sixteen keys per triplet: each finer measure in its own bin or the nearer neighbour bin."""
    measures, centres = _triplets(p)
    base = np.floor(measures).astype(np.int64)
    nearer = base[:, :4] + np.where(measures[:, :4] - base[:, :4] >= 0.5, 1, -1)
    keys = []
    for combo in range(16):
        q = base.copy()
        for dim in range(4):
            if combo >> dim & 1:
                q[:, dim] = nearer[:, dim]
        keys.append(_key(q))
    angles = np.tile(_angle_units(p.angle[centres]), 16)
    return np.concatenate(keys), angles


Keyed = tuple[IntArray, npt.NDArray[np.uint8]]
"""A finger's enrolled keys and their minutiae's directions (:func:`enrolled_keys`)."""


def keyed(p: Prepared) -> Keyed:
    """A finger's enrolled keys, compiled (what the gallery files it under)."""
    keys, angles = gallery_kernel.enrolled_keys(p.xy, p.angle)
    return keys, angles


def probed(p: Prepared) -> Keyed:
    """A probe's keys, compiled (:func:`probe_keys` bit for bit, in a third of the time:
    its sixteen numpy passes were half a millisecond of every two-finger check)."""
    keys, angles = gallery_kernel.probe_keys(p.xy, p.angle)
    return keys, angles


class FingerprintIndex:
    """Every watchlist finger filed under its triplet keys, one shard per finger position.

    A probe of a known position reads only its position's shard (and that of
    fingers enrolled without a position), so a watchlist with two fingers per
    person costs a search no more than one with a single finger. ``numbers`` are
    the fingers' own numbers (what :class:`Candidate` reports; by default their
    order); ``sparse`` files a few fingers in sorted arrays instead of the dense
    bucket table, so that a small index (the gallery's recent additions) costs
    kilobytes, not 32 MB a position.
    """

    def __init__(
        self,
        fingers: list[Prepared] | None = None,
        positions: list[int] | None = None,
        *,
        keys: Sequence[Keyed] | None = None,
        numbers: list[int] | None = None,
        sparse: bool = False,
    ) -> None:
        if keys is None:
            keys = [keyed(f) for f in fingers or []]
        positions = positions or []
        if len(keys) != len(positions):
            raise ValueError("one position per finger")
        ids = list(range(len(keys))) if numbers is None else numbers
        by_position: dict[int, list[int]] = {}
        for local, position in enumerate(positions):
            by_position.setdefault(position, []).append(local)
        self._shards = {
            position: _Shard(
                [keys[i] for i in locals_], np.array([ids[i] for i in locals_], np.int64), sparse
            )
            for position, locals_ in by_position.items()
        }
        self.size = len(keys)

    def search(self, probe: Prepared, position: int = 0, limit: int = 10) -> list[Candidate]:
        """The ``limit`` watchlist fingers most likely to be the probe's mate, best first.

        ``position`` 0 (unknown) searches every finger; otherwise only fingers
        enrolled at that position or at 0.
        """
        return self.search_keys(probed(probe), position, limit)

    def search_keys(self, probe: Keyed, position: int = 0, limit: int = 10) -> list[Candidate]:
        """:meth:`search` with the probe's keys already made (several indexes share them)."""
        if position:
            shards = [self._shards[p] for p in (position, 0) if p in self._shards]
        else:
            shards = list(self._shards.values())
        keys, angles = probe
        if not shards or keys.size == 0:
            return []
        found = [c for shard in shards for c in shard.search(keys, angles, limit)]
        return sorted(found, key=lambda c: -c.score)[:limit]


class _Shard:
    def __init__(self, fingers: list[Keyed], numbers: IntArray, sparse: bool) -> None:
        sizes = np.array([k.size for k, _ in fingers], dtype=np.int64)
        all_keys = np.concatenate([k for k, _ in fingers]) if fingers else np.zeros(0, np.int64)
        all_angles = np.concatenate([a for _, a in fingers]) if fingers else np.zeros(0, np.uint8)
        owner = np.repeat(np.arange(len(fingers), dtype=np.uint32), sizes)
        self._sparse = sparse
        if sparse:
            order = np.argsort(all_keys, kind="stable")
            self._sorted_keys = all_keys[order]
            self._starts = np.zeros(0, np.int64)
        else:
            order, self._starts = gallery_kernel.bucket_order(all_keys, 1 << HASH_BITS)
        # One posting = the finger (upper 24 bits) and its minutia direction (lower 8):
        # a search gathers both with one memory access.
        self._postings = (owner[order] << np.uint32(8)) | all_angles[order]
        self._norm = 1.0 / np.sqrt(sizes.astype(np.float64) + 1.0)
        self._numbers = numbers
        self.size = len(fingers)

    def _ranges(self, keys: IntArray) -> tuple[IntArray, IntArray]:
        if self._sparse:
            lo = np.searchsorted(self._sorted_keys, keys, "left")
            return lo, np.searchsorted(self._sorted_keys, keys, "right") - lo
        lo = self._starts[keys]
        return lo, self._starts[keys + 1] - lo

    def search(self, keys: IntArray, angles: npt.NDArray[np.uint8], limit: int) -> list[Candidate]:
        if self.size == 0:
            return []
        lo, lengths = self._ranges(keys)
        used = lengths > 0
        fingers, scores = gallery_kernel.vote(
            self._postings,
            np.ascontiguousarray(lo[used], np.int64),
            np.ascontiguousarray(lengths[used], np.int64),
            np.ascontiguousarray(angles[used]),
            self._norm,
            SHORTLIST_VOTES,
            ROTATION_BINS,
            limit,
        )
        return [
            Candidate(int(self._numbers[f]), float(s)) for f, s in zip(fingers, scores, strict=True)
        ]


def warm_up() -> None:
    """Compile (or load from numba's cache) the index's kernels now, so that the first
    check a gateway answers is not the one that waits for them (seconds on a cold cache)."""
    ring = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    finger = Prepared(np.stack([60 * np.cos(ring), 60 * np.sin(ring)], axis=1), ring)
    for sparse in (False, True):
        FingerprintIndex([finger], [1], sparse=sparse).search(finger, 1)
