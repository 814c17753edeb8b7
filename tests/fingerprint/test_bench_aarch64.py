"""``hotspot bench aarch64``: the comparisons it reports and the pieces that need no emulator.

The emulated run itself needs QEMU and Debian's arm64 packages (minutes, and network for the
first fetch), so it is a benchmark, not a test; what it measured is in the model card.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from bench import aarch64, aarch64_system
from bench.fingerprint_systems import BenchError
from hal.phantoms import face as face_phantoms
from hal.phantoms import fingerprint as phantoms
from wire import face as face_wire

REPO = Path(__file__).resolve().parents[2]


def result(minutiae: list[list[float]], quality: int = 70, model: str = "256x288") -> dict:
    return {"model": model, "quality": quality, "minutiae": minutiae}


BASE = [[10, 20, 1.0, 1, 80], [50, 60, 2.0, 2, 60], [90, 30, 3.0, 1, 40]]


def test_identical_runs_agree_fully() -> None:
    got = aarch64.compare_fingers({"a": result(BASE)}, {"a": result(BASE)})
    assert (got.minutiae, got.same, got.moved, got.lost, got.gained) == (3, 3, 0, 0, 0)
    assert (got.angle_deg, got.reliability, got.quality, got.models_differ) == (0, 0, 0, 0)


def test_moved_lost_and_gained_minutiae_are_told_apart() -> None:
    other = [
        [11, 21, 1.0, 1, 80],  # one pixel away: moved
        [50, 60, 2.0 + math.radians(0.5), 2, 61],  # same pixel, half a degree, reliability +1
        # the third is lost; a new one far away is gained
        [200, 200, 0.5, 1, 50],
    ]
    got = aarch64.compare_fingers({"a": result(BASE)}, {"a": result(other, 72, "320x320")})
    assert (got.same, got.moved, got.lost, got.gained) == (1, 1, 1, 1)
    assert got.angle_deg == pytest.approx(0.5, abs=1e-6)
    assert (got.reliability, got.quality, got.models_differ) == (1, 2, 1)


def test_a_minutia_of_another_type_nearby_is_not_moved() -> None:
    other = [[11, 20, 1.0, 2, 80], *BASE[1:]]
    got = aarch64.compare_fingers({"a": result(BASE)}, {"a": result(other)})
    assert (got.same, got.moved, got.lost, got.gained) == (2, 0, 1, 1)


def test_angles_compare_across_zero() -> None:
    mine = [[10, 20, 0.001, 1, 80]]
    theirs = [[10, 20, 2 * math.pi - 0.001, 1, 80]]
    got = aarch64.compare_fingers({"a": result(mine)}, {"a": result(theirs)})
    assert got.angle_deg == pytest.approx(math.degrees(0.002), abs=1e-6)


def face(vector: np.ndarray, quality: int = 80, box: tuple = (100, 80, 200, 240)) -> dict:
    unit = vector / np.linalg.norm(vector)
    return {"box": list(box), "quality": quality, "embedding": face_wire.encode(unit).hex()}


def test_faces_compare_embeddings_pair_scores_boxes_and_quality() -> None:
    rng = np.random.default_rng(0)
    vectors = [rng.normal(size=128) for _ in range(3)]
    native = {f"f{i}": face(v) for i, v in enumerate(vectors)}
    native["empty"] = None
    same = aarch64.compare_faces(native, dict(native))
    assert (same.images, same.found, same.found_both) == (4, 3, 3)
    assert same.self_similarity == pytest.approx(1.0, abs=1e-6)
    assert (same.score_change, same.box_px, same.quality) == (0.0, 0.0, 0)

    nudged = dict(native)
    nudged["f1"] = face(vectors[1] + rng.normal(scale=0.3, size=128), 77, (101, 80, 203, 240))
    nudged["f2"] = None
    got = aarch64.compare_faces(native, nudged)
    assert (got.found, got.found_both) == (3, 2)
    assert 0.9 < got.self_similarity < 0.999
    before = face_wire.similarity(*(bytes.fromhex(native[n]["embedding"]) for n in ("f0", "f1")))
    after = face_wire.similarity(*(bytes.fromhex(nudged[n]["embedding"]) for n in ("f0", "f1")))
    assert got.score_change == pytest.approx(abs(after - before))
    assert (got.box_px, got.quality) == (3, 3)


def test_cpuinfo_lists_every_processor_with_its_core() -> None:
    a72, a76 = aarch64_system.cpuinfo("cortex-a72", 4), aarch64_system.cpuinfo("cortex-a76", 2)
    assert a72.count("processor\t:") == 4 and a76.count("processor\t:") == 2
    assert "CPU part\t: 0xd08" in a72 and "CPU part\t: 0xd0b" in a76
    # The A76 has int8 dot products (XNNPACK's fast int8 kernels), the A72 has not.
    assert "asimddp" in a76 and "asimddp" not in a72


def test_a_missing_emulator_is_named_with_its_package(monkeypatch: pytest.MonkeyPatch) -> None:
    real = aarch64_system.shutil.which
    monkeypatch.setattr(
        aarch64_system.shutil, "which", lambda tool: None if tool.startswith("qemu") else real(tool)
    )
    with pytest.raises(BenchError, match="qemu-user-static") as caught:
        aarch64.run(["cortex-a72"], None, None, 1, REPO / "build" / "no-aarch64", lambda _: None)
    assert "\n" not in str(caught.value)


def test_a_wrong_face_folder_is_refused_before_anything_is_fetched(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="is not a folder"):
        aarch64.run(["cortex-a72"], None, tmp_path / "none", 1, tmp_path / "root", print)
    assert not (tmp_path / "root").exists()


def test_an_unknown_core_is_refused_before_anything_is_fetched(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="cortex-a72, cortex-a76"):
        aarch64.run(["cortex-a53"], None, None, 1, tmp_path / "root", lambda _: None)
    assert not (tmp_path / "root").exists()


def test_the_worker_runs_the_real_chain(tmp_path: Path) -> None:
    images = {
        "small": phantoms.impression(phantoms.identity(1), 0, (288, 256), 0.2),
        "scanned@569": phantoms.impression(phantoms.identity(2), 0, (330, 290), 0.2),
        "portrait": face_phantoms.render(),
        "wall": np.full((480, 640, 3), 128, np.uint8),
    }
    np.savez(tmp_path / "in.npz", **images)
    told: list[str] = []
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = aarch64._worker(
        [sys.executable], tmp_path / "in.npz", tmp_path / "out.json", env, told.append, "here"
    )
    assert told == [f"here: {n}/4 images" for n in range(1, 5)]
    assert out["machine"] == "x86_64" or out["machine"] == "aarch64"
    assert set(out["results"]) == set(images)
    for name in ("small", "scanned@569"):
        found = out["results"][name]
        assert len(found["minutiae"]) >= 10 and 0 < found["quality"] <= 100
    portrait = out["results"]["portrait"]
    assert len(bytes.fromhex(portrait["embedding"])) == face_wire.DIMS
    assert 0 < portrait["quality"] <= 100 and portrait["box"][2] > 40
    assert out["results"]["wall"] is None
    # 569 ppi is resampled to the network's 425 ppi: the smaller image picks a model no
    # larger than the one the 500 ppi image of about the same size needs.
    assert out["results"]["scanned@569"]["model"] in {"256x288", "320x320"}
    fingers = {n: out["results"][n] for n in ("small", "scanned@569")}
    assert aarch64.compare_fingers(fingers, fingers).lost == 0


def test_a_failing_worker_is_one_line_with_its_last_message(tmp_path: Path) -> None:
    np.savez(tmp_path / "in.npz", broken=np.zeros((10, 10, 3), np.float32))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with pytest.raises(BenchError, match=r"failed here .*uint8 RGB, not float32") as caught:
        aarch64._worker(
            [sys.executable], tmp_path / "in.npz", tmp_path / "out.json", env, print, "here"
        )
    assert "\n" not in str(caught.value)
