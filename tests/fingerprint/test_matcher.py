"""The MCC matcher: 1:1 and 1:N agree, tiny templates score zero, calibration is monotonic."""

from __future__ import annotations

import numpy as np
import pytest
from finger_fixtures import analyzer, impression

from central import fingerprint_matcher as fpm
from wire.iso19794_2 import Minutia


def _prepared(finger: int, index: int) -> fpm.Prepared:
    return fpm.prepare(analyzer().analyse(impression(finger, index)).minutiae)


def test_a_gallery_search_gives_the_one_to_one_scores() -> None:
    gallery = [_prepared(f, 1) for f in range(3)]
    probe = _prepared(1, 0)
    batch = fpm.Gallery(gallery).scores(probe)
    single = [fpm.match(probe, g)[0] for g in gallery]
    assert batch == pytest.approx(single, abs=1e-9)
    assert int(np.argmax(batch)) == 1


def test_matching_is_symmetric_enough_and_self_scores_highest() -> None:
    a, b = _prepared(0, 0), _prepared(0, 1)
    assert fpm.match(a, a)[0] > fpm.match(a, b)[0] > 0.1
    assert fpm.match(a, b)[0] == pytest.approx(fpm.match(b, a)[0], abs=0.1)


def test_rotation_and_translation_do_not_change_the_score() -> None:
    minutiae = analyzer().analyse(impression(2, 0)).minutiae
    turn = np.deg2rad(25)
    c, s = np.cos(turn), np.sin(turn)
    moved = [
        Minutia(
            round(c * m.x - s * m.y + 120),
            round(s * m.x + c * m.y + 40),
            float(np.mod(m.angle - turn, 2 * np.pi)),  # y points down: a turn counts back
            m.kind,
            m.quality,
        )
        for m in minutiae
    ]
    original = fpm.prepare(minutiae)
    assert fpm.match(original, fpm.prepare(moved))[0] > 0.8 * fpm.match(original, original)[0]


def test_tiny_and_empty_templates_score_zero() -> None:
    empty = fpm.prepare([])
    assert fpm.match(empty, empty) == (0.0, 0)
    few = fpm.prepare([Minutia(10 * i, 10 * i, 0.1 * i) for i in range(4)])
    assert fpm.match(few, _prepared(0, 0)) == (0.0, 0)
    assert fpm.Gallery([few, empty]).scores(_prepared(0, 0)).tolist() == [0.0, 0.0]


def test_calibration_maps_scores_to_rates() -> None:
    cal = fpm.Calibration(np.linspace(0, 0.1, 1001))
    assert cal.fmr(0.2) < 0.002
    assert cal.fmr(0.05) == pytest.approx(0.5, abs=0.01)
    assert cal.threshold(0.01) == pytest.approx(0.099, abs=0.002)


def test_the_compiled_local_similarity_is_the_documented_formula() -> None:
    """1 - sqrt(differing bits) / (sqrt(ones in a) + sqrt(ones in b)) over the cells valid
    in both; 0 when the directions differ by more than 90 degrees or too few cells are
    shared. Checked against numpy's own popcount on random cylinders."""
    from central import fingerprint_kernel as kernel

    rng = np.random.default_rng(7)
    words = (5, 24)
    a_bits, b_bits = (rng.integers(0, 2**63, size=words, dtype=np.uint64) for _ in range(2))
    a_valid = rng.integers(0, 2**63, size=words, dtype=np.uint64) | np.uint64(0xFFFF_FFFF)
    b_valid = rng.integers(0, 2**63, size=words, dtype=np.uint64) | np.uint64(0xFFFF_FFFF)
    a_valid[4] = 0  # an invalid cylinder compares with nothing
    a_angle = np.array([0.0, 0.5, 3.0, -3.0, 0.0])
    b_angle = np.array([0.2, 2.5, -3.1, 1.0, 0.1])
    min_common = 700
    got = kernel.similarities(a_bits, a_valid, a_angle, b_bits, b_valid, b_angle, min_common)
    count = np.bitwise_count
    for i in range(5):
        for j in range(5):
            v = a_valid[i] & b_valid[j]
            x, y = a_bits[i] & v, b_bits[j] & v
            turn = abs((a_angle[i] - b_angle[j] + np.pi) % (2 * np.pi) - np.pi)
            if turn > np.pi / 2 or count(v).sum() < min_common:
                assert got[i, j] == 0.0
                continue
            norms = np.sqrt(count(x).sum()) + np.sqrt(count(y).sum())
            assert got[i, j] == pytest.approx(1 - np.sqrt(count(x ^ y).sum()) / norms)
    assert (got[4] == 0).all() and (got[:4] > 0).any()


