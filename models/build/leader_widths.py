"""What a LEADER-shaped network must look like to meet a time: the sizing of a distilled student.

Why: after the exact rewrites and the split, LEADER's time is arithmetic near this core's
float peak and elementwise passes over its tensors (the model card's *Tried for speed*), so
the 100 ms target for a 400x500 window can only be met by a smaller network, retrained or
distilled from LEADER, which needs a GPU. Before anyone spends GPU time on that, this
script answers which shapes would be fast enough (narrowing alone barely is: XNNPACK
vectorises over channels, so the layers' count times their pixels sets a floor; the model
card has the table): it builds LEADER's
architecture (pyfing's own block code) with every width scaled (and, as one variant, the
stems at half resolution on the space-to-depth image), random weights, puts it
through the same rewrite, split and conversion as the shipped models (``leader_rewrite``,
``leader_split``, dynamic-range int8 with float32 depthwise kernels) and times it on one
thread. Weights do not change the time of a dense network, so no training is needed to
size one.

Run it in the build environment, with pyfing's package folder from ``fingerprint.py``'s
work folder on the path (``build/models-fingerprint/src``)::

    .venv-models/bin/python models/build/leader_widths.py --size 512x416 --rounds 12

It prints, per variant, its parameters and the best and median time, and the time as a
share of LEADER's measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from leader_rewrite import float_depthwise, rewrite  # noqa: E402
from leader_split import dense, tflite  # noqa: E402


@dataclass(frozen=True)
class Widths:
    """LEADER's widths (pyfing 0.7.3's are the defaults)."""

    stems: tuple[int, int] = (8, 16)
    context: tuple[int, ...] = (16, 32, 64, 128)
    refinement: tuple[int, ...] = (32, 64, 128, 32)
    decoder: tuple[int, ...] = (20, 42, 91, 27)
    expansion: int = 4
    """The inverted bottlenecks' expansion of their input channels."""
    half_resolution_stems: bool = False
    """The stems take the image as 2x2 space-to-depth channels (3x3 and 5x5 convolutions at
    half resolution, which see what the 5x5 and dilated 5x5 ones see at full resolution)
    and need no pooling: then only the probability's output runs at full resolution."""
    point_heads_expansion: int | None = None
    """The direction and type heads' expansion, when it differs: they run at the minutiae only
    (``leader_split``), so their cost does not follow the image's pixels."""

    def scaled(self, factor: float, expansion: int | None = None) -> Widths:
        def scale(values: tuple[int, ...]) -> tuple[int, ...]:
            return tuple(max(2, round(v * factor)) for v in values)

        return Widths(
            (max(2, round(self.stems[0] * factor)), max(2, round(self.stems[1] * factor))),
            scale(self.context),
            scale(self.refinement),
            scale(self.decoder),
            self.expansion if expansion is None else expansion,
            self.half_resolution_stems,
            self.point_heads_expansion,
        )


VARIANTS = {
    "leader": Widths(),
    "expansion 2": Widths(expansion=2),
    "stems halved": Widths(stems=(4, 8)),
    "widths 0.75, expansion 3": Widths().scaled(0.75, 3),
    "widths 0.5, expansion 2": Widths().scaled(0.5, 2),
    "widths 0.375, expansion 2": Widths().scaled(0.375, 2),
    "widths 0.125, expansion 1": Widths().scaled(0.125, 1),
    "half-resolution stems": Widths(half_resolution_stems=True),
    "half-res. stems, widths 0.5, exp. 2": Widths(half_resolution_stems=True).scaled(0.5, 2),
    "half-res. stems, widths 0.375, exp. 2": Widths(half_resolution_stems=True).scaled(0.375, 2),
}


