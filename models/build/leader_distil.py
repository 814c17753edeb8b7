"""Distil a faster LEADER-shaped student from LEADER on a CPU: does it learn enough, and how fast?

Why: issue 19 asks for fingerprint extraction within 100 ms on one x86 core on every FVC image
size, and after the exact rewrites LEADER itself cannot get there on the largest windows
(``leader_widths.py`` sizes what would: stems at half resolution and half the widths, about
0.43 of LEADER's time). Such a student must learn LEADER's function. This project's task has
no GPU, so this script does it on the CPU, resumably (a checkpoint every few minutes, so
that the work can span sessions), and says how close it has come.

What it learns from: LEADER's own outputs (the minutia probability before suppression, the
direction and the ending probability at every pixel), computed once per image at the chain's
425 ppi and cached; no labels. It trains on the FVC2000 B sets (``TRAIN``) and never on the
FVC2002 ones (``HOLD_OUT``), which measure the student on sensors it has not seen. The
distillation losses, on random 160x160 crops with a 16 px border left out (where the teacher
saw context the crop lacks):

* the probability: binary cross-entropy against the teacher's soft probability, each pixel
  weighted 1 + 9 x the teacher's probability (minutiae are rare);
* the direction: 1 - cos of the angle between the student's and the teacher's, weighted by
  the teacher's probability;
* the type: binary cross-entropy against the teacher's ending probability, likewise
  weighted.

Run it in the build environment, with pyfing's package folder from ``fingerprint.py``'s work
folder (``build/models-fingerprint/src``)::

    .venv-models/bin/python models/build/leader_distil.py train --work /work/student \\
        --data ../shared/data/fvc --minutes 90
    .venv-models/bin/python models/build/leader_distil.py measure --work /work/student \\
        --data ../shared/data/fvc

Status (2026-12-05, the model card's *Tried for speed*): on this 2-core machine a step of 8
crops takes 0.5-0.7 s. The student's probability map stayed flat for about 5,800 steps and
then began to follow LEADER's: at step 20,394 ``measure`` finds 79.9 % of LEADER's minutiae
on the held-out sets (80.7 % at 12,465), adds 704 beside 2,318 found, and the median
direction error is 3.1°. Converted and benched there, it takes about half LEADER's time but
its EER on the held-out FVC2002 sets is 1.43 / 0.09 / 4.65 / 9.65 % against LEADER's 0.35 /
0.00 / 0.30 / 0.72 %: not usable. The checkpoint resumes. ``convert``
writes the student as the device's files (every size, ``dr8``, and its heads) under
``WORK/models/fingerprint``, for ``HOTSPOT_MODELS=WORK/models hotspot bench fingerprint``.

``measure`` reports, on the held-out sets, how many of the teacher's minutiae (suppressed
probability at 0.35, the chain's threshold) the student finds within 4 px, how many it adds,
and the median direction error at the matched ones.
"""

from __future__ import annotations

import argparse
import json
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

from bench.fingerprint import FVC_PPI, load_image  # noqa: E402
from firmware.biometrics.fingerprint.leader import THRESHOLD  # noqa: E402
from firmware.biometrics.fingerprint.pipeline import NETWORK_PPI, resample  # noqa: E402

STUDENT = Widths(half_resolution_stems=True).scaled(0.5, 2)
TRAIN = ("2000/DB1_B", "2000/DB2_B", "2000/DB3_B", "2000/DB4_B")
HOLD_OUT = ("2002/DB1_B", "2002/DB2_B", "2002/DB3_B", "2002/DB4_B")
CROP = 160
BORDER = 16
BATCH = 8


def images(data: Path, sets: tuple[str, ...]) -> list[tuple[str, np.ndarray]]:
    """Each set's images at the network's resolution, resampled as the chain does."""
    return [
        (f"{label}/{path.stem}", resample(load_image(path), FVC_PPI.get(label, 500), NETWORK_PPI))
        for label in sets
        for path in sorted((data / label).glob("*.tif"))
    ]


