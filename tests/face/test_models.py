"""Shipped models load only when their digest matches."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from models import ModelError, model_path
from models.runtime import ROOT


def test_every_shipped_model_matches_its_checksum() -> None:
    for name in ("face/yunet_640.tflite", "face/facemesh_v2.tflite", "face/sface_int8.tflite"):
        assert model_path(name).stat().st_size > 100_000


def test_a_damaged_model_is_refused(tmp_path: Path) -> None:
    (tmp_path / "face").mkdir()
    shutil.copy(ROOT / "face" / "SHA256SUMS", tmp_path / "face" / "SHA256SUMS")
    data = bytearray((ROOT / "face" / "yunet_640.tflite").read_bytes())
    data[5000] ^= 0xFF
    (tmp_path / "face" / "yunet_640.tflite").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="damaged"):
        model_path("face/yunet_640.tflite", root=tmp_path)
    with pytest.raises(ModelError, match="missing"):
        model_path("face/sface_int8.tflite", root=tmp_path)
    with pytest.raises(ModelError, match="not listed"):
        model_path("face/unknown.tflite", root=tmp_path)


def test_every_model_has_a_card() -> None:
    cards = {p.name for p in (ROOT / "face").glob("*.md")}
    assert {"yunet.md", "facemesh.md", "sface.md"} <= cards
    for card in cards:
        text = (ROOT / "face" / card).read_text()
        for heading in ("Source", "Licence", "Input", "Output", "Accuracy", "Latency", "SHA-256"):
            assert heading in text, (card, heading)


def _health(models: Path) -> tuple[int, dict[str, object]]:
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "HOTSPOT_MODELS": str(models)}
    out = subprocess.run(
        [sys.executable, "-m", "hotspot", "hal", "health", "--emulated", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    return out.returncode, json.loads(out.stdout)


def test_health_check_needs_the_models_reference_output(tmp_path: Path) -> None:
    import hashlib

    shutil.copytree(ROOT / "face", tmp_path / "face")
    shutil.copytree(ROOT / "fingerprint", tmp_path / "fingerprint")
    code, verdict = _health(tmp_path)
    assert code == 0 and verdict["checks"]["models.face"]["ok"]  # type: ignore[index]

    # Weights altered and the digest list "fixed up" to match: the file loads, but
    # computes something else, and the verdict says so.
    model = tmp_path / "face" / "sface_int8.tflite"
    data = bytearray(model.read_bytes())
    start, end = 1_000_000, len(data) - 1_000_000  # weight buffers, not the tables
    data[start:end] = bytes(end - start)
    model.write_bytes(bytes(data))
    sums = tmp_path / "face" / "SHA256SUMS"
    lines = [
        f"{hashlib.sha256(model.read_bytes()).hexdigest()}  {model.name}"
        if line.endswith(model.name)
        else line
        for line in sums.read_text().splitlines()
    ]
    sums.write_text("\n".join(lines) + "\n")
    code, verdict = _health(tmp_path)
    check = verdict["checks"]["models.face"]  # type: ignore[index]
    assert code == 1 and not verdict["ok"] and not check["ok"]
    assert "reference" in check["error"] or "unusable" in check["error"]
