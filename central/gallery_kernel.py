"""Compiled loops of the 1:N index: template parsing and triplet keys (building it fast),
and the vote over the postings a probe meets (searching it at any gallery size).

A gateway that starts against 100,000 people reads 200,000 templates. In Python
each costs about 130 µs to decode and 300 µs to key (numpy call overhead on
arrays of forty minutiae), which put the index a minute and a half away; compiled,
both are a few microseconds. The keys are the ones
:func:`central.fingerprint_index.enrolled_keys` computes, bit for bit (a test
compares them): the same measures, the same stable nearest-neighbour order, the
same quantisation and hash. The parser reads only what the index and the matcher
need (positions and directions) from records the watchlist validated on entry.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from numba import njit

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bytes = npt.NDArray[np.uint8]

# Mirrors central.fingerprint_index (numba freezes module globals when it compiles).
NEIGHBOURS = 4
DIST_BIN = 8.0
DIR_BINS = 24
RIDGE_BINS = 8
HASH_BITS = 22
GOLDEN = 2654435761
TWO_PI = 2.0 * math.pi


@njit(cache=True)
def iso_minutiae(data: Bytes) -> tuple[Floats, Floats]:
    """Positions (at 500 ppi, y up) and directions of the first view of an ISO/IEC 19794-2
    record; empty arrays when the record holds no view."""
    xres = (int(data[18]) << 8) | int(data[19])
    views = int(data[22])
    if views == 0 or xres == 0:
        return np.zeros((0, 2)), np.zeros(0)
    scale = 500.0 / (xres * 2.54)
    count = int(data[27])
    xy = np.empty((count, 2))
    angle = np.empty(count)
    at = 28
    for i in range(count):
        x = ((int(data[at]) << 8) | int(data[at + 1])) & 0x3FFF
        y = ((int(data[at + 2]) << 8) | int(data[at + 3])) & 0x3FFF
        xy[i, 0] = x * scale
        xy[i, 1] = -y * scale
        angle[i] = int(data[at + 4]) / 256 * 2 * math.pi
        at += 6
    return xy, angle


@njit(cache=True)
def triplets(xy: Floats, angle: Floats) -> tuple[Floats, Ints]:
    """(t, 6) triplet measures in bin units, and the central minutia of each: each minutia
    with every two of its four nearest neighbours (ties to the lower index)."""
    n = xy.shape[0]
    if n < 3:
        return np.zeros((0, 6)), np.zeros(0, np.int64)
    t = min(NEIGHBOURS, n - 1)
    nearest = np.empty((n, t), np.int64)
    best = np.empty(t)
    for i in range(n):
        filled = 0
        for j in range(n):
            if j == i:
                continue
            d = np.hypot(xy[i, 0] - xy[j, 0], xy[i, 1] - xy[j, 1])
            if filled == t and d >= best[t - 1]:
                continue
            slot = min(filled, t - 1)
            while slot > 0 and best[slot - 1] > d:
                best[slot] = best[slot - 1]
                nearest[i, slot] = nearest[i, slot - 1]
                slot -= 1
            best[slot] = d
            nearest[i, slot] = j
            filled = min(filled + 1, t)
    pairs = t * (t - 1) // 2
    measures = np.empty((pairs * n, 6))
    centres = np.empty(pairs * n, np.int64)
    out = 0
    for a in range(t):
        for b in range(a + 1, t):
            for i in range(n):
                j, k = nearest[i, a], nearest[i, b]
                djx, djy = xy[j, 0] - xy[i, 0], xy[j, 1] - xy[i, 1]
                dkx, dky = xy[k, 0] - xy[i, 0], xy[k, 1] - xy[i, 1]
                measures[out, 0] = np.hypot(djx, djy) / DIST_BIN
                measures[out, 1] = np.hypot(dkx, dky) / DIST_BIN
                measures[out, 2] = ((np.arctan2(djy, djx) - angle[i]) % TWO_PI) * (
                    DIR_BINS / TWO_PI
                )
                measures[out, 3] = ((np.arctan2(dky, dkx) - angle[i]) % TWO_PI) * (
                    DIR_BINS / TWO_PI
                )
                measures[out, 4] = ((angle[j] - angle[i]) % TWO_PI) * (RIDGE_BINS / TWO_PI)
                measures[out, 5] = ((angle[k] - angle[i]) % TWO_PI) * (RIDGE_BINS / TWO_PI)
                centres[out] = i
                out += 1
    return measures, centres


@njit(cache=True)
def enrolled_keys(xy: Floats, angle: Floats) -> tuple[Ints, Bytes]:
    """One key per triplet, and its central minutia's direction in 1/256 turns."""
    measures, centres = triplets(xy, angle)
    keys = np.empty(centres.size, np.int64)
    angles = np.empty(centres.size, np.uint8)
    for row in range(centres.size):
        keys[row] = key(
            math.floor(measures[row, 0]),
            math.floor(measures[row, 1]),
            math.floor(measures[row, 2]),
            math.floor(measures[row, 3]),
            math.floor(measures[row, 4]),
            math.floor(measures[row, 5]),
        )
        angles[row] = int(np.round((angle[centres[row]] % TWO_PI) * (256 / TWO_PI))) % 256
    return keys, angles


