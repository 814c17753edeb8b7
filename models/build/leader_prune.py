"""LEADER with half of each dense inverted bottleneck's expansion, fitted without training.

Why: the 100 ms target needs a cheaper network, and this project's task has no GPU to
train one (``leader_distil.py`` measured that a student from random weights learns nothing
in its first thousands of CPU steps). Every refinement block and the probability head of
LEADER is an inverted bottleneck: a 1x1 convolution to four times the channels with GELU,
and a 1x1 back. Those expanded tensors are about a fifth of the network's time
(``leader_widths.py``: expansion 2 instead of 4 takes 0.76-0.87 of LEADER's time). Here
each such block keeps LEADER's weights except that it keeps half of its expanded channels
(those that carry the most: each channel's spread over sample images times the norm of its
weights in the reduction) and refits the reduction by least squares to reproduce what
LEADER's whole block computes, block by block in the order of the graph, each fitted on the
inputs the already pruned blocks before it give (so errors do not pile up). It is channel
pruning with least-squares reconstruction (ThiNet's idea), not training: nothing but the
reductions changes, and those are fitted in closed form.

The direction and type heads keep LEADER's expansion and weights exactly: they run at the
minutiae only (``leader_split``), so their cost does not follow the pixels.

The fit uses the images of the sets given (``--sets``): measure on others. Run it in the
build environment with pyfing's package folder::

    .venv-models/bin/python models/build/leader_prune.py --data ../shared/data/fvc \\
        --pyfing build/models-fingerprint/src --out build/leader-pruned

It writes the pruned Keras weights, and with ``--convert`` the device's files (every size,
``dr8``, and the heads) under ``OUT/models/fingerprint`` for ``HOTSPOT_MODELS=OUT/models``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

from leader_widths import Widths, build  # noqa: E402

from firmware.biometrics.fingerprint.heads import gelu  # noqa: E402

PRUNED = Widths(expansion=2, point_heads_expansion=4)
BLOCKS = [f"enc1_{i}" for i in range(4)] + [f"dec1_{i}" for i in (3, 2, 1, 0)] + ["head_0_ibc"]
"""The dense inverted bottlenecks, in the order of the graph."""
TRAIN = ("2000/DB1_B", "2000/DB2_B", "2000/DB3_B", "2000/DB4_B")
PIXELS = 1500
"""Sampled feature pixels per image and block."""
RIDGE = 1e-3
"""Ridge term of the least squares, relative to the activations' mean square."""


def sample_images(data: Path, sets: tuple[str, ...], every: int) -> list[np.ndarray]:
    from leader_distil import images, padded

    return [padded(image) for _, image in images(data, sets)[::every]]


def copy_weights(teacher: Any, student: Any) -> None:
    """Every layer whose weights have the same shapes takes LEADER's."""
    by_name = {layer.name: layer for layer in teacher.layers}
    for layer in student.layers:
        theirs = by_name.get(layer.name)
        if theirs is None or not layer.get_weights():
            continue
        if [w.shape for w in theirs.get_weights()] == [w.shape for w in layer.get_weights()]:
            layer.set_weights(theirs.get_weights())


def fit_block(
    teacher: Any, student: Any, block: str, images: list[np.ndarray], rng: Any
) -> tuple[float, float]:
    """Prune ``block`` of ``student`` to half its expansion and refit its reduction; returns
    the relative error of the reduction's output before (keeping the channels with LEADER's
    reduction) and after the refit."""
    import keras

    def taps(model: Any) -> Any:
        return keras.Model(
            model.inputs,
            [model.get_layer(f"{block}_ln").output, model.get_layer(f"{block}_conv_red").output],
        )

    t_taps, s_taps = taps(teacher), taps(student)
    exp_t = teacher.get_layer(f"{block}_conv_exp")
    red_t = teacher.get_layer(f"{block}_conv_red")
    w_exp, b_exp = (np.asarray(w, np.float64) for w in exp_t.get_weights())
    w_red, b_red = (np.asarray(w, np.float64) for w in red_t.get_weights())
    w_exp, w_red = w_exp[0, 0], w_red[0, 0]
    ln_s_all, act_t_all, y_t_all = [], [], []
    for image in images:
        x = image[None, :, :, None].astype(np.float32)
        ln_t, y_t = (np.asarray(v)[0] for v in t_taps(x, training=False))
        ln_s = np.asarray(s_taps(x, training=False)[0])[0]
        flat = ln_t.reshape(-1, ln_t.shape[-1])
        pick = rng.choice(flat.shape[0], min(PIXELS, flat.shape[0]), replace=False)
        ln_s_all.append(ln_s.reshape(-1, ln_s.shape[-1])[pick])
        act_t_all.append(gelu(flat[pick] @ w_exp + b_exp))
        y_t_all.append(y_t.reshape(-1, y_t.shape[-1])[pick])
    ln_s = np.concatenate(ln_s_all).astype(np.float64)
    act_t = np.concatenate(act_t_all)
    y_t = np.concatenate(y_t_all).astype(np.float64)
    keep = w_exp.shape[1] // 2
    importance = act_t.std(axis=0) * np.linalg.norm(w_red, axis=1)
    chosen = np.sort(np.argsort(-importance)[:keep])
    act_s = gelu(ln_s @ w_exp[:, chosen] + b_exp[chosen])
    design = np.concatenate([act_s, np.ones((act_s.shape[0], 1))], axis=1)
    gram = design.T @ design
    gram[:-1, :-1] += RIDGE * np.trace(gram[:-1, :-1]) / keep * np.eye(keep)
    solution = np.linalg.solve(gram, design.T @ y_t)
    scale = float(np.mean((y_t - y_t.mean(axis=0)) ** 2))
    naive = act_s @ w_red[chosen] + b_red
    before = float(np.mean((naive - y_t) ** 2)) / scale
    after = float(np.mean((design @ solution - y_t) ** 2)) / scale
    student.get_layer(f"{block}_conv_exp").set_weights(
        [w_exp[:, chosen][None, None].astype(np.float32), b_exp[chosen].astype(np.float32)]
    )
    student.get_layer(f"{block}_conv_red").set_weights(
        [solution[:-1][None, None].astype(np.float32), solution[-1].astype(np.float32)]
    )
    return before, after


