"""Build the LEADER minutiae models in ``models/fingerprint/`` from pyfing's published weights.

Run it in the build environment (TensorFlow and Keras are build tools, never
device dependencies)::

    python3.11 -m venv .venv-models
    .venv-models/bin/pip install -r models/build/requirements.txt
    .venv-models/bin/python models/build/fingerprint.py      # about 3 minutes on 2 cores

Steps, each checked:

1. Download ``pyfing`` 0.7.3 (MIT, R. Cappelli) from PyPI and check the
   wheel's and ``LEADER.weights.h5``'s SHA-256 against the digests pinned
   below. pyfing declares no dependencies and is never installed: its package
   folder is put on ``sys.path`` only to build the network.
2. Build LEADER (948,114 parameters) with pyfing's own architecture code and
   load the weights.
3. Rewrite the layers LiteRT's CPU path runs slowly into exact equivalents
   (``leader_rewrite.py``: 7x7 depthwise convolutions split into dilated
   parts, normalisation folded into the next 1x1 convolution, each inverted
   bottleneck's linear tail folded, the stems as centred convolutions,
   separable pooling; same function), and split off the direction and type
   heads (``leader_split.py``): the TFLite model ends at the suppressed
   probability and the heads' shared features, and the two heads' weights
   go to ``leader_heads.npz`` for the device to run at the minutiae only.
   Together about 0.4x the time of pyfing's network converted as it is.
4. Convert it at fixed input sizes (TFLite cannot convert LEADER with a
   dynamic height and width, and XNNPACK cannot resize a converted one):
   256x288 (UART modules, R30x), 320x416 (FAP 20, 300x400 padded to a
   multiple of 32) and 416x512 (FAP 30, 400x500), and between them the
   sizes that fit the common windows tighter, since the time follows the
   pixels: 320x320 (300x300), 352x384 (328x364) and 320x512 (narrow windows
   up to 512 tall), and for the windows at the chain's 425 ppi 256x352,
   288x352, 352x352, 256x448 and 416x448. (288x384 was tried: the rewritten network drifts from
   pyfing's by 7e-4 at that size, beyond the check's 1e-4, so it is not
   built.) Each size as float16 weights and as dynamic-range int8 (with the
   depthwise kernels kept float32, which XNNPACK runs faster).
5. Check the rewrite and split against the original Keras network on a
   synthetic impression from ``hal.phantoms`` (probability and type to 1e-4,
   direction at the minutiae to 1e-3 rad, the heads through the device's own
   ``heads.py``), then every converted model: the same minutiae (float16:
   every one within 1 px; int8: at least 85 % within 2 px) with directions
   within 1 (float16) or 2 (int8) degrees, and write ``SHA256SUMS``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

from common import download, fresh_workdir, sha256, step, write_sums  # noqa: E402
from leader_rewrite import float_depthwise, rewrite  # noqa: E402
from leader_split import dense, point_heads, tflite, write_arrays  # noqa: E402

from firmware.biometrics.fingerprint.heads import PointHeads, head  # noqa: E402
from firmware.biometrics.fingerprint.leader import unpack  # noqa: E402

WHEEL = "pyfing-0.7.3-py2.py3-none-any.whl"
WHEELS = {
    WHEEL: ("pyfing==0.7.3", "4e11f7abd61d0782746161892862e554d845d73725e2a9822c13adf9231fd138"),
}
WEIGHTS_SHA256 = "0cbf12af936482d10ba54b23f40a9b192ab767df2f81bc96c5954585735fefe6"
SIZES = {
    "256x288": (288, 256),
    "320x416": (416, 320),
    "416x512": (512, 416),
    # Added later, and built after the first three, which stay bit-identical (the
    # converter's output depends on how many models the process built before).
    "320x320": (320, 320),
    "352x384": (384, 352),
    "320x512": (512, 320),
    # For the windows of the sensors' images at the network's 425 ppi (2026-12-04): a 256x364
    # image is 218x309 there, 288x384 is 245x326, 388x374 is 330x318, 296x560 at 569 ppi is
    # 221x418 and 448x478 is 381x406, each with 8 px to spare on every side.
    "256x352": (352, 256),
    "288x352": (352, 288),
    "256x448": (448, 256),
    "352x352": (352, 352),
    "416x448": (448, 416),
}
"""Model name -> (height, width) of its fixed input."""
THRESHOLD = 0.6
HEADS_FILE = "leader_heads.npz"
REFERENCE_SIZE = "256x288"
REFERENCE_IMAGE = "hal.phantoms.fingerprint.impression(identity(3), 0, (288, 256), 0.2)"
"""The impression every check runs on (at 256x288 it fills the model's input)."""
HEAD_DEGREES = {"f16": 1.0, "dr8": 2.0}
"""How far the point heads' direction on a converted model's features may stray from Keras's
at the reference minutiae (the features carry the weights' rounding)."""


def fetch(work: Path) -> Path:
    """The verified pyfing package folder."""
    download(work, WHEELS)
    with zipfile.ZipFile(work / WHEEL) as archive:
        archive.extractall(work / "src")
    weights = work / "src" / "pyfing" / "models" / "LEADER.weights.h5"
    if sha256(weights) != WEIGHTS_SHA256:
        raise SystemExit(f"{weights.name}: digest {sha256(weights)} differs from the pinned one")
    return work / "src"


def phantom(height: int, width: int) -> np.ndarray:
    """A synthetic impression, centred on a background-grey canvas of the model's size."""
    from hal.phantoms import fingerprint as ph

    image = ph.impression(ph.identity(3), 0, (min(height, 288), min(width, 256)), 0.2)
    canvas = np.full((height, width), int(image[0, 0]), np.uint8)
    top, left = (height - image.shape[0]) // 2, (width - image.shape[1]) // 2
    canvas[top : top + image.shape[0], left : left + image.shape[1]] = image
    return canvas


def minutiae(suppressed: np.ndarray) -> np.ndarray:
    """(x, y) of every pixel of the suppressed probability (H x W) at the threshold."""
    ys, xs = np.nonzero(suppressed >= THRESHOLD)
    return np.stack([xs, ys], axis=1).astype(float)


def agreement(reference: np.ndarray, got: np.ndarray, tolerance: float) -> float:
    """Fraction of the reference minutiae with a converted one within ``tolerance`` px."""
    if len(reference) == 0:
        return 1.0 if len(got) == 0 else 0.0
    if len(got) == 0:
        return 0.0
    d = np.hypot(*(reference[:, None, :] - got[None, :, :]).transpose(2, 0, 1))
    return float((d.min(axis=1) <= tolerance).mean())


def outputs(lite: object, sample: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The converted model's suppressed probability (H x W) and features (H/2 x W/2 x C)."""
    lite.set_tensor(lite.get_input_details()[0]["index"], sample)
    lite.invoke()
    features, suppressed = unpack(lite.get_tensor(lite.get_output_details()[0]["index"])[0])
    return suppressed, features


def heads_agree(
    heads: PointHeads, features: np.ndarray, planes: np.ndarray, ys: np.ndarray, xs: np.ndarray
) -> tuple[float, float]:
    """Largest direction difference (radians) and ending-probability difference between the
    point heads on ``features`` and pyfing's network (``planes``) at pixels ``(ys, xs)``."""
    angle, _, ending = heads.at(features, ys, xs)
    turned = np.angle(np.exp(1j * (angle - planes[ys, xs, 1])))
    return float(np.abs(turned).max(initial=0)), float(
        np.abs(ending - planes[ys, xs, 2]).max(initial=0)
    )


def write_reference(
    path: Path, image: np.ndarray, planes: np.ndarray, ys: np.ndarray, xs: np.ndarray
) -> None:
    """What pyfing's own network finds on the reference impression, for the device's tests
    and health check to hold the shipped files to: each minutia's pixel, direction and
    ending probability."""
    found = [
        [
            int(x),
            int(y),
            round(float(np.mod(planes[y, x, 1], 2 * np.pi)), 5),
            round(float(planes[y, x, 2]), 5),
        ]
        for y, x in zip(ys, xs, strict=True)
    ]
    reference = {
        "network": "pyfing 0.7.3 LEADER, Keras, float32",
        "image": {
            "call": REFERENCE_IMAGE,
            "sha256": hashlib.sha256(image.astype(np.uint8).tobytes()).hexdigest(),
        },
        "model": REFERENCE_SIZE,
        "threshold": THRESHOLD,
        "minutiae": {"columns": ["x", "y", "direction", "ending"], "rows": found},
    }
    path.write_text(json.dumps(reference, indent=1) + "\n")


def convert(src: Path, out: Path) -> list[str]:
    sys.path.insert(0, str(src))
    import keras
    from ai_edge_litert.interpreter import Interpreter
    from pyfing import Leader

    network = Leader().model
    fast = rewrite(network)
    arrays = point_heads(network, fast)
    write_arrays(out / HEADS_FILE, arrays)
    heads = PointHeads(*(head(arrays, name) for name in ("direction", "type")))
    written = [HEADS_FILE]
    for name, (height, width) in SIZES.items():
        image = keras.Input((height, width, 1), batch_size=1, name="image")
        original = keras.Model(image, network(image))
        fixed = dense(fast, height, width)
        sample = phantom(height, width)[None, :, :, None].astype(np.float32)
        planes = np.asarray(original(sample, training=False))[0]
        reference = minutiae(planes[..., 3])
        # The rewrite and the split are exact: the suppressed probability and, from the
        # features, the point heads' type agree to float rounding, and so does the direction
        # at the minutiae (elsewhere atan2 jumps by 2 pi where both its inputs are near zero).
        features, suppressed = unpack(np.asarray(fixed(sample, training=False))[0])
        drift = float(np.abs(suppressed - planes[..., 3]).max())
        ys, xs = np.nonzero(planes[..., 3] >= THRESHOLD)
        turned, typed = heads_agree(heads, features, planes, ys, xs)
        grid = np.mgrid[0:height:7, 0:width:5].reshape(2, -1)
        typed = max(typed, heads_agree(heads, features, planes, grid[0], grid[1])[1])
        if name == REFERENCE_SIZE:
            write_reference(out / "reference.json", sample[0, :, :, 0], planes, ys, xs)
        if max(drift, typed) > 1e-4 or turned > 1e-3:
            raise SystemExit(
                f"the rewritten LEADER differs from pyfing's by {drift:.2g} (probability), "
                f"{typed:.2g} (type), {turned:.2g} rad (direction at the minutiae)"
            )
        for precision in ("f16", "dr8"):
            step(f"LEADER {name} {precision}")
            model = tflite(fixed, precision)
            if precision == "dr8":
                model = float_depthwise(model, tflite(fixed, None))
            path = out / f"leader_{name}_{precision}.tflite"
            path.write_bytes(model)
            lite = Interpreter(model_path=str(path), num_threads=1)
            lite.allocate_tensors()
            suppressed, features = outputs(lite, sample)
            got = minutiae(suppressed)
            tolerance, needed = (1.0, 1.0) if precision == "f16" else (2.0, 0.85)
            share = min(agreement(reference, got, tolerance), agreement(got, reference, tolerance))
            turned, typed = heads_agree(heads, features, planes, ys, xs)
            print(
                f"    {len(reference)} minutiae in Keras, {len(got)} here, {share:.0%} agree; "
                f"at Keras's, direction within {np.degrees(turned):.1f} degrees, "
                f"ending probability within {typed:.3f}"
            )
            if share < needed:
                raise SystemExit(f"{path.name}: only {share:.0%} of the minutiae agree with Keras")
            if turned > np.radians(HEAD_DEGREES[precision]) or typed > 0.05:
                raise SystemExit(f"{path.name}: the point heads on its features differ from Keras")
            written.append(path.name)
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=HERE.parent / "fingerprint")
    parser.add_argument("--work", type=Path, default=Path("build/models-fingerprint"))
    args = parser.parse_args()
    work = fresh_workdir(args.work)
    src = fetch(work)
    args.out.mkdir(parents=True, exist_ok=True)
    write_sums(args.out, convert(src, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
