"""Run the on-device fingerprint chain over the images of an ``.npz`` file; write what it found.

``python -m bench.aarch64_worker IN.npz OUT.json``. ``hotspot bench aarch64`` runs this
module twice on the same images, natively and under QEMU's aarch64 emulation, and compares
the two files. It imports nothing beyond the chain itself (numpy, scipy, Pillow, LiteRT), so
that the emulated interpreter needs only those packages' aarch64 wheels.

An array named ``NAME@PPI`` is an image at ``PPI``; any other name is at 500 ppi.
"""

from __future__ import annotations

import json
import platform
import sys

import numpy as np

from firmware.biometrics.fingerprint.pipeline import FingerprintAnalyzer


def main(argv: list[str]) -> int:
    source, target = argv
    images = np.load(source)
    analyzer = FingerprintAnalyzer()
    results = {}
    for name in images.files:
        ppi = int(name.split("@")[1]) if "@" in name else 500
        found = analyzer.analyse(images[name], ppi)
        results[name] = {
            "model": found.model,
            "quality": found.quality.score,
            "minutiae": [[m.x, m.y, m.angle, m.kind, m.quality] for m in found.minutiae],
        }
        print(f"{name} {len(found.minutiae)}", file=sys.stderr, flush=True)
    with open(target, "w", encoding="utf-8") as out:
        json.dump({"machine": platform.machine(), "results": results}, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
