"""Run the on-device biometric chains over the images of an ``.npz`` file; write what they found.

``python -m bench.aarch64_worker IN.npz OUT.json``. ``hotspot bench aarch64`` runs this
module twice on the same images, natively and under QEMU's aarch64 emulation, and compares
the two files. It imports nothing beyond the chain itself (numpy, scipy, Pillow, LiteRT), so
that the emulated interpreter needs only those packages' aarch64 wheels.

A 2-D array is a fingerprint (named ``NAME@PPI`` when it is not at 500 ppi), a 3-D one
an RGB frame for the face chain.
"""

from __future__ import annotations

import json
import platform
import sys

import numpy as np

DONE = "done"
"""How a progress line on stderr begins: ``done N NAME``."""


def main(argv: list[str]) -> int:
    from firmware.biometrics.face.pipeline import FaceAnalyzer
    from firmware.biometrics.fingerprint.pipeline import FingerprintAnalyzer

    source, target = argv
    images = np.load(source)
    fingers, faces = FingerprintAnalyzer(), FaceAnalyzer()
    results: dict[str, object] = {}
    for count, name in enumerate(images.files, 1):
        image = images[name]
        if image.ndim == 3:
            face = faces.analyse(image)
            results[name] = None if face is None else {
                "box": list(face.detection.box),
                "quality": face.quality.score,
                "embedding": face.embedding_bytes().hex(),
            }  # fmt: skip
        else:
            ppi = int(name.split("@")[1]) if "@" in name else 500
            found = fingers.analyse(image, ppi)
            results[name] = {
                "model": found.model,
                "quality": found.quality.score,
                "minutiae": [[m.x, m.y, m.angle, m.kind, m.quality] for m in found.minutiae],
            }
        print(f"{DONE} {count} {name}", file=sys.stderr, flush=True)
    with open(target, "w", encoding="utf-8") as out:
        json.dump({"machine": platform.machine(), "results": results}, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
