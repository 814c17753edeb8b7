"""The quality score's contrast gate is chosen without the set it is measured on."""

from __future__ import annotations

import numpy as np

from bench import quality_loso


def _set(label: str, seed: int, failing: str = "faint") -> quality_loso.SetQualities:
    """Twenty impressions in ten genuine pairs (0-1, 2-3, ...). Impressions 0 and 2 are faint
    (contrast 13), 4 and 6 a little less clear (clear share 0.85), 8 and 10 have 16 minutiae
    (the rest 40); the pairs of the ``failing`` kind fail. NFIQ 2 ranks the faint pairs above
    the rest."""
    rng = np.random.default_rng(seed)
    first, second = np.arange(0, 20, 2), np.arange(1, 20, 2)
    genuine = np.full(10, 2.0)
    genuine[{"faint": [0, 1], "unclear": [2, 3], "sparse": [4, 5]}[failing]] = 0.5
    usual = {"clear_share": 0.95, "contrast": 40.0, "finger_mm2": 150.0, "minutiae": 40.0}
    measures = [dict(usual) for _ in range(20)]
    for k in (0, 2):
        measures[k] |= {"contrast": 13.0}
    for k in (4, 6):
        measures[k] |= {"clear_share": 0.85}
    for k in (8, 10):
        measures[k] |= {"minutiae": 16.0}
    nfiq2 = np.full(20, 50.0)
    nfiq2[:4] = 80.0
    return quality_loso.SetQualities(
        label, genuine, rng.random(1000), first, second, measures, nfiq2
    )


def test_each_set_gets_the_gate_its_others_chose() -> None:
    sets = [_set("A", 1), _set("B", 2), _set("C", 3)]
    low = quality_loso.ours(sets[0].measures, 8.0)
    assert low[0] > low[4]  # at 8 grey levels the gate ranks the faint prints above the rest
    loso = quality_loso.leave_one_out(sets)
    assert set(loso) == {"A", "B", "C"}
    for row in loso.values():
        assert row["gate_midpoint"] >= 10
        assert row["edc"]["0.20"] == 0.0 < row["edc_nfiq2"]["0.20"]
    assert "at least as low as NFIQ 2 at 12 of 12" in quality_loso.report(loso)


def test_the_left_out_set_does_not_take_part_in_the_choice() -> None:
    """Where the less clear prints fail and the faint ones match, the lowest gate is best; the
    set left out, whose faint prints fail, is measured with that gate all the same."""
    sets = [_set("faint", 1), _set("unclear1", 2, "unclear"), _set("unclear2", 3, "unclear")]
    loso = quality_loso.leave_one_out(sets)
    assert loso["faint"]["gate_midpoint"] == 8.0
    assert loso["faint"]["edc"]["0.20"] > 0.0


def test_the_minutiae_gate_is_chosen_by_the_others_too() -> None:
    """Where the prints with few minutiae fail, the others choose a minutiae gate that ranks
    them lowest; where nothing with few minutiae fails, the mildest."""
    sets = [_set("S1", 1, "sparse"), _set("S2", 2, "sparse"), _set("S3", 3, "sparse")]
    loso = quality_loso.leave_one_out(sets)
    for row in loso.values():
        assert row["minutiae_midpoint"] >= 15
        assert row["edc"]["0.20"] == 0.0
    assert "minutiae gate" in quality_loso.report(loso)
    faint = quality_loso.leave_one_out([_set("A", 1), _set("B", 2), _set("C", 3)])
    assert {row["minutiae_midpoint"] for row in faint.values()} == {12.0}