@njit(cache=True)
def probe_keys(xy: Floats, angle: Floats) -> tuple[Ints, Bytes]:
    """Sixteen keys per triplet (each of the four finer measures in its own bin or the
    nearer neighbour bin; combination-major, as ``fingerprint_index.probe_keys``
    documents them), and the central minutia's direction of each, in 1/256 turns."""
    measures, centres = triplets(xy, angle)
    t = centres.size
    keys = np.empty(16 * t, np.int64)
    angles = np.empty(16 * t, np.uint8)
    q = np.empty(6, np.int64)
    for combo in range(16):
        for row in range(t):
            for dim in range(6):
                q[dim] = math.floor(measures[row, dim])
                if dim < 4 and combo >> dim & 1:
                    q[dim] += 1 if measures[row, dim] - q[dim] >= 0.5 else -1
            keys[combo * t + row] = key(q[0], q[1], q[2], q[3], q[4], q[5])
            angles[combo * t + row] = (
                int(np.round((angle[centres[row]] % TWO_PI) * (256 / TWO_PI))) % 256
            )
    return keys, angles


@njit(cache=True, inline="always")
def key(q0: int, q1: int, q2: int, q3: int, q4: int, q5: int) -> int:
    c = min(q0, 31)
    c = c * 32 + min(q1, 31)
    c = c * DIR_BINS + q2 % DIR_BINS
    c = c * DIR_BINS + q3 % DIR_BINS
    c = c * RIDGE_BINS + q4 % RIDGE_BINS
    c = c * RIDGE_BINS + q5 % RIDGE_BINS
    return int((c * GOLDEN) % (1 << HASH_BITS))


@njit(cache=True, nogil=True)
def bucket_order(keys: Ints, buckets: int) -> tuple[Ints, Ints]:
    """A stable counting sort of ``keys`` (all below ``buckets``): (order, bucket starts)."""
    counts = np.zeros(buckets + 1, np.int64)
    for key in keys:
        counts[key + 1] += 1
    for b in range(buckets):
        counts[b + 1] += counts[b]
    starts = counts.copy()
    order = np.empty(keys.size, np.int64)
    for i in range(keys.size):
        key = keys[i]
        order[counts[key]] = i
        counts[key] += 1
    return order, starts


