"""The health verdict the update guard asks a freshly installed release for.

"Healthy" means what the officer needs from the device: every configured HAL
device answers, and the broker is reachable when the modem says the link is
up (with the link down, an unreachable broker proves nothing), and the models
load, match their digests and give their reference output
(:mod:`firmware.biometrics.face.reference`). The verdict is JSON on stdout;
the guard treats anything else as a failure.
"""

from __future__ import annotations

import socket
from typing import Any

from firmware import selftest
from firmware.wiring import Devices
from hal.errors import HalError


def run(
    devices: Devices, broker: tuple[str, int] | None, registration_wait_s: float = 3.0
) -> dict[str, Any]:
    report = selftest.run(devices, registration_wait_s=registration_wait_s)
    checks: dict[str, Any] = {}
    for device in report.devices:
        check: dict[str, Any] = {"ok": device.ok}
        if device.error:
            check["error"] = device.error
        checks[f"hal.{device.name}"] = check
    checks["broker"] = _broker(devices, broker)
    checks["models.face"] = _face_models()
    checks["models.fingerprint"] = _fingerprint_models()
    return {"ok": all(c["ok"] for c in checks.values()), "checks": checks}


def _face_models() -> dict[str, Any]:
    try:
        from firmware.biometrics.face import reference

        return reference.check()
    except Exception as exc:  # any failure to load or run is the verdict, not a crash
        return {"ok": False, "error": f"face models unusable: {type(exc).__name__}: {exc}"}


def _fingerprint_models() -> dict[str, Any]:
    """Every LEADER file matches its digest, the sensor-size model finds the minutiae of a
    synthetic impression (a model that loads but computes garbage finds none or hundreds), and
    each precision's model with the point heads finds what pyfing's network found there."""
    try:
        from firmware.biometrics.fingerprint import leader, reference
        from firmware.biometrics.fingerprint.pipeline import FingerprintAnalyzer
        from hal.phantoms.fingerprint import identity, impression
        from models import model_path

        for name, _, _ in leader.SIZES:
            for precision in leader.PRECISIONS:
                model_path(f"fingerprint/leader_{name}_{precision}.tflite")
        image = impression(identity(3), 0, (288, 256), 0.2)
        found = len(FingerprintAnalyzer().analyse(image).minutiae)
        if not 15 <= found <= 80:
            return {"ok": False, "error": f"LEADER found {found} minutiae on the reference print"}
        verdicts = {precision: reference.check(precision) for precision in leader.PRECISIONS}
        for verdict in verdicts.values():
            if not verdict["ok"]:
                return verdict
        return {"ok": True, "minutiae": found, "reference": verdicts}
    except Exception as exc:  # any failure to load or run is the verdict, not a crash
        return {"ok": False, "error": f"fingerprint models unusable: {type(exc).__name__}: {exc}"}


def _broker(devices: Devices, broker: tuple[str, int] | None) -> dict[str, Any]:
    if broker is None:
        return {"ok": True, "skipped": "no broker configured"}
    try:
        up = devices.modem.link.up
    except HalError as exc:
        return {"ok": True, "skipped": f"modem unavailable ({type(exc).__name__})"}
    if not up:
        return {"ok": True, "skipped": "link down"}
    try:
        with socket.create_connection(broker, timeout=5.0):
            return {"ok": True}
    except OSError as exc:
        return {"ok": False, "error": f"broker {broker[0]}:{broker[1]} unreachable: {exc}"}
