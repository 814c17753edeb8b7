"""The face models' reference output, which the update health check compares against.

A slot is only healthy if its models load *and* compute what they computed
when the release was built: a damaged or mismatched model file that still
loads (a wrong runtime, a half-written weight file with a fixed-up digest)
would otherwise pass. The reference input is the rendered phantom frame,
made from the code itself, so nothing biometric is stored. The reference
output lives beside the models (``models/face/reference.json``) and moves
with them in a model-only update.

Write it after changing a model: ``python -m firmware.biometrics.face.reference --write``.
"""

from __future__ import annotations

import argparse
import base64
import json
from pathlib import Path
from typing import Any

import numpy as np

from firmware.biometrics.face.pipeline import FaceAnalyzer
from hal.phantoms.face import render

MIN_COSINE = 0.98
MAX_BOX_PX = 3.0


def _path() -> Path:
    from models.runtime import ROOT

    return ROOT / "face" / "reference.json"


def compute() -> dict[str, Any]:
    result = FaceAnalyzer().analyse(render())
    if result is None:
        raise RuntimeError("the face models found no face in the reference frame")
    return {
        "box": [round(v, 2) for v in result.detection.box],
        "embedding": base64.b64encode(result.embedding_bytes()).decode(),
        "quality": result.quality.score,
    }


def check() -> dict[str, Any]:
    """{"ok": bool, ...}: the models' output on the reference frame against the stored one."""
    path = _path()
    if not path.exists():
        return {"ok": False, "error": f"{path} is missing: the models' reference output"}
    expected = json.loads(path.read_text())
    got = compute()
    a = np.frombuffer(base64.b64decode(got["embedding"]), np.int8).astype(np.float32)
    b = np.frombuffer(base64.b64decode(expected["embedding"]), np.int8).astype(np.float32)
    cosine = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
    box = float(np.abs(np.array(got["box"]) - np.array(expected["box"])).max())
    ok = cosine >= MIN_COSINE and box <= MAX_BOX_PX
    report: dict[str, Any] = {"ok": ok, "cosine": round(cosine, 4), "box_px": round(box, 2)}
    if not ok:
        report["error"] = (
            f"face models differ from their reference output (cosine {cosine:.3f}, "
            f"box off by {box:.1f} px): reinstall the release"
        )
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description="write or check the face models' reference")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    if args.write:
        _path().write_text(json.dumps(compute(), indent=1) + "\n")
        print(f"wrote {_path()}")
        return 0
    report = check()
    print(json.dumps(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
