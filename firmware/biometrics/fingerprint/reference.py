"""The LEADER files held to what pyfing's own network finds on a reference impression.

Why: a digest proves that a file is the one the build wrote, not that the
model and the point heads (``heads.py``) together still compute pyfing's
network: a wrong pairing of model and head weights, a runtime that computes
differently, or a change to how the device reads the model's output would all
load and give plausible but wrong minutiae. The build records the original
Keras network's minutiae on a synthetic impression made by the code itself
(``models/fingerprint/reference.json``: pixel, direction, ending probability),
and :func:`check` runs the shipped files on the same impression.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from firmware.biometrics.fingerprint import leader
from hal.phantoms.fingerprint import identity, impression

TOLERANCE = {"f16": (1, 1.0, 1.0), "dr8": (2, 0.85, 2.0)}
"""Precision -> (pixels a minutia may move, share that must stay within them, degrees its
direction may turn), the build's own acceptance of a converted model."""
MAX_ENDING = 0.05
"""How far the ending probability may move."""


def check(precision: str = "dr8") -> dict[str, Any]:
    """{"ok": bool, ...}: the shipped model at the reference's size and the point heads on
    the reference impression, against pyfing's network."""
    from models.runtime import ROOT

    path = ROOT / "fingerprint" / "reference.json"
    if not path.exists():
        return {"ok": False, "error": f"{path} is missing: the fingerprint models' reference"}
    expected = json.loads(path.read_text())
    image = impression(identity(3), 0, (288, 256), 0.2)
    if hashlib.sha256(image.tobytes()).hexdigest() != expected["image"]["sha256"]:
        return {
            "ok": False,
            "error": "the reference impression differs from the one the models were checked "
            "on (hal.phantoms changed): rebuild models/fingerprint",
        }
    network = leader.MinutiaeNetwork(precision)
    packed = network.model(expected["model"]).run(image[None, :, :, None].astype(np.float32))
    features, suppressed = leader.unpack(next(iter(packed.values()))[0])
    rows = np.array(expected["minutiae"]["rows"], np.float64)
    xs, ys = rows[:, 0].astype(np.intp), rows[:, 1].astype(np.intp)
    moved, share, degrees = TOLERANCE[precision]
    gy, gx = np.nonzero(suppressed >= expected["threshold"])
    distance = np.maximum(np.abs(xs[:, None] - gx[None, :]), np.abs(ys[:, None] - gy[None, :]))
    kept = float((distance.min(axis=1, initial=10**6) <= moved).mean())
    angle, _, ending = network.heads.at(features, ys, xs)
    turned = float(np.degrees(np.abs(np.angle(np.exp(1j * (angle - rows[:, 2]))))).max())
    ending_moved = float(np.abs(ending - rows[:, 3]).max())
    ok = kept >= share and turned <= degrees and ending_moved <= MAX_ENDING
    report: dict[str, Any] = {
        "ok": ok,
        "minutiae": len(rows),
        "kept": round(kept, 3),
        "direction_degrees": round(turned, 2),
        "ending": round(ending_moved, 3),
    }
    if not ok:
        report["error"] = (
            f"fingerprint models differ from pyfing's network on the reference print ({kept:.0%} "
            f"of its minutiae found, directions off by up to {turned:.1f} degrees): reinstall "
            "the release"
        )
    return report
