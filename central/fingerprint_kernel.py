"""The compiled inner loops of the MCC matcher: local similarities and LSS-R, one pair at a
time (the cylinders themselves are built by :mod:`central.cylinder_kernel`).

Why compiled: a 1:1 comparison is about 1,600 cylinder pairs of 24 words and a
40 x 40 relaxation. As numpy array operations that is some 70 calls and 250 µs,
mostly call overhead; as one numba function it is a few tens of microseconds,
and a gallery is a plain loop with no padding. The numbers it computes are the
ones :mod:`central.fingerprint_matcher` documents (same constants, same
formulas); the only shortcut is that pairs whose compatibility factor is
below 1e-9 are treated as incompatible instead of computed.

Functions are compiled on first use and cached beside this file
(``cache=True``), so only the first process on a machine pays the compile.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from llvmlite import ir  # type: ignore[import-untyped]
from numba import njit, types
from numba.extending import intrinsic

Floats = npt.NDArray[np.float64]
Words = npt.NDArray[np.uint64]
Ints = npt.NDArray[np.int64]

# The comparison's constants live here (numba freezes module globals when it compiles);
# the cylinders' geometry lives in central.fingerprint_matcher, which passes the one
# figure that depends on it, min_common.
MAX_ANGLE = math.pi / 2
MIN_MINUTIAE = 6
RELAX_ITERATIONS = 5
RELAX_WEIGHT = 0.5
MIN_NP, MAX_NP = 4, 12
TWO_PI = 2.0 * math.pi


@intrinsic
def _ctpop(typingctx: Any, word: Any) -> Any:
    """One machine instruction (llvm.ctpop) instead of a bit-twiddling loop."""
    sig = types.uint64(types.uint64)

    def codegen(context: Any, builder: ir.IRBuilder, signature: Any, args: Any) -> Any:
        return builder.ctpop(args[0])

    return sig, codegen


_popcount = cast("Callable[[np.uint64], int]", _ctpop)
"""Set bits of a 64-bit word (typed for the checker; numba sees the intrinsic)."""


@njit(cache=True, inline="always")
def _wrap(a: float) -> float:
    return a - TWO_PI * float(np.rint(a / TWO_PI))


@njit(cache=True, inline="always")
def _z(v: float, mu: float, tau: float) -> float:
    return 1.0 / (1.0 + math.exp(-tau * (v - mu)))


@njit(cache=True)
def similarities(
    a_bits: Words,
    a_valid: Words,
    a_angle: Floats,
    b_bits: Words,
    b_valid: Words,
    b_angle: Floats,
    min_common: int,
) -> Floats:
    """(n_a, n_b) bit-MCC local similarities; 0 where the pair is not comparable."""
    na, nb = a_angle.shape[0], b_angle.shape[0]
    words = a_bits.shape[1]
    out = np.zeros((na, nb))
    for i in range(na):
        for j in range(nb):
            if abs(_wrap(a_angle[i] - b_angle[j])) > MAX_ANGLE:
                continue
            common = 0
            ones_a = 0
            ones_b = 0
            differ = 0
            for w in range(words):
                v = a_valid[i, w] & b_valid[j, w]
                x = a_bits[i, w] & v
                y = b_bits[j, w] & v
                common += _popcount(v)
                ones_a += _popcount(x)
                ones_b += _popcount(y)
                differ += _popcount(x ^ y)
            if common < min_common:
                continue
            norms = math.sqrt(ones_a) + math.sqrt(ones_b)
            if norms > 0:
                out[i, j] = 1.0 - math.sqrt(differ) / norms
    return out


@njit(cache=True)
def _best(sim: Floats, k: int) -> Ints:
    """Indices of the k largest similarities, best first, ties in index order (what a
    stable sort of everything would give), without sorting everything: a 256-bin
    histogram of the positive values finds the bin the k-th falls in, and only the
    values from that bin up (k and a few more) are sorted."""
    bins = np.zeros(256, np.int64)
    for value in sim:
        if value > 0.0:
            bins[min(int(value * 256.0), 255)] += 1
    total = 0
    lowest = 255
    while lowest >= 0:
        total += bins[lowest]
        if total >= k:
            break
        lowest -= 1
    if lowest < 0:  # fewer positives than k: all of them, then zero pairs in index order
        positive = np.flatnonzero(sim > 0.0)
        order = positive[np.argsort(-sim[positive], kind="mergesort")]
        rest = np.flatnonzero(sim <= 0.0)[: k - order.shape[0]]
        return np.concatenate((order, rest))
    picked = np.empty(total, np.int64)
    n = 0
    for index in range(sim.shape[0]):
        value = sim[index]
        if value > 0.0 and min(int(value * 256.0), 255) >= lowest:
            picked[n] = index
            n += 1
    return picked[np.argsort(-sim[picked], kind="mergesort")][:k]


@njit(cache=True)
def consolidated_pairs(smaller: int) -> int:
    """Pairs whose mean makes the score: 4 for tiny templates, growing to 12, so a handful
    of chance agreements cannot score high."""
    return min(smaller, MIN_NP + int(np.rint(_z(float(smaller), 20.0, 0.4) * (MAX_NP - MIN_NP))))


@njit(cache=True)
def score(
    a_xy: Floats,
    a_angle: Floats,
    a_bits: Words,
    a_valid: Words,
    b_xy: Floats,
    b_angle: Floats,
    b_bits: Words,
    b_valid: Words,
    min_common: int,
) -> float:
    """LSS-R score (0..1) of two templates; 0 when either is too small to judge."""
    na, nb = a_angle.shape[0], b_angle.shape[0]
    smaller = min(na, nb)
    if smaller < MIN_MINUTIAE:
        return 0.0
    sim = similarities(a_bits, a_valid, a_angle, b_bits, b_valid, b_angle, min_common).ravel()
    order = _best(sim, smaller)
    k = order.shape[0]
    lam0 = sim[order]
    ia = order // nb
    ib = order % nb
    rho = np.zeros((k, k))
    for p in range(k):
        i1, j1 = ia[p], ib[p]
        for q in range(p + 1, k):
            i2, j2 = ia[q], ib[q]
            dxa, dya = a_xy[i1, 0] - a_xy[i2, 0], a_xy[i1, 1] - a_xy[i2, 1]
            dxb, dyb = b_xy[j1, 0] - b_xy[j2, 0], b_xy[j1, 1] - b_xy[j2, 1]
            gap = abs(math.hypot(dxa, dya) - math.hypot(dxb, dyb))
            if gap > 18.0:  # distance factor below 1e-9
                continue
            rel = abs(_wrap((a_angle[i1] - a_angle[i2]) - (b_angle[j1] - b_angle[j2])))
            if rel > 0.95:  # relative-direction factor below 1e-9
                continue
            shared = _z(gap, 5.0, -1.6) * _z(rel, math.pi / 12, -30.0)
            # Radial angles: each minutia's direction against the line to the other.
            ra = math.atan2(dya, dxa)
            rb = math.atan2(dyb, dxb)
            rad_p = abs(_wrap((a_angle[i1] - ra) - (b_angle[j1] - rb)))
            rad_q = abs(_wrap((a_angle[i2] - ra) - (b_angle[j2] - rb)))  # reversed line: pi cancels
            rho[p, q] = shared * _z(rad_p, math.pi / 12, -30.0)
            rho[q, p] = shared * _z(rad_q, math.pi / 12, -30.0)
    others = float(max(smaller - 1, 1))
    lam = lam0.copy()
    nxt = np.empty(k)
    for _ in range(RELAX_ITERATIONS):
        for p in range(k):
            support = 0.0
            for q in range(k):
                support += rho[p, q] * lam[q]
            nxt[p] = RELAX_WEIGHT * lam[p] + (1.0 - RELAX_WEIGHT) * support / others
        lam[:] = nxt
    efficiency = np.empty(k)
    for p in range(k):
        efficiency[p] = lam[p] / lam0[p] if lam0[p] > 0 else -1.0
    n_p = consolidated_pairs(smaller)
    best = np.argsort(-efficiency, kind="mergesort")[:n_p]
    total = 0.0
    for p in best:
        total += lam[p]
    return total / n_p


@njit(cache=True)
def score_many(
    a_xy: Floats,
    a_angle: Floats,
    a_bits: Words,
    a_valid: Words,
    min_common: int,
    xy: Floats,
    angle: Floats,
    bits: Words,
    valid: Words,
    starts: Ints,
) -> Floats:
    """Scores of one template against a gallery stored end to end: template g is rows
    starts[g]:starts[g + 1] of xy, angle, bits and valid."""
    out = np.zeros(starts.shape[0] - 1)
    for g in range(out.shape[0]):
        s, e = starts[g], starts[g + 1]
        out[g] = score(
            a_xy, a_angle, a_bits, a_valid, xy[s:e], angle[s:e], bits[s:e], valid[s:e], min_common
        )
    return out
