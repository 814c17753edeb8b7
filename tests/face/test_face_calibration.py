"""The score-to-false-match-rate calibration: monotonic, and honest about what it knows.

Central decides HIT and POSSIBLE MATCH from ``central/calibration.json``, written by
``hotspot bench calibrate`` from impostor pairs measured on real photographs (which the tests
do not have). What the tests can check with what ships: the estimator, run on an impostor set
whose true rates are known, gives at each threshold a rate that an independent impostor set
confirms within the stated uncertainty; and the shipped face calibration is one of its
outputs (monotonic, measured on unconstrained photographs, its bounds above its estimates).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from bench.calibrate import calibrate_scores, clopper_pearson_upper
from central import calibration, decision

# Impostor cosines of a face network: about normal near the middle, with a heavier upper tail
# (a Student t), as measured; the true survival is known in closed form.
LOC, SCALE, DF = 0.09, 0.11, 8


def _impostors(n: int, seed: int) -> np.ndarray:
    return LOC + SCALE * stats.t.rvs(DF, size=n, random_state=np.random.default_rng(seed))


def _true_rate(score: float) -> float:
    return float(stats.t.sf((score - LOC) / SCALE, DF))


def _tail(table: dict[str, object]) -> calibration.Tail:
    return calibration.Tail(
        tuple(table["scores"]),  # type: ignore[arg-type]
        tuple(table["estimate"]),  # type: ignore[arg-type]
        tuple(table["upper"]),  # type: ignore[arg-type]
        int(table["pairs"]),  # type: ignore[call-overload]
        ("synthetic",),
    )


def test_the_estimate_at_the_threshold_is_confirmed_by_an_independent_impostor_set() -> None:
    measured = _impostors(300_000, seed=1)
    tail = _tail(calibrate_scores("face", measured, np.array([0.7]), ["synthetic"], 0.005))
    held_out = _impostors(1_000_000, seed=2)
    for target in (1e-2, 1e-3, 1e-4):
        score = next(s for s, u in zip(tail.scores, tail.upper, strict=True) if u <= target)
        estimate, upper = tail.at(score)
        # The bound is a bound: the true rate lies under it ...
        assert _true_rate(score) <= upper
        # ... and what a million strangers nobody calibrated on show there agrees with the
        # estimate within both samples' uncertainty (Clopper-Pearson, 99.9 %).
        above = int(np.sum(held_out >= score))
        low = stats.beta.ppf(0.0005, above, held_out.size - above + 1) if above else 0.0
        high = clopper_pearson_upper(above, held_out.size, 0.9995)
        assert low <= upper and estimate <= high, (target, score, estimate, upper, low, high)


def test_beyond_what_was_measured_the_fitted_tail_keeps_its_bound_above_the_truth() -> None:
    measured = _impostors(300_000, seed=3)
    table = calibrate_scores("face", measured, np.array([0.7]), ["synthetic"], 0.005)
    tail = _tail(table)
    beyond = [s for s in tail.scores if s > float(table["measured_to"])][:40]
    assert beyond, "the table should run past what was measured"
    for score in beyond:
        estimate, upper = tail.at(score)
        assert estimate <= upper
        assert _true_rate(score) <= 3 * upper  # a fit, not a measurement: within a factor


def test_the_shipped_face_calibration_is_measured_on_unconstrained_photographs() -> None:
    tail = calibration.tails()[calibration.FACE]
    assert tail.pairs >= 1_000_000
    assert any("lfw" in source.lower() for source in tail.sources)
    assert any("orl" in source.lower() for source in tail.sources)
    rates = [tail.at(float(s)) for s in np.linspace(-0.2, 1.0, 121)]
    assert all(a[0] >= b[0] and a[1] >= b[1] for a, b in itertools.pairwise(rates))
    assert all(estimate <= upper for estimate, upper in rates)
    # The face's HIT threshold (one comparison at decision.HIT_FMR) sits where a stranger's
    # face seldom goes: above every impostor pair measured but a handful.
    score = calibration.threshold(calibration.FACE, decision.HIT_FMR)
    assert 0.4 < score < 0.9
    assert tail.at(score)[1] <= decision.HIT_FMR


@pytest.mark.parametrize("fmr", [1e-2, 1e-3])
def test_a_lower_rate_needs_a_higher_score(fmr: float) -> None:
    assert calibration.threshold(calibration.FACE, fmr / 10) > calibration.threshold(
        calibration.FACE, fmr
    )
