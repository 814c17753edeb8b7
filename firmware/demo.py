"""The demo: the emulated handheld through its self-test and one fingerprint and face capture.

What a new user sees first. It uses the embedded default configuration (every
device emulated, real drivers over real transports) unless told otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from firmware import capture, selftest
from firmware import config as config_mod
from firmware.cli import print_report
from firmware.wiring import Devices


def _bar(out: TextIO, label: str) -> Callable[[int, int], None]:
    tty = out.isatty()

    def progress(done: int, total: int) -> None:
        if not tty:
            # In a log, four lines rather than a spinning bar.
            if done * 4 // total != (done - 1) * 4 // total:
                out.write(f"  {label}: {done}/{total} rows\n")
            return
        if done % 8 and done != total:
            return
        width = 30
        filled = width * done // total
        out.write(f"\r  {label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} rows")
        if done == total:
            out.write("\n")
        out.flush()

    return progress


def run(config_path: str | None, realtime: bool, out: TextIO) -> int:
    cfg = config_mod.load(config_path)
    print(
        "HOTSPOT handheld demo (emulated hardware unless a configuration says otherwise)", file=out
    )
    with Devices(cfg, realtime_emulation=realtime) as devices:
        report = selftest.run(devices)
        print_report(report)
        if not report.ok:
            return 1
        print("\nFingerprint: place a finger on the sensor...", file=out)
        finger = capture.capture_finger(
            devices.fingerprint, cfg.fingerprint.capture_timeout_s, _bar(out, "receiving")
        )
        for key, value in finger.summary().items():
            print(f"  {key:<12} {value}", file=out)
        verdict = "good" if finger.coverage > 0.4 and finger.contrast > 30 else "retake"
        print(f"  capture      {verdict} (signal check; model-based quality comes next)", file=out)
        print("\nFace: look at the camera...", file=out)
        face = capture.capture_face(devices.camera, frames=10)
        print(
            f"  kept frame {face.best_index + 1} of {face.frames}: "
            f"sharpness {face.sharpness}, exposure {face.exposure}",
            file=out,
        )
    print("\nDemo finished: every device answered and both captures completed.", file=out)
    return 0