def padded(image: np.ndarray) -> np.ndarray:
    """``image`` on a canvas of multiples of 32 (the network's largest stride), filled with
    its border's median grey as the chain fills a window's canvas."""
    height, width = image.shape
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
    canvas = np.full((-(-height // 32) * 32, -(-width // 32) * 32), np.median(border), np.uint8)
    canvas[:height, :width] = image
    return canvas


def teacher_planes(work: Path, named: list[tuple[str, np.ndarray]]) -> Path:
    """LEADER's planes (probability, direction, ending probability, suppressed) for each
    image, cached in ``work/teacher`` as float16."""
    folder = work / "teacher"
    folder.mkdir(parents=True, exist_ok=True)
    todo = [(n, i) for n, i in named if not (folder / f"{n.replace('/', '_')}.npy").exists()]
    if todo:
        from pyfing import Leader

        network = Leader().model
        started = time.time()
        for k, (name, image) in enumerate(todo):
            canvas = padded(image)[None, :, :, None].astype(np.float32)
            planes = np.asarray(network(canvas, training=False))[0]
            planes = planes[: image.shape[0], : image.shape[1]]
            np.save(folder / f"{name.replace('/', '_')}.npy", planes.astype(np.float16))
            if k % 20 == 0:
                print(f"teacher {k + 1}/{len(todo)} ({time.time() - started:.0f} s)", flush=True)
    return folder


def student_outputs(model: Any) -> Any:
    """A model giving the student's probability, raw direction vector and ending
    probability (the layers the distillation losses read)."""
    import keras

    return keras.Model(
        model.inputs,
        [
            model.get_layer(name).output
            for name in ("head_conv_pos", "head_conv_dir", "head_conv_typ")
        ],
    )


def batches(named: list[tuple[str, np.ndarray]], folder: Path, seed: int) -> Any:
    """Endless (images, teacher planes) batches of random crops."""
    rng = np.random.default_rng(seed)
    pairs = [
        (image, np.load(folder / f"{name.replace('/', '_')}.npy").astype(np.float32))
        for name, image in named
    ]
    while True:
        xs, ts = [], []
        for _ in range(BATCH):
            image, planes = pairs[int(rng.integers(len(pairs)))]
            top = int(rng.integers(0, max(1, image.shape[0] - CROP + 1)))
            left = int(rng.integers(0, max(1, image.shape[1] - CROP + 1)))
            x = np.full((CROP, CROP), np.median(image[0]), np.float32)
            t = np.zeros((CROP, CROP, 4), np.float32)
            crop = image[top : top + CROP, left : left + CROP]
            x[: crop.shape[0], : crop.shape[1]] = crop
            t[: crop.shape[0], : crop.shape[1]] = planes[top : top + CROP, left : left + CROP]
            xs.append(x)
            ts.append(t)
        yield np.stack(xs)[..., None], np.stack(ts)


def losses(outputs: Any, target: Any) -> Any:
    import tensorflow as tf

    pos, vector, kind = outputs
    inner = (slice(None), slice(BORDER, -BORDER), slice(BORDER, -BORDER))
    pos, vector, kind, target = pos[inner], vector[inner], kind[inner], target[inner]
    t_pos, t_dir, t_kind = target[..., 0:1], target[..., 1:2], target[..., 2:3]
    eps = 1e-6
    bce = -(t_pos * tf.math.log(pos + eps) + (1 - t_pos) * tf.math.log(1 - pos + eps))
    pos_loss = tf.reduce_mean(bce * (1 + 9 * t_pos))
    norm = tf.sqrt(tf.reduce_sum(vector**2, axis=-1, keepdims=True) + eps)
    cos = (vector[..., 0:1] * tf.cos(t_dir) + vector[..., 1:2] * tf.sin(t_dir)) / norm
    weight = tf.reduce_sum(t_pos) + eps
    dir_loss = tf.reduce_sum((1 - cos) * t_pos) / weight
    kbce = -(t_kind * tf.math.log(kind + eps) + (1 - t_kind) * tf.math.log(1 - kind + eps))
    kind_loss = tf.reduce_sum(kbce * t_pos) / weight
    return pos_loss, dir_loss, kind_loss


def train(args: argparse.Namespace) -> int:
    import keras
    import tensorflow as tf

    named = images(args.data, TRAIN)
    folder = teacher_planes(args.work, named)
    student = build(STUDENT)
    checkpoint = args.work / "student.weights.h5"
    state_file = args.work / "state.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else {"step": 0}
    if checkpoint.exists():
        student.load_weights(checkpoint)
    fitting = student_outputs(student)
    schedule = keras.optimizers.schedules.CosineDecay(args.rate, args.steps, alpha=0.05)
    optimizer = keras.optimizers.Adam(schedule)
    # The schedule follows the optimizer's step count, which a resumed run sets where the
    # last one stopped (Adam's moments start afresh).
    optimizer.build(fitting.trainable_variables)
    optimizer.iterations.assign(state["step"])

    @tf.function
    def step(x: Any, t: Any) -> Any:
        with tf.GradientTape() as tape:
            parts = losses(fitting(x, training=True), t)
            total = parts[0] + 0.2 * parts[1] + 0.1 * parts[2]
        grads = tape.gradient(total, fitting.trainable_variables)
        optimizer.apply_gradients(zip(grads, fitting.trainable_variables, strict=True))
        return parts

    feed = batches(named, folder, seed=state["step"])
    started = time.time()
    last_save, first = started, state["step"]
    running = np.zeros(3)
    while time.time() - started < 60 * args.minutes and state["step"] < args.steps:
        x, t = next(feed)
        parts = np.array([float(p) for p in step(tf.constant(x), tf.constant(t))])
        running = parts if state["step"] == first else 0.98 * running + 0.02 * parts
        state["step"] += 1
        if state["step"] % 50 == 0:
            rate = (time.time() - started) / (state["step"] - first)
            print(
                f"step {state['step']}: probability {running[0]:.4f}, direction "
                f"{running[1]:.3f}, type {running[2]:.3f} ({rate:.2f} s a step)",
                flush=True,
            )
        if time.time() - last_save > 300:
            student.save_weights(checkpoint)
            state_file.write_text(json.dumps(state))
            last_save = time.time()
    student.save_weights(checkpoint)
    state_file.write_text(json.dumps(state))
    return 0


def minutiae(suppressed: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(suppressed >= THRESHOLD)
    return np.stack([ys, xs], axis=1).astype(float)


def measure(args: argparse.Namespace) -> int:
    """Agreement with LEADER on the held-out sets (the float Keras student)."""
    named = images(args.data, HOLD_OUT)[:: args.every]
    folder = teacher_planes(args.work, named)
    student = build(STUDENT)
    student.load_weights(args.work / "student.weights.h5")
    found = added = total = 0
    errors: list[float] = []
    for name, image in named:
        teacher = np.load(folder / f"{name.replace('/', '_')}.npy").astype(np.float32)
        canvas = padded(image)[None, :, :, None].astype(np.float32)
        planes = np.asarray(student(canvas, training=False))[0][: image.shape[0], : image.shape[1]]
        want, got = minutiae(teacher[..., 3]), minutiae(planes[..., 3])
        total += len(want)
        if len(want) and len(got):
            d = np.hypot(*(want[:, None, :] - got[None, :, :]).transpose(2, 0, 1))
            near = d.min(axis=1) <= 4
            found += int(near.sum())
            added += int((d.min(axis=0) > 4).sum())
            for i in np.nonzero(near)[0]:
                j = int(d[i].argmin())
                y, x = want[i].astype(int)
                gy, gx = got[j].astype(int)
                turn = np.angle(np.exp(1j * (planes[gy, gx, 1] - teacher[y, x, 1])))
                errors.append(abs(float(np.degrees(turn))))
        else:
            added += len(got)
    print(
        f"held out ({len(named)} images): {found}/{total} of LEADER's minutiae found "
        f"({found / max(1, total):.1%}), {added} added, direction error median "
        f"{np.median(errors) if errors else float('nan'):.1f} degrees"
    )
    return 0


def convert(args: argparse.Namespace) -> int:
    student = build(STUDENT)
    student.load_weights(args.work / "student.weights.h5")
    convert_model(student, args.work / "models" / "fingerprint")
    return 0


def convert_model(network: Any, out: Path) -> None:
    """``network`` (LEADER-shaped, Keras) as the shipped files are made (rewrite, split,
    ``dr8``, heads) in ``out``, for the device's chain to run with ``HOTSPOT_MODELS`` at
    ``out``'s parent; each size is checked against the Keras network on a phantom."""
    from ai_edge_litert.interpreter import Interpreter
    from common import write_sums
    from fingerprint import outputs, phantom
    from leader_rewrite import float_depthwise, rewrite
    from leader_split import dense, point_heads, tflite, write_arrays

    from firmware.biometrics.fingerprint.leader import SIZES

    fast = rewrite(network)
    out.mkdir(parents=True, exist_ok=True)
    write_arrays(out / "leader_heads.npz", point_heads(network, fast))
    written = ["leader_heads.npz"]
    for name, height, width in SIZES:
        fixed = dense(fast, height, width)
        sample = phantom(height, width)[None, :, :, None].astype(np.float32)
        keras_planes = np.asarray(network(sample, training=False))[0]
        model = float_depthwise(tflite(fixed, "dr8"), tflite(fixed, None))
        path = out / f"leader_{name}_dr8.tflite"
        path.write_bytes(model)
        lite = Interpreter(model_path=str(path), num_threads=1)
        lite.allocate_tensors()
        suppressed, _ = outputs(lite, sample)
        drift = float(np.abs(suppressed - keras_planes[..., 3]).max())
        print(f"{name}: {len(model):,d} bytes, suppressed probability within {drift:.3f}")
        written.append(path.name)
    write_sums(out, written)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("train", "measure", "convert"))
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--pyfing", type=Path, default=Path("build/models-fingerprint/src"))
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--steps", type=int, default=40000, help="length of the schedule")
    parser.add_argument("--rate", type=float, default=2e-3)
    parser.add_argument("--every", type=int, default=4, help="measure on every Nth image")
    args = parser.parse_args()
    if not (args.pyfing / "pyfing").is_dir():
        raise SystemExit(f"{args.pyfing}: no pyfing package here; run fingerprint.py first")
    args.work.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(args.pyfing))
    return {"train": train, "measure": measure, "convert": convert}[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())
