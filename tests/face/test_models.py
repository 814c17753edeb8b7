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
