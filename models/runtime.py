"""Load a shipped TFLite model, checked against its published digest, on LiteRT.

Why a wrapper: the device runs LiteRT (``ai-edge-litert``) and falls back to
``tflite_runtime`` where only that is installed; both expose the same
``Interpreter``. The wrapper runs one thread unless asked for more (the face
models were never faster with two on the 2-core development VM; LEADER, the one
large network, ran 1.9 times as fast with two on LiteRT 2.3 there, so the device
configuration may give it more), and always one on tflite-runtime, whose 2.14
is pathologically slow with two. It resolves tensors by name once, and verifies
the file's SHA-256 so a damaged update cannot load silently.
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt


def _root() -> Path:
    """Where the model files are.

    In a checkout they sit beside this module. In an installed update slot the
    bundle puts code under ``<slot>/app/`` and model files under ``<slot>/models/``
    (so a model-only update moves only those), and ``HOTSPOT_MODELS`` overrides both.
    """
    override = os.environ.get("HOTSPOT_MODELS")
    if override:
        return Path(override)
    here = Path(__file__).resolve().parent
    slot_models = here.parent.parent / "models"
    if here.parent.name == "app" and (slot_models / "face" / "SHA256SUMS").exists():
        return slot_models
    return here


ROOT = _root()


class ModelError(Exception):
    """A model file is missing, damaged, or no TFLite runtime is installed."""


def _interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter

        return Interpreter
    except ImportError as exc:
        raise ModelError(
            "no TFLite runtime is installed: install LiteRT with 'pip install ai-edge-litert' "
            "(or tflite-runtime where LiteRT has no wheel)"
        ) from exc


@functools.cache
def _digests(folder: Path) -> Mapping[str, str]:
    sums = folder / "SHA256SUMS"
    if not sums.exists():
        raise ModelError(f"{sums} is missing: the model folder is incomplete; reinstall it")
    digests = {}
    for line in sums.read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            digests[name.lstrip("*")] = digest
    return digests


def model_path(name: str, root: Path = ROOT) -> Path:
    """The verified path of ``name`` (e.g. ``"face/sface_int8.tflite"``)."""
    path = root / name
    expected = _digests(path.parent).get(path.name)
    if expected is None:
        raise ModelError(f"{name} is not listed in {path.parent / 'SHA256SUMS'}")
    if not path.exists():
        raise ModelError(f"model {name} is missing at {path}; reinstall the firmware bundle")
    actual = _file_digest(path)
    if actual != expected:
        raise ModelError(
            f"model {name} is damaged (sha256 {actual[:12]}…, expected {expected[:12]}…); "
            "reinstall the firmware bundle"
        )
    return path


@functools.cache
def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Model:
    """One loaded TFLite model; call it with named inputs, get named outputs."""

    def __init__(self, path: Path, threads: int = 1) -> None:
        self.path = path
        try:
            interpreter = _interpreter_class()
            if interpreter.__module__.startswith("tflite_runtime"):
                threads = 1
            self._interpreter = interpreter(model_path=str(path), num_threads=threads)
            self._interpreter.allocate_tensors()
        except ValueError as exc:
            raise ModelError(f"{path.name} does not load in this TFLite runtime: {exc}") from exc
        self.inputs = {d["name"]: d for d in self._interpreter.get_input_details()}
        self.outputs = {d["name"]: d for d in self._interpreter.get_output_details()}
        # Converted graphs name their tensors "PartitionedCall:7"; the signature keeps
        # the source model's names (cls_8, bbox_16, ...), so outputs come back by those. Only
        # the names are taken from it: its runner resizes and re-allocates every tensor on
        # each call (LiteRT's SignatureRunner.__call__), which cost 5 ms a run of LEADER at
        # 416x448, so runs go through the interpreter's tensors by index instead.
        signatures = self._interpreter.get_signature_list()
        if len(signatures) == 1:
            runner = self._interpreter.get_signature_runner(next(iter(signatures)))
            self.inputs = dict(runner.get_input_details())
            self.outputs = dict(runner.get_output_details())

    def input_shape(self, index: int = 0) -> tuple[int, ...]:
        detail = list(self.inputs.values())[index]
        return tuple(int(v) for v in detail["shape"])

    def run(self, *arrays: npt.NDArray[Any]) -> dict[str, npt.NDArray[np.float32]]:
        """Set the inputs in declaration order, invoke, return every output by name."""
        for detail, array in zip(self.inputs.values(), arrays, strict=True):
            self._interpreter.set_tensor(
                detail["index"], np.ascontiguousarray(array, detail["dtype"])
            )
        self._interpreter.invoke()
        return {name: self._interpreter.get_tensor(d["index"]) for name, d in self.outputs.items()}


_LOADED: dict[str, Model] = {}
_LOADING = threading.Lock()


def load(name: str, threads: int = 1) -> Model:
    """The shared, verified instance of a shipped model (loaded on first use), with
    ``threads`` LiteRT threads (one interpreter per thread count).

    Loading is serialised: a capture that asks for a model while a background thread
    is still loading it waits for that load instead of starting a second one.
    """
    key = name if threads == 1 else f"{name}#threads={threads}"
    with _LOADING:
        model = _LOADED.get(key)
        if model is None:
            model = _LOADED[key] = Model(model_path(name), threads)
        return model


def release(prefix: str) -> list[str]:
    """Forget the loaded models whose name starts with ``prefix`` (``"face/"``).

    The memory goes back once no caller holds the model any more. The device service
    keeps one capture chain resident at a time: the interpreters' working memory (about
    140 MB for LEADER under XNNPACK, 100 MB for the three face models) is what decides
    its footprint, and the chain not in use loads again in 50-150 ms, in the background.
    """
    with _LOADING:
        names = [name for name in _LOADED if name.startswith(prefix)]
        for name in names:
            del _LOADED[name]
    return names