@njit(cache=True)
def vote(
    postings: npt.NDArray[np.uint32],
    lo: Ints,
    lengths: Ints,
    probe_angles: Bytes,
    norm: Floats,
    shortlist: int,
    rotation_bins: int,
    limit: int,
) -> tuple[Ints, Floats]:
    """The index's search over one shard: (fingers, scores) of the best ``limit``.

    Every finger gets one vote per shared key, times its ``norm``; the best
    ``shortlist`` by votes are re-scored by their largest group of votes that agree
    on one rotation (two neighbouring bins of ``rotation_bins``), times ``norm``.
    Ties go to the lower finger number.

    Why compiled: in numpy the votes were a count over every finger of the shard
    (a bincount, a product and a partition of 100,000 values a search at 100,000
    people, ten times that at a million); here the work follows the postings the
    probe's keys actually meet (about 200,000 at 100,000 people), and the gallery's size
    costs a counter array zeroed and read once.
    """
    size = norm.shape[0]
    counts = np.zeros(size, np.int32)
    for i in range(lo.shape[0]):
        for j in range(lo[i], lo[i] + lengths[i]):
            counts[np.int64(postings[j] >> 8)] += 1
    # The fingers touched, in finger order, found by reading the counters once: cheaper than
    # noting each on first touch (a branch on every one of the 200,000 or so postings).
    n_touched = 0
    most = 0
    for f in range(size):
        if counts[f] > 0:
            n_touched += 1
            most = max(most, counts[f])
    if n_touched == 0:
        return np.zeros(0, np.int64), np.zeros(0)
    touched = np.empty(n_touched, np.int64)
    votes = np.empty(n_touched)
    # How many fingers reached each count: at least ``take`` of them reached ``floor``
    # counts, so the ``take``-th best vote is at least ``floor`` times the lowest norm.
    reached = np.zeros(most + 1, np.int64)
    at = 0
    for f in range(size):
        if counts[f] > 0:
            touched[at] = f
            votes[at] = counts[f] * norm[f]
            reached[counts[f]] += 1
            counts[f] = 0
            at += 1
    take = min(shortlist, n_touched)
    floor = most
    above_floor = reached[most]
    while above_floor < take:
        floor -= 1
        above_floor += reached[floor]
    lowest = np.inf
    for i in range(n_touched):
        lowest = min(lowest, norm[touched[i]])
    bound = floor * lowest
    # Only the fingers whose votes reach that bound can be among the best ``take`` (a
    # partition of a few thousand votes instead of the 80,000 or so touched); ties at the
    # boundary go to the lower finger numbers.
    keep = 0
    for i in range(n_touched):
        if votes[i] >= bound:
            touched[keep] = touched[i]
            votes[keep] = votes[i]
            keep += 1
    touched = touched[:keep]
    votes = votes[:keep]
    bar = np.partition(votes, keep - take)[keep - take]
    above = 0
    for i in range(keep):
        if votes[i] > bar:
            above += 1
    tied = np.empty(keep - above, np.int64)
    chosen = np.empty(take, np.int64)
    n_chosen = 0
    n_tied = 0
    for i in range(keep):
        if votes[i] > bar:
            chosen[n_chosen] = touched[i]
            n_chosen += 1
        elif votes[i] == bar:
            tied[n_tied] = touched[i]
            n_tied += 1
    tied = np.sort(tied[:n_tied])
    chosen[n_chosen:] = tied[: take - n_chosen]
    chosen = np.sort(chosen)  # finger order, so the final ranking's ties go the same way
    for r in range(chosen.shape[0]):
        counts[chosen[r]] = r + 1
    bins = np.zeros((chosen.shape[0], rotation_bins), np.int64)
    shift = 8  # a direction is 1/256 turns; a rotation bin 256 / rotation_bins of them
    width = rotation_bins
    while width > 1:
        width //= 2
        shift -= 1
    for i in range(lo.shape[0]):
        probe = np.int64(probe_angles[i])
        for j in range(lo[i], lo[i] + lengths[i]):
            rank = counts[np.int64(postings[j] >> 8)]
            if rank > 0:
                rotation = ((np.int64(postings[j] & 0xFF) - probe) & 0xFF) >> shift
                bins[rank - 1, rotation] += 1
    consistent = np.empty(chosen.shape[0])
    for r in range(chosen.shape[0]):
        best = 0
        for k in range(rotation_bins):
            pair = bins[r, k] + bins[r, (k - 1) % rotation_bins]
            best = max(best, pair)
        consistent[r] = best * norm[chosen[r]]
    ranked = np.argsort(-consistent, kind="mergesort")[:limit]
    keep = 0
    for i in range(ranked.shape[0]):
        if consistent[ranked[i]] > 0:
            keep += 1
    fingers = np.empty(keep, np.int64)
    scores = np.empty(keep)
    at = 0
    for i in range(ranked.shape[0]):
        if consistent[ranked[i]] > 0:
            fingers[at] = chosen[ranked[i]]
            scores[at] = consistent[ranked[i]]
            at += 1
    return fingers, scores


@njit(cache=True, fastmath=True)
def face_scores(
    rows: npt.NDArray[np.int8], scales: Floats, count: int, probe: npt.NDArray[np.int8]
) -> Floats:
    """Cosine similarity of the int8 ``probe`` (its scale not applied) with the first
    ``count`` int8 ``rows``, each times its ``scales`` entry (1 / its norm; 0 for a row
    that no longer counts).

    Why int8: the embeddings travel as int8 and a face search reads every row, so the
    rows' bytes are the cost. As unit float32 rows a search at 100,000 people streamed
    51 MB through memory, 5-8 ms on a machine whose other processes use the memory too;
    as int8 it is 13 MB.

    Why float32 with ``fastmath``: the products and every partial sum are integers below
    2**24 (128 x 127 x 127), which float32 holds exactly in any order, so the compiler
    may reorder the sum into vector lanes and the result is still the exact integer dot
    product (a test compares it with numpy's integer one). Summed as int32 the loop was
    not vectorised: 1.9 ms at 100,000 people, 0.8 ms so."""
    d = rows.shape[1]
    p = np.empty(d, np.float32)
    for k in range(d):
        p[k] = np.float32(probe[k])
    out = np.empty(count)
    for i in range(count):
        acc = np.float32(0.0)
        for k in range(d):
            acc += np.float32(rows[i, k]) * p[k]
        out[i] = np.float64(acc) * scales[i]
    return out