def tune(teacher: Any, student: Any, data: Path, work: Path, steps: int, rate: float) -> None:
    """A short end-to-end fine-tuning of ``student`` on LEADER's outputs over the FVC2000
    sets (``leader_distil``'s losses; LEADER's outputs cached in ``work/teacher``) and on
    the heads' shared features (which the point heads read with LEADER's weights)."""
    import keras
    import tensorflow as tf
    from leader_distil import TRAIN as SETS
    from leader_distil import batches, images, losses, teacher_planes

    named = images(data, SETS)
    folder = teacher_planes(work, named)
    features = keras.Model(teacher.inputs, teacher.get_layer("dec1_0_conc").output)
    fitting = keras.Model(
        student.inputs,
        [
            student.get_layer(name).output
            for name in ("head_conv_pos", "head_conv_dir", "head_conv_typ", "dec1_0_conc")
        ],
    )
    optimizer = keras.optimizers.Adam(rate)

    @tf.function
    def step(x: Any, t: Any) -> Any:
        wanted = features(x, training=False)
        with tf.GradientTape() as tape:
            out = fitting(x, training=False)
            pos, direction, kind = losses(out[:3], t)
            hint = tf.reduce_mean((out[3] - wanted)[:, 8:-8, 8:-8] ** 2) / (
                tf.math.reduce_variance(wanted) + 1e-6
            )
            total = pos + 0.2 * direction + 0.1 * kind + hint
        grads = tape.gradient(total, fitting.trainable_variables)
        optimizer.apply_gradients(zip(grads, fitting.trainable_variables, strict=True))
        return total

    feed = batches(named, folder, seed=7)
    for k in range(steps):
        x, t = next(feed)
        total = float(step(tf.constant(x), tf.constant(t)))
        if k % 50 == 49:
            print(f"tuning step {k + 1}/{steps}: loss {total:.4f}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--pyfing", type=Path, default=Path("build/models-fingerprint/src"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sets", default=",".join(TRAIN))
    parser.add_argument("--every", type=int, default=8, help="use every Nth image of the sets")
    parser.add_argument("--tune", type=int, default=0, help="fine-tuning steps after the fit")
    parser.add_argument("--rate", type=float, default=1e-4, help="the fine-tuning's rate")
    parser.add_argument("--convert", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(args.pyfing))
    from pyfing import Leader

    args.out.mkdir(parents=True, exist_ok=True)
    teacher = Leader().model
    student = build(PRUNED)
    copy_weights(teacher, student)
    images = sample_images(args.data, tuple(args.sets.split(",")), args.every)
    rng = np.random.default_rng(0)
    started = time.time()
    for block in BLOCKS:
        before, after = fit_block(teacher, student, block, images, rng)
        print(
            f"{block}: relative error {before:.3f} keeping LEADER's reduction, {after:.3f} "
            f"refitted ({time.time() - started:.0f} s)",
            flush=True,
        )
    if args.tune:
        tune(teacher, student, args.data, args.out, args.tune, args.rate)
    student.save_weights(args.out / "pruned.weights.h5")
    if args.convert:
        from leader_distil import convert_model

        convert_model(student, args.out / "models" / "fingerprint")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
