"""From scores to an outcome an officer can act on: HIT, POSSIBLE MATCH or NO HIT.

The question is not how similar two templates are but how often a stranger's
check would come back this strong against this watchlist. For the best
candidate person, each modality that agrees contributes its measured
false-match rate of one comparison (:mod:`central.calibration`: estimate and 95 %
upper bound); independent fingers and the face multiply. The search's rate is
the tail of that product under independence (a product of rates is not a rate:
:func:`search_rate`), times the comparisons that could have produced it: every
person on the watchlist, every enrolled finger a probe of unknown position could
meet, and every subset of the probe's comparisons that could have been the
agreeing ones (a union bound: conservative, as the pre-selection only ever
compares fewer).

* **HIT** — a fingerprint agrees and the upper bound of the search's false-match
  rate is below :data:`HIT_FMR` (one stranger's check in 100,000). A face alone
  is never a HIT: its calibration comes from photographs, not from the people at
  the border, and a face can be borrowed.
* **POSSIBLE MATCH** — the upper bound is below :data:`POSSIBLE_FMR`: an examiner
  verifies it before anyone acts.
* **NO HIT** — otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from central import calibration
from wire.answer import HIT, NO_HIT, POSSIBLE_MATCH

HIT_FMR = 1e-5
POSSIBLE_FMR = 1e-3
AGREE_FMR = 1e-2
"""A modality agrees only where one comparison's false-match rate is at most this."""


@dataclass(frozen=True)
class Evidence:
    """What the search found for one watchlist person."""

    person: int
    fingers: tuple[float, ...]
    """Per probe finger, its best score against this person's fingers (0 where none)."""
    face: float | None
    """The face's cosine similarity, or None when either side has no face."""
    enrolled_fingers: int = 1
    """How many of this person's fingers one probe finger was compared with."""


@dataclass(frozen=True)
class Verdict:
    outcome: str
    fmr: float
    """Estimated rate at which a stranger's check gets evidence this strong (whole search)."""
    fmr_upper: float
    """Its 95 % upper bound: what the outcome was decided on."""
    modalities: tuple[str, ...]
    score: float
    """The strongest agreeing score (for the audit; not what decides)."""


def agrees(modality: str, score: float) -> bool:
    """Whether one comparison this strong counts as evidence at all (:data:`AGREE_FMR`)."""
    return calibration.survival(modality, score)[1] <= AGREE_FMR


def verdict(evidence: Evidence, people: int) -> Verdict:
    estimate, upper = 1.0, 1.0
    agreeing_fingers = 0
    best = 0.0
    for score in evidence.fingers:
        p, p_upper = calibration.survival(calibration.FINGERPRINT, score)
        if p_upper <= AGREE_FMR:
            agreeing_fingers += 1
            estimate *= p * evidence.enrolled_fingers
            upper *= p_upper * evidence.enrolled_fingers
            best = max(best, score)
    modalities = ["fingerprint"] if agreeing_fingers else []
    if evidence.face is not None:
        p, p_upper = calibration.survival(calibration.FACE, evidence.face)
        if p_upper <= AGREE_FMR:
            modalities.append("face")
            estimate *= p
            upper *= p_upper
            best = max(best, evidence.face)
    if not modalities:
        return Verdict(NO_HIT, 1.0, 1.0, (), 0.0)
    available = len(evidence.fingers) + (evidence.face is not None)
    search = search_rate(estimate, available, people)
    search_upper = search_rate(upper, available, people)
    if "fingerprint" in modalities and search_upper < HIT_FMR:
        outcome = HIT
    elif search_upper < POSSIBLE_FMR:
        outcome = POSSIBLE_MATCH
    else:
        outcome = NO_HIT
    return Verdict(outcome, search, search_upper, tuple(modalities), best)


def search_rate(product: float, available: int, people: int) -> float:
    """How often a stranger's check gets evidence this strong against one of ``people``.

    ``product`` is the product of the agreeing comparisons' rates, out of ``available``
    comparisons (probe fingers and the face). A product of independent rates is not itself a
    rate: for ``j`` of them, P(product <= t) = t * sum_{i<j} (-ln t)^i / i! (the product of
    uniform variables), hundreds of times ``t`` when three agree. Summed over which ``j``
    of the ``available`` comparisons are the agreeing ones (a union bound) and over every
    person on the watchlist.
    """
    if product >= 1.0:
        return 1.0
    log_t = -math.log(max(product, 1e-300))
    ways = 0.0
    for j in range(1, max(available, 1) + 1):
        ways += math.comb(max(available, 1), j) * sum(
            log_t**i / math.factorial(i) for i in range(j)
        )
    return min(1.0, max(people, 1) * product * ways)


def log_limits(people: int, available: int) -> tuple[float, float]:
    """The natural logs of the largest products of one-comparison upper bounds that are a
    HIT (with a fingerprint agreeing) and a POSSIBLE MATCH at this watchlist size, for
    ``available`` comparisons: the rule of :func:`verdict` in the form the benchmark
    integrates over (:mod:`bench.stranger_rates`)."""

    def largest(limit: float) -> float:
        low, high = -700.0, 0.0  # search_rate rises with the product
        for _ in range(80):
            mid = (low + high) / 2
            low, high = (
                (mid, high) if search_rate(math.exp(mid), available, people) < limit else (low, mid)
            )
        return low

    return largest(HIT_FMR), largest(POSSIBLE_FMR)


def strongest(verdicts: list[Verdict]) -> Verdict | None:
    """The verdict with the lowest upper bound (the strongest evidence), if any agrees."""
    agreeing = [v for v in verdicts if v.modalities]
    return min(agreeing, key=lambda v: (v.fmr_upper, -v.score)) if agreeing else None


def single_modality_limit(modality: str, people: int) -> float:
    """The score one comparison must reach for one modality alone to be a HIT at this size
    (inf for the face, which never is)."""
    if modality == calibration.FACE:
        return math.inf
    return calibration.threshold(modality, HIT_FMR / max(people, 1))