@pytest.mark.parametrize("k", [1, 7, 40, 200])
def test_the_best_pairs_are_those_a_stable_sort_would_pick(k: int) -> None:
    """The kernel picks the top similarities through a histogram; it must give exactly
    what sorting everything would, ties (in index order) and zero pairs included."""
    from central import fingerprint_kernel as kernel

    rng = np.random.default_rng(k)
    sim = np.round(rng.random(150), 2)  # many ties
    sim[rng.random(150) < 0.4] = 0.0
    expected = np.argsort(-sim, kind="stable")[:k]
    assert kernel._best(sim, k).tolist() == expected.tolist()


def _reference_cylinder_values(xy: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """MCC's cell values as whole-array numpy (the matcher's implementation before it was
    compiled): every minutia's spatial Gaussian at every cell times the share of its
    directional Gaussian in every section, summed, against MU_PSI."""
    from scipy.special import erf

    n = xy.shape[0]
    cos, sin = np.cos(angle), np.sin(angle)
    cx = xy[:, 0:1] + cos[:, None] * fpm._CELL_X - sin[:, None] * fpm._CELL_Y
    cy = xy[:, 1:2] + sin[:, None] * fpm._CELL_X + cos[:, None] * fpm._CELL_Y
    d2 = (cx[:, :, None] - xy[None, None, :, 0]) ** 2 + (cy[:, :, None] - xy[None, None, :, 1]) ** 2
    spatial = np.exp(-d2 / (2 * fpm.SIGMA_S**2)) / (fpm.SIGMA_S * np.sqrt(2 * np.pi))
    spatial[d2 > (3 * fpm.SIGMA_S) ** 2] = 0.0
    spatial[np.arange(n), :, np.arange(n)] = 0.0
    relative = fpm.wrap(angle[None, :] - angle[:, None])
    alpha = fpm.wrap(fpm._SECTIONS[None, None, :] - relative[:, :, None])
    half, scale = fpm._DELTA_D / 2.0, fpm.SIGMA_D * np.sqrt(2)
    directional = 0.5 * (erf((alpha + half) / scale) - erf((alpha - half) / scale))
    values = np.einsum("mct,mtk->mck", spatial, directional) > fpm.MU_PSI
    return np.asarray(values.reshape(n, -1))


def _pack(bits: np.ndarray) -> np.ndarray:
    return np.packbits(bits, axis=1).view(np.uint64)


def test_the_compiled_cylinders_are_the_documented_formula() -> None:
    """Cylinder bits from the compiled loops equal the whole-array formula's on random
    templates (sparse, dense, tiny, collinear): values, and validity (inside the radius
    and the grown hull, of a cylinder with enough such cells and neighbours)."""
    from central import cylinder_kernel

    rng = np.random.default_rng(11)
    cases = [rng.uniform(0, 350, (n, 2)) for n in (1, 2, 5, 20, 35, 48)]
    cases.append(rng.uniform(100, 160, (30, 2)))  # dense: every cell has many neighbours
    cases.append(np.stack([np.linspace(0, 200, 8), np.linspace(0, 100, 8)], axis=1))
    hulls = 0
    for xy in cases:
        angle = rng.uniform(-np.pi, np.pi, xy.shape[0])
        bits, valid = fpm.cylinders(xy, angle)
        assert (bits == _pack(_reference_cylinder_values(xy, angle))).all()
        cos, sin = np.cos(angle), np.sin(angle)
        cx = xy[:, 0:1] + cos[:, None] * fpm._CELL_X - sin[:, None] * fpm._CELL_Y
        cy = xy[:, 1:2] + sin[:, None] * fpm._CELL_X + cos[:, None] * fpm._CELL_Y
        inside = np.ones(cx.shape, bool)
        if xy.shape[0] >= 3 and np.linalg.matrix_rank(xy - xy.mean(axis=0)) == 2:
            eq = fpm._hull(xy)
            assert eq is not None
            reach = cx[..., None] * eq[:, 0] + cy[..., None] * eq[:, 1] + eq[:, 2]
            inside = reach.max(axis=-1) <= fpm.HULL_OFFSET
            compiled = cylinder_kernel.inside_hull(xy, cx, cy, eq, fpm.HULL_OFFSET, fpm.NS)
            assert (compiled == inside).all()
            assert (~inside).any() and inside.any()
            hulls += 1
        cells = inside & fpm._IN_RADIUS
        near = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
        neighbours = (near <= fpm.RADIUS + 3 * fpm.SIGMA_S).sum(axis=1) - 1
        usable = (cells.sum(axis=1) >= fpm.MIN_VALID_CELLS * fpm._IN_RADIUS.sum()) & (
            neighbours >= fpm.MIN_NEIGHBOURS
        )
        expected = np.repeat(cells & usable[:, None], fpm.ND, axis=1)
        assert (valid == _pack(expected)).all()
    assert bits.any() and valid.any() and hulls >= 4
