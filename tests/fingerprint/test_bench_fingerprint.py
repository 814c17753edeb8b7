"""``hotspot bench fingerprint`` on a small FVC-style folder of synthetic impressions."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from finger_fixtures import bench, impression
from PIL import Image

from bench import fingerprint

FVC = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "fvc"


def _fvc_folder(root: Path) -> Path:
    folder = root / "2002" / "DB9_B"
    folder.mkdir(parents=True)
    for finger in range(3):
        for index in range(3):
            path = folder / f"{101 + finger}_{index + 1}.tif"
            Image.fromarray(impression(10 + finger, index)).save(path)
    (folder / "notes.txt").write_text("not an image")
    return root


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return bench("fingerprint", *args, timeout=600)


def test_bench_prints_every_figure_per_set_and_overall(tmp_path: Path) -> None:
    done = _bench(
        "--data", str(_fvc_folder(tmp_path)), "--no-peers", "--distractors", "200", "--json"
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    ours = result["sets"]["2002/DB9_B"]["hotspot"]
    assert ours["images"] == 9 and ours["genuine_pairs"] == 9 and ours["impostor_pairs"] == 27
    for key in ("eer", "fnmr_at_fmr_1pct", "fnmr_at_fmr_01pct", "eer_fvc"):
        assert 0.0 <= ours[key] <= 0.25, key  # synthetic mates are easy
    assert ours["extract_ms"] > 0 and ours["match_us"] > 0 and ours["comparisons_per_s"] > 0
    # The part after the last row is a part: the block measures were taken as rows came.
    assert 0 < ours["extract_after_last_row_ms"] < ours["extract_ms"]
    # 1:N: the 3 fingers' first impressions among 200 synthetic ones, 6 searches.
    assert ours["gallery"] == 203
    assert ours["rank1"] >= 5 / 6 and ours["rank1_exhaustive"] >= 5 / 6
    assert ours["preselection_lost"] <= 1 / 6
    assert ours["comparisons_per_s"] > ours["full_matches_per_s"]  # the index is the point
    assert 30 < ours["template_bytes"] <= 30 + 6 * 48
    assert set(ours["edc"]) == {"0.00", "0.05", "0.10", "0.20", "0.30"}
    assert result["overall"]["hotspot"]["eer"] == ours["eer"]


def test_bench_explains_a_folder_without_fvc_images(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    done = _bench("--data", str(tmp_path / "empty"), "--no-peers")
    assert done.returncode == 1
    assert "no FFF_I.tif images" in done.stderr


def test_resolution_comes_from_the_fvc_table_unless_given() -> None:
    assert fingerprint.ppi_of("2002/DB2_B", None) == 569
    assert fingerprint.ppi_of("2004/DB3_B", None) == 512
    assert fingerprint.ppi_of("2000/DB1_B", None) == 500
    assert fingerprint.ppi_of("2002/DB2_B", 500) == 500


@pytest.mark.skipif(not (FVC / "2002" / "DB1_B").is_dir(), reason="FVC data not present")
def test_the_fvc_layout_is_discovered() -> None:
    labels = [label for label, _ in fingerprint.discover(FVC)]
    assert "2002/DB1_B" in labels
    samples = fingerprint.load(FVC / "2002" / "DB1_B")
    assert len(samples) == 80 and {s.impression for s in samples} == set(range(1, 9))
