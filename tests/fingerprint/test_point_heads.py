"""LEADER's direction and type heads, run at the minutiae only (firmware/.../heads.py)."""

from __future__ import annotations

import numpy as np
from finger_fixtures import analyzer, impression

from central import fingerprint_matcher as fpm
from firmware.biometrics.fingerprint import leader
from firmware.biometrics.fingerprint.heads import PointHeads


def test_directions_and_types_turn_with_the_finger() -> None:
    # A quarter turn of the print turns every minutia's direction by a quarter turn. The
    # heads read a 9x9 patch of half-resolution features at each minutia and one of four
    # output phases: a wrong patch, phase or axis order gives directions that do not follow.
    image = impression(2, 0)
    width = image.shape[1]
    upright = analyzer().analyse(image).minutiae
    turned = analyzer().analyse(np.ascontiguousarray(np.rot90(image))).minutiae
    assert len(upright) >= 20
    pairs = []
    for m in upright:
        # np.rot90 turns the picture counter-clockwise: (x, y) goes to (y, width - 1 - x).
        x, y = m.y, width - 1 - m.x
        near = [t for t in turned if abs(t.x - x) <= 2 and abs(t.y - y) <= 2]
        if near:
            pairs.append((m, near[0]))
    assert len(pairs) >= 0.85 * len(upright)
    turn = np.array([fpm.wrap(np.array(b.angle - a.angle - np.pi / 2)) for a, b in pairs])
    assert np.median(np.abs(turn)) < np.radians(3)
    assert np.mean(np.abs(turn) < np.radians(10)) >= 0.9
    assert np.mean([a.kind == b.kind for a, b in pairs]) >= 0.85


def test_the_heads_answer_at_every_edge_and_corner_of_the_map() -> None:
    heads = PointHeads.load()
    features = np.random.default_rng(3).normal(0, 1, (40, 36, 52)).astype(np.float32)
    ys = np.array([0, 0, 79, 79, 1, 78, 40, 0, 79])
    xs = np.array([0, 71, 0, 71, 1, 70, 35, 35, 35])
    angle, ending, probability = heads.at(features, ys, xs)
    assert angle.shape == ending.shape == probability.shape == (9,)
    assert np.all((angle >= 0) & (angle < 2 * np.pi))
    assert np.all((probability > 0) & (probability < 1))
    assert np.array_equal(ending, probability >= 0.5)
    # Each answer depends on its own point only (no batch effects).
    alone = [heads.at(features, ys[i : i + 1], xs[i : i + 1])[0][0] for i in range(9)]
    assert np.allclose(alone, angle)
    empty = heads.at(features, np.zeros(0, np.intp), np.zeros(0, np.intp))
    assert all(len(part) == 0 for part in empty)


def test_unpack_reads_the_probability_in_space_to_depth_order() -> None:
    # Channel 2p + q of a packed pixel (i, j) is the probability at (2i + p, 2j + q).
    packed = np.zeros((3, 5, 52 + 4), np.float32)
    packed[1, 2, 52 + 2] = 1.0  # p = 1, q = 0
    packed[2, 4, 52 + 1] = 2.0  # p = 0, q = 1
    features, suppressed = leader.unpack(packed)
    assert features.shape == (3, 5, 52) and suppressed.shape == (6, 10)
    assert suppressed[3, 4] == 1.0 and suppressed[4, 9] == 2.0
    assert suppressed.sum() == 3.0
