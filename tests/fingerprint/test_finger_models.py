"""The LEADER models: digests, cards, and a health check that notices altered weights."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from firmware.biometrics.fingerprint import leader, reference
from models import model_path
from models.runtime import ROOT


def test_every_size_and_precision_is_shipped_with_its_digest() -> None:
    for name, height, width in leader.SIZES:
        for precision in leader.PRECISIONS:
            path = model_path(f"fingerprint/leader_{name}_{precision}.tflite")
            assert 1_000_000 < path.stat().st_size < 2_500_000
            model = leader.MinutiaeNetwork(precision).model(name)
            assert model.input_shape() == (1, height, width, 1)


def test_the_model_card_carries_the_required_sections() -> None:
    text = (ROOT / "fingerprint" / "leader.md").read_text()
    for heading in ("Source", "Licence", "Input", "Output", "Accuracy", "Latency", "SHA-256"):
        assert heading in text, heading
    for line in (ROOT / "fingerprint" / "SHA256SUMS").read_text().splitlines():
        assert line.split()[0] in text  # every digest is in the card


def _health(models: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-m", "hotspot", "hal", "health", "--emulated", "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "HOTSPOT_MODELS": str(models)},
        timeout=120,
        check=False,
    )
    verdict: dict[str, object] = json.loads(done.stdout)["checks"]["models.fingerprint"]
    return verdict


def _fix_digest(path: Path) -> None:
    """Write ``path``'s new digest into its folder's SHA256SUMS, as a forger would."""
    sums = path.parent / "SHA256SUMS"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    sums.write_text(
        "".join(
            f"{digest}  {path.name}\n" if line.endswith(path.name) else line + "\n"
            for line in sums.read_text().splitlines()
        )
    )


def test_health_check_fails_on_altered_weights_even_with_a_fixed_up_digest(
    tmp_path: Path,
) -> None:
    shutil.copytree(ROOT / "face", tmp_path / "face")
    shutil.copytree(ROOT / "fingerprint", tmp_path / "fingerprint")
    assert _health(tmp_path)["ok"]
    model = tmp_path / "fingerprint" / "leader_256x288_dr8.tflite"
    data = bytearray(model.read_bytes())
    data[200_000:900_000] = bytes(700_000)  # weight buffers, not the flatbuffer tables
    model.write_bytes(bytes(data))
    _fix_digest(model)
    verdict = _health(tmp_path)
    assert not verdict["ok"]
    assert "minutiae" in str(verdict["error"]) or "unusable" in str(verdict["error"])


def _depthwise_kernels(path: Path) -> list[tuple[list[int], int]]:
    """(shape, tensor type) of every depthwise convolution's kernel in a TFLite file."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(path.read_bytes(), 0)
    graph = model.Subgraphs(0)
    kernels = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        if max(code.BuiltinCode(), code.DeprecatedBuiltinCode()) == (
            schema.BuiltinOperator.DEPTHWISE_CONV_2D
        ):
            tensor = graph.Tensors(op.Inputs(1))
            kernels.append((list(tensor.ShapeAsNumpy()), tensor.Type()))
    return kernels


def test_the_shipped_networks_keep_to_what_xnnpack_runs_fast() -> None:
    # models/build/leader_rewrite.py: depthwise kernels of at most 25 taps (a 7x7 one is
    # 15x slower in XNNPACK) and, in the int8 files, float32 depthwise weights (int8 ones
    # take the slow hybrid path). A rebuild that skipped the rewrite would fail here.
    for name, _, _ in leader.SIZES:
        for precision in leader.PRECISIONS:
            path = model_path(f"fingerprint/leader_{name}_{precision}.tflite")
            kernels = _depthwise_kernels(path)
            assert len(kernels) > 11
            for shape, kind in kernels:
                assert shape[1] * shape[2] <= 25, (name, precision, shape)
                if precision == "dr8":
                    assert kind == 0, (name, shape)  # TensorType.FLOAT32


def test_the_shipped_files_compute_pyfings_network_on_the_reference_print() -> None:
    # models/fingerprint/reference.json: what pyfing's Keras network found at build time.
    for precision in leader.PRECISIONS:
        verdict = reference.check(precision)
        assert verdict["ok"], verdict
        assert verdict["minutiae"] >= 30 and verdict["kept"] >= 0.95


def test_health_check_fails_when_the_point_heads_read_the_wrong_phase(tmp_path: Path) -> None:
    # Direction weights whose four output phases are swapped (row and column offset
    # transposed): still loadable, still plausible directions, each off by a pixel's worth.
    shutil.copytree(ROOT / "face", tmp_path / "face")
    shutil.copytree(ROOT / "fingerprint", tmp_path / "fingerprint")
    heads = tmp_path / "fingerprint" / "leader_heads.npz"
    with np.load(heads) as stored:
        arrays = {key: stored[key] for key in stored.files}
    phases = arrays["direction.phases"]
    blocks = phases.reshape(*phases.shape[:3], 4, -1)
    arrays["direction.phases"] = blocks[..., [0, 2, 1, 3], :].reshape(phases.shape)
    np.savez(heads, **arrays)
    _fix_digest(heads)
    verdict = _health(tmp_path)
    assert not verdict["ok"]
    assert "pyfing's network" in str(verdict["error"])
