"""``hotspot bench leader``: each LEADER model alone, beside another folder's files."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from finger_fixtures import bench

from models.runtime import ROOT


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return bench("leader", *args, timeout=300)


def test_it_times_each_size_beside_the_other_folders_file(tmp_path: Path) -> None:
    shutil.copy(ROOT / "fingerprint" / "leader_256x288_dr8.tflite", tmp_path)
    done = _bench("--sizes", "256x288", "--rounds", "2", "--against", str(tmp_path), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    (timing,) = result["models"]
    assert timing["size"] == "256x288" and timing["pixels"] == 256 * 288
    assert 0 < timing["best_ms"] <= timing["median_ms"]
    assert 0 < timing["against_best_ms"] <= timing["against_median_ms"]
    assert result["threads"] == 1 and result["rounds"] == 2 and result["point_heads_ms"] > 0


def test_a_missing_file_or_size_is_one_line_that_says_what_to_do(tmp_path: Path) -> None:
    done = _bench("--sizes", "256x288", "--rounds", "1", "--against", str(tmp_path))
    assert done.returncode == 1
    assert "leader_256x288_dr8.tflite is missing: give a folder of" in done.stderr
    assert "Traceback" not in done.stderr
    done = _bench("--sizes", "300x300")
    assert done.returncode == 1 and "choose from 256x288" in done.stderr
