"""Classical extraction and the central matcher on synthetic phantoms."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from central import fingerprint_matcher as fpm
from firmware.biometrics.minutiae import extract, orientation
from hal.phantoms import fingerprint as fp
from wire.iso19794_2 import MinutiaeRecord


@pytest.mark.parametrize("degrees", [0, 30, 60, 90, 135])
def test_orientation_follows_iso_convention(degrees: int) -> None:
    yy, xx = np.mgrid[0:96, 0:96].astype(float)
    a = np.deg2rad(degrees)
    stripes = np.cos(2 * np.pi / 9 * (xx * np.sin(a) + yy * np.cos(a)))
    theta, coherence = orientation(stripes)
    assert np.rad2deg(np.median(theta[24:72, 24:72])) == pytest.approx(degrees % 180, abs=2)
    assert coherence[48, 48] > 0.9


def test_extraction_yields_a_valid_iso_template() -> None:
    image = fp.impression(fp.identity(2, seed=5), 0, difficulty=0.2)
    result = extract(image)
    assert 15 <= len(result.minutiae) <= 80
    for m in result.minutiae:
        assert result.mask[m.y, m.x]
    data = result.record(position=2, quality=60).encode()
    decoded = MinutiaeRecord.decode(data).views[0].minutiae
    assert [(m.x, m.y, m.kind, m.quality) for m in decoded] == [
        (m.x, m.y, m.kind, m.quality) for m in result.minutiae
    ]
    steps = [
        abs(fpm.wrap(np.array(a.angle - b.angle)))
        for a, b in zip(decoded, result.minutiae, strict=True)
    ]
    assert max(steps) <= np.pi / 256 + 1e-9  # angles travel in 1.40625-degree units


def test_genuine_pairs_score_above_impostor_pairs() -> None:
    prepared = {
        (f, i): fpm.prepare(extract(fp.impression(fp.identity(f, seed=21), i)).minutiae)
        for f in range(5)
        for i in range(3)
    }
    genuine, impostor = [], []
    for (ka, a), (kb, b) in itertools.combinations(prepared.items(), 2):
        (genuine if ka[0] == kb[0] else impostor).append(fpm.match(a, b)[0])
    assert np.median(genuine) > 3 * np.percentile(impostor, 95)
    assert np.mean(np.array(genuine) > max(impostor)) > 0.7


def test_degraded_captures_lose_minutiae_quality() -> None:
    ident = fp.identity(3, seed=8)
    clean = extract(fp.impression(ident, 0, difficulty=0.0))
    blank = extract(np.full((288, 256), 230, dtype=np.uint8))
    assert blank.minutiae == () and not blank.mask.any()
    assert np.mean([m.quality for m in clean.minutiae]) > 50


def test_matcher_handles_tiny_templates() -> None:
    empty = fpm.prepare([])
    assert fpm.match(empty, empty) == (0.0, 0)


def test_calibration_maps_scores_to_rates() -> None:
    cal = fpm.Calibration(np.linspace(0, 0.1, 1001))
    assert cal.fmr(0.2) < 0.002
    assert cal.fmr(0.05) == pytest.approx(0.5, abs=0.01)
    assert cal.threshold(0.01) == pytest.approx(0.099, abs=0.002)
