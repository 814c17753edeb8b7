"""How often a stranger's check comes back HIT or POSSIBLE MATCH, from real
impostor scores.

Synthetic templates and embeddings say nothing about how real strangers score
against a watchlist, so the benchmark does not count its synthetic strangers'
outcomes as the false rates. Instead it takes the impostor score distributions
measured on real images (``central/calibration.json``: FVC fingerprints, ORL and
LFW faces) and applies the decision's rule (:mod:`central.decision`, its limits
from :func:`~central.decision.log_limits`) to every combination of impostor
scores a stranger's check can have against one watchlist person: two probe
fingers and a face, each score drawn from its modality's impostor distribution
(the measured table, then the fitted tail), independently. The probability mass
of the combinations it calls HIT, and POSSIBLE MATCH, is the rate per person;
over a watchlist of N people the rate of the check is ``1 - (1 - p) ** N``.

This is an estimate under two assumptions stated here so that nobody reads more
into it: impostor scores of different fingers and of the face are independent,
and the people at the border score like the FVC and face sets' volunteers.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import numpy.typing as npt

from central import calibration, decision

Floats = npt.NDArray[np.float64]


@functools.cache
def _bins(modality: str) -> tuple[Floats, Floats]:
    """(probability, upper-bound survival the decision would use) per bin of the impostor
    score distribution: a bin is the scores from one grid score up to the next, and every
    impostor in it is judged as if it scored the top of its bin (the strongest evidence it
    could have)."""
    tail = calibration.tails()[modality]
    survival = np.array(tail.estimate)
    upper = np.array(tail.upper)
    mass = np.append(1.0 - survival[0], survival[:-1] - survival[1:])
    judged = np.append(upper[0], upper[1:])
    # what is left above the last grid score, judged at the last score
    mass = np.append(mass, survival[-1])
    judged = np.append(judged, upper[-1])
    return np.clip(mass, 0.0, None), judged


def per_person(people: int, fingers: int = 2, face: bool = True) -> tuple[float, float]:
    """(P(HIT), P(POSSIBLE MATCH)) of a stranger's check against one person of a watchlist of
    ``people``: the mass of the impostor score combinations the decision's rule calls so."""
    hit_limit, possible_limit = decision.log_limits(people, fingers + face)
    f_mass, f_upper = _bins(calibration.FINGERPRINT)
    f_agree = f_upper <= decision.AGREE_FMR
    f_log = np.where(f_agree, np.log(np.maximum(f_upper, 1e-300)), 0.0)
    log_product, agreeing, mass = np.zeros(()), np.zeros((), int), np.ones(())
    for _ in range(fingers):  # outer sums and products over the probe's fingers
        log_product = np.add.outer(log_product, f_log)
        agreeing = np.add.outer(agreeing, f_agree.astype(int))
        mass = np.multiply.outer(mass, f_mass)
    if face:
        c_mass, c_upper = _bins(calibration.FACE)
        c_agree = c_upper <= decision.AGREE_FMR
        c_log = np.where(c_agree, np.log(np.maximum(c_upper, 1e-300)), 0.0)
    else:
        c_mass, c_agree, c_log = np.ones(1), np.zeros(1, bool), np.zeros(1)
    hit = possible = 0.0
    fingerprint_agrees = agreeing > 0
    for weight, face_agrees, face_log in zip(c_mass, c_agree, c_log, strict=True):
        if weight == 0:
            continue
        total = log_product + face_log
        any_agrees = fingerprint_agrees | bool(face_agrees)
        is_hit = fingerprint_agrees & (total < hit_limit)
        is_possible = any_agrees & ~is_hit & (total < possible_limit)
        hit += weight * float(mass[is_hit].sum())
        possible += weight * float(mass[is_possible].sum())
    return hit, possible


def rates(people: int, fingers: int = 2, face: bool = True) -> tuple[float, float]:
    """(false HIT rate, false POSSIBLE MATCH rate) of a stranger's check against ``people``."""
    hit, possible = per_person(people, fingers, face)
    return -math.expm1(people * math.log1p(-hit)), -math.expm1(people * math.log1p(-possible))