def build(widths: Widths) -> Any:
    """LEADER's graph (``pyfing.Leader._build_model``) at ``widths``, with the layer names
    the rewrite looks for. pyfing's block functions are used where they take the widths as
    arguments; the inverted bottleneck and the head block are restated with the expansion
    as a parameter."""
    import cv2
    import keras
    from keras import layers
    from pyfing import Leader

    def bottleneck(size: int, out: int, name: str, x: Any, expansion: int | None = None) -> Any:
        channels = x.shape[-1]
        skip = x
        x = layers.DepthwiseConv2D(
            size, padding="same", use_bias=False, name=f"{name}_depthwise_conv"
        )(x)
        x = layers.LayerNormalization(name=f"{name}_ln")(x)
        x = layers.Conv2D(
            channels * (expansion or widths.expansion),
            1,
            padding="same",
            activation="gelu",
            name=f"{name}_conv_exp",
        )(x)
        x = layers.Conv2D(channels, 1, padding="same", name=f"{name}_conv_red")(x)
        x = layers.Add(name=f"{name}_add")([skip, x])
        return layers.Conv2D(out, 1, padding="same", name=f"{name}_conv_adj")(x)

    def head(name: str, x: Any, expansion: int | None = None) -> Any:
        x = bottleneck(7, 6, f"{name}_ibc", x, expansion)
        x = Leader._upsample_block(f"{name}_up", x)
        x = layers.Conv2D(4, 1, padding="same", name=f"{name}_conv1")(x)
        x = layers.LayerNormalization(name=f"{name}_ln")(x)
        return layers.Conv2D(4, 1, padding="same", activation="gelu", name=f"{name}_conv2")(x)

    def half_resolution_stem(count: int, name: str, x: Any) -> Any:
        # Not named stem*: the rewrite's stem fold is for one-channel full-resolution input.
        x = layers.Concatenate(name=f"{name}_conc")(
            [
                layers.Conv2D(count, 3, padding="same", name=f"{name}_conv")(x),
                layers.Conv2D(count, 5, padding="same", name=f"{name}_wide_conv")(x),
            ]
        )
        x = layers.LayerNormalization(name=f"{name}_ln")(x)
        return layers.Activation("gelu", name=f"{name}_activation")(x)

    image = layers.Input((None, None, 1), name="input")
    if widths.half_resolution_stems:
        phases = layers.Lambda(_s2d, name="space_to_depth")(image)
        x = half_resolution_stem(widths.stems[0], "half_stem0", phases)
        x1 = half_resolution_stem(widths.stems[1], "half_stem1", phases)
    else:
        x = Leader._stem_block(5, widths.stems[0], True, 2, "stem0", image)
        x1 = Leader._stem_block(5, widths.stems[1], False, 2, "stem1", image)
    skips = []
    for i, count in enumerate(widths.context):
        x = Leader._sep_conv_block(5, count, f"enc0_{i}", x)
        skips.append(x)
        x = Leader._downsample_block(f"enc0_{i}", x)
    for i, count in reversed(list(enumerate(widths.context))):
        x = Leader._sep_conv_block(5, count, f"dec0_{i}", x)
        x = Leader._upsample_block(f"dec0_{i}", x, skips[i])
    gates = [
        layers.Conv2D(
            16, 3, dilation_rate=d, padding="same", activation="gelu", name=f"attention_conv_d{d}"
        )(x)
        for d in (1, 3, 6)
    ]
    gate = layers.Conv2D(x.shape[-1], 1, activation="sigmoid", name="attention_s")(
        layers.Concatenate(name="attention_dconc")(gates)
    )
    x = layers.Multiply(name="attention_mult")([x, gate])
    x = layers.Concatenate(name="attention_conc")([x, x1])
    skips = []
    for i, count in enumerate(widths.refinement):
        x = bottleneck(7, count, f"enc1_{i}", x)
        skips.append(x)
        x = Leader._downsample_block(f"enc1_{i}", x)
    for i, count in reversed(list(enumerate(widths.decoder))):
        x = bottleneck(7, count, f"dec1_{i}", x)
        x = Leader._upsample_block(f"dec1_{i}", x, skips[i])
    heads = [head(f"head_{k}", x, widths.point_heads_expansion if k else None) for k in range(3)]
    pos = layers.Conv2D(1, 5, activation="sigmoid", padding="same", name="head_conv_pos")(heads[0])
    direction = layers.Conv2D(2, 5, padding="same", name="head_conv_dir")(heads[1])
    direction = layers.Lambda(
        lambda t: keras.ops.arctan2(t[..., 1:2], t[..., 0:1]), name="head_atan2"
    )(direction)
    kind = layers.Conv2D(1, 5, activation="sigmoid", padding="same", name="head_conv_typ")(heads[2])
    blur = layers.Conv2D(
        1, 5, use_bias=False, padding="same", trainable=False, name="nms_Gaussian_blur"
    )
    blurred = blur(pos)
    g = cv2.getGaussianKernel(5, 0).astype(np.float32)
    blur.set_weights([np.outer(g, g)[..., None, None]])
    peak = layers.MaxPooling2D(7, strides=1, padding="same", name="head_nms_mp")(blurred)
    suppressed = layers.Lambda(
        lambda t: keras.ops.multiply(t[1], keras.ops.cast(t[0] == t[1], "float32")), name="head_nms"
    )([blurred, peak])
    out = layers.Concatenate(name="head_conc")([pos, direction, kind, suppressed])
    return keras.Model(image, out)


def _s2d(t: Any) -> Any:
    import tensorflow as tf

    return tf.nn.space_to_depth(t, 2)


def timed(model: Any, height: int, width: int, rounds: int) -> list[float]:
    """Milliseconds per run of ``model`` converted as the shipped files are, one thread."""
    from ai_edge_litert.interpreter import Interpreter

    fixed = dense(rewrite(model), height, width)
    lite = Interpreter(
        model_content=float_depthwise(tflite(fixed, "dr8"), tflite(fixed, None)), num_threads=1
    )
    lite.allocate_tensors()
    sample = np.random.default_rng(0).uniform(0, 255, (1, height, width, 1)).astype(np.float32)
    lite.set_tensor(lite.get_input_details()[0]["index"], sample)
    lite.invoke()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        lite.invoke()
        times.append(1000 * (time.perf_counter() - start))
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="512x416", help="input HEIGHTxWIDTH (default 512x416)")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--pyfing", type=Path, default=Path("build/models-fingerprint/src"))
    args = parser.parse_args()
    height, width = (int(v) for v in args.size.split("x"))
    if not (args.pyfing / "pyfing").is_dir():
        raise SystemExit(f"{args.pyfing}: no pyfing package here; run fingerprint.py first")
    sys.path.insert(0, str(args.pyfing))
    baseline = 0.0
    for name, widths in VARIANTS.items():
        model = build(widths)
        times = timed(model, height, width, args.rounds)
        best = min(times)
        baseline = baseline or best
        print(
            f"{name:38s} {model.count_params():>8,d} parameters  best {best:6.1f} ms  "
            f"median {statistics.median(times):6.1f} ms  {best / baseline:.2f} of LEADER",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
