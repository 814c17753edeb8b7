"""The biometric chains on the handheld's CPU: do they find what they find here?

Every accuracy figure in this repository is measured on x86, but the handheld runs LiteRT's
aarch64 build, whose XNNPACK picks other kernels (NEON; int8 dot products on a Cortex-A76,
none on a Cortex-A72), and rounds differently. No ARM machine is available to this work, so
``hotspot bench aarch64`` runs the fingerprint and face chains (``aarch64_worker``) under
QEMU's user-mode emulation of the chosen core (``aarch64_system``) and natively on the same
images, and compares minutiae, face boxes, embeddings, comparison scores and quality. QEMU
executes ARM's instructions with their exact results but not at their speed, so emulated
times mean nothing and none is reported.

XNNPACK chooses its kernels from ``/proc/cpuinfo`` (through the cpuinfo library, which finds
no processor in an x86 one and crashes), so the emulated run sees a ``/proc/cpuinfo`` of the
chosen core, bind-mounted in a private mount namespace (``unshare``).

What it needs, checked first: ``qemu-user-static``, ``unshare`` (util-linux), apt with the
arm64 architecture (``dpkg --add-architecture arm64 && apt-get update``), and root or user
namespaces. It fetches once into ``--root`` (default ``build/aarch64``).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench import aarch64_worker
from bench.aarch64_system import CORES, Progress, cpuinfo, prepare
from bench.fingerprint import discover, load, ppi_of
from bench.fingerprint_systems import BenchError

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class FingerAgreement:
    """How one run's minutiae compare with the native run's, over every fingerprint."""

    images: int
    minutiae: int
    """Native minutiae, all images."""
    same: int
    """At the same pixel with the same type."""
    moved: int
    """Not at the same pixel, but an emulated one of the same type within 2 px."""
    lost: int
    gained: int
    angle_deg: float
    """The largest angle difference among the minutiae at the same pixel."""
    reliability: int
    """The largest difference in the record's 1-100 minutia quality, same pixel."""
    quality: int
    """The largest difference in the finger's quality score."""
    models_differ: int
    """Images for which the two runs chose different model sizes."""


def _minutiae(result: dict[str, object]) -> list[list[float]]:
    found = result["minutiae"]
    assert isinstance(found, list)
    return found


@dataclass(frozen=True)
class FaceAgreement:
    """How one run's faces compare with the native run's, over every face image."""

    images: int
    found: int
    """Faces the native run found."""
    found_both: int
    box_px: float
    """The largest difference of a face box's corner, in pixels."""
    self_similarity: float
    """The lowest similarity (central's cosine) of an image's two embeddings: 1 is identical."""
    score_change: float
    """The largest change of a comparison score between two images' embeddings."""
    quality: int
    """The largest difference in the face's quality score."""


Results = dict[str, dict[str, object] | None]
"""A worker's output: image name -> what the chain found (None: no face)."""


def compare_faces(native: Results, other: Results) -> FaceAgreement:
    """Image by image, and every pair of images, as central would compare them."""
    from wire.face import similarity

    both = [n for n, r in native.items() if r is not None and other[n] is not None]
    box = change = 0.0
    selfsim, quality = 1.0, 0
    for name in both:
        mine, theirs = native[name], other[name]
        assert mine is not None and theirs is not None
        corners = zip(_field(mine, "box"), _field(theirs, "box"), strict=True)
        box = max(box, *(abs(p - q) for p, q in corners))
        quality = max(quality, abs(_field(mine, "quality") - _field(theirs, "quality")))
        selfsim = min(selfsim, similarity(_embedding(mine), _embedding(theirs)))
    for i, a in enumerate(both):
        for b in both[i + 1 :]:
            before = similarity(_embedding(native[a]), _embedding(native[b]))
            after = similarity(_embedding(other[a]), _embedding(other[b]))
            change = max(change, abs(after - before))
    found = sum(r is not None for r in native.values())
    return FaceAgreement(len(native), found, len(both), box, selfsim, change, quality)


def _field(result: dict[str, object], key: str) -> Any:
    """One field of a worker's result, as the worker wrote it."""
    return result[key]


def _embedding(result: dict[str, object] | None) -> bytes:
    assert result is not None
    return bytes.fromhex(str(result["embedding"]))


def compare_fingers(native: Results, other: Results) -> FingerAgreement:
    """Minutia by minutia, image by image (both maps: image name -> worker result)."""
    same = moved = lost = gained = models = 0
    angle = 0.0
    reliability = quality = 0
    total = 0
    for name, mine in native.items():
        theirs = other[name]
        assert mine is not None and theirs is not None
        models += mine["model"] != theirs["model"]
        quality = max(quality, abs(_field(mine, "quality") - _field(theirs, "quality")))
        a = {(round(m[0]), round(m[1]), round(m[3])): m for m in _minutiae(mine)}
        b = {(round(m[0]), round(m[1]), round(m[3])): m for m in _minutiae(theirs)}
        total += len(a)
        for key in a.keys() & b.keys():
            same += 1
            turn = abs(a[key][2] - b[key][2]) % (2 * math.pi)
            angle = max(angle, math.degrees(min(turn, 2 * math.pi - turn)))
            reliability = max(reliability, round(abs(a[key][4] - b[key][4])))
        only_b = list(b.keys() - a.keys())
        for x, y, kind in a.keys() - b.keys():
            near = [k for k in only_b if k[2] == kind and math.hypot(k[0] - x, k[1] - y) <= 2]
            if near:
                moved += 1
                only_b.remove(near[0])
            else:
                lost += 1
        gained += len(only_b)
    return FingerAgreement(
        len(native), total, same, moved, lost, gained, angle, reliability, quality, models
    )


def inputs(fvc: Path | None, faces: Path | None, per_set: int) -> dict[str, np.ndarray]:
    """Synthetic prints at the sensor families' three sizes and synthetic face frames, and
    from ``fvc`` and ``faces`` the first image of the first ``per_set`` fingers or people of
    every set."""
    from bench.face import BenchError as FaceSetError
    from bench.face import load_set
    from hal.phantoms import face, fingerprint

    images = {
        f"phantom-{h}x{w}": fingerprint.impression(fingerprint.identity(i + 1), 0, (h, w), 0.2)
        for i, (h, w) in enumerate(((288, 256), (400, 300), (500, 400)))
    }
    for i, variation in enumerate(
        (
            face.FrameVariation(),
            face.FrameVariation(0.6, 40, -20, 8),
            face.FrameVariation(0.8, 0, 0, -5, 0.6),
        )
    ):
        images[f"face-phantom-{i}"] = face.render(variation)
    for label, folder in discover(fvc) if fvc is not None else []:
        samples = load(folder)
        chosen = sorted({s.finger for s in samples})[:per_set]
        for sample in samples:
            if sample.finger in chosen and sample.impression == 1:
                name = f"{label.replace('/', '-')}-{sample.finger}@{ppi_of(label, None)}"
                images[name] = sample.pixels
    if faces is not None:
        people: set[str] = set()
        try:
            photos = load_set(faces)
        except FaceSetError as exc:
            raise BenchError(str(exc)) from exc
        for person in photos:
            if person.identity not in people and len(people) < per_set:
                people.add(person.identity)
                images[f"face-{person.identity}-{person.name}"] = person.rgb
    return images


def _worker(
    prefix: list[str], images: Path, out: Path, env: dict[str, str], say: Progress, what: str
) -> dict[str, object]:
    """Run the worker, telling its progress image by image (emulated, each takes seconds)."""
    command = [*prefix, "-m", "bench.aarch64_worker", str(images), str(out)]
    total = len(np.load(images).files)
    lines: list[str] = []
    with subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    ) as worker:
        assert worker.stderr is not None
        for line in worker.stderr:
            lines.append(line.rstrip())
            if line.startswith(aarch64_worker.DONE):
                say(f"{what}: {line.split()[1]}/{total} images")
    if worker.returncode != 0 or not out.is_file():
        last = next((line for line in reversed(lines) if line.strip()), "(no message)")
        raise BenchError(f"the chain failed {what} ({last})")
    result: dict[str, object] = json.loads(out.read_text())
    return result


def run(
    cores: list[str],
    fvc: Path | None,
    faces: Path | None,
    per_set: int,
    root: Path,
    say: Progress,
) -> dict[str, object]:
    """Native and emulated runs on the same images; the agreement of each emulated core."""
    unknown = [c for c in cores if c not in CORES]
    if unknown:
        raise BenchError(f"unknown core {unknown[0]!r}; choose from {', '.join(CORES)}")
    images = inputs(fvc, faces, per_set)
    site = prepare(root.resolve(), say)
    system = root.resolve() / "system"
    agreements: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="hotspot-aarch64-") as tmp:
        work = Path(tmp)
        np.savez(work / "images.npz", **images)  # type: ignore[arg-type]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        native = _worker(
            [sys.executable], work / "images.npz", work / "native.json", env, say, "natively"
        )
        # The scale for the face figures: what moving each photo one pixel does here.
        photos = {n: np.roll(image, 1, axis=1) for n, image in images.items() if image.ndim == 3}
        np.savez(work / "shifted.npz", **photos)  # type: ignore[arg-type]
        shifted = _worker(
            [sys.executable], work / "shifted.npz", work / "shifted.json", env, say,
            "natively, each photo one pixel to the right",
        )  # fmt: skip
        reference = compare_faces({n: _results(native)[n] for n in photos}, _results(shifted))
        for core in cores:
            say(f"the chains on an emulated {core}: seconds to a minute an image")
            info = work / f"cpuinfo-{core}"
            info.write_text(cpuinfo(core, os.cpu_count() or 1))
            python = f"{system}/usr/bin/python3.11"
            script = 'mount --bind "$1" /proc/cpuinfo && shift && exec "$@"'
            prefix = [
                "unshare", "--mount", "--map-root-user", "sh", "-c", script, "sh", str(info),
                "qemu-aarch64-static", "-cpu", core, "-L", str(system), python,
            ]  # fmt: skip
            env = {**os.environ, "PYTHONPATH": f"{site}:{REPO}"}
            emulated = _worker(
                prefix, work / "images.npz", work / f"{core}.json", env, say, f"on {core}"
            )
            if emulated.get("machine") != "aarch64":
                raise BenchError(f"the emulated run reports {emulated.get('machine')}, not aarch64")
            agreements[core] = agreement(_results(native), _results(emulated), images)
    return {"images": len(images), "cores": agreements, "face_shifted_1px": asdict(reference)}


def agreement(native: Results, other: Results, images: dict[str, np.ndarray]) -> dict[str, object]:
    """Both chains' agreement, each over its own images (fingerprints 2-D, faces RGB)."""
    finger = {n for n, image in images.items() if image.ndim == 2}
    return {
        "fingerprint": asdict(compare_fingers(
            {n: native[n] for n in finger}, {n: other[n] for n in finger})),
        "face": asdict(compare_faces(
            {n: r for n, r in native.items() if n not in finger},
            {n: r for n, r in other.items() if n not in finger})),
    }  # fmt: skip


def _results(run: dict[str, object]) -> Results:
    results = run["results"]
    assert isinstance(results, dict)
    return results


def report_text(result: dict[str, object]) -> str:
    cores = result["cores"]
    assert isinstance(cores, dict)
    lines = [
        f"The biometric chains on {result['images']} images, emulated aarch64 against this "
        "machine (times under emulation mean nothing and are not shown).",
        "",
        "Fingerprints:",
        f"{'core':<12}{'images':>7}{'minutiae':>9}{'same':>7}{'moved':>7}{'lost':>6}"
        f"{'gained':>7}{'angle':>8}{'rel.':>6}{'quality':>8}{'model':>7}",
    ]
    for core, both in cores.items():
        a = both["fingerprint"]
        lines.append(
            f"{core:<12}{a['images']:>7}{a['minutiae']:>9}{a['same']:>7}{a['moved']:>7}"
            f"{a['lost']:>6}{a['gained']:>7}{a['angle_deg']:>7.2f}°{a['reliability']:>6}"
            f"{a['quality']:>8}{a['models_differ']:>7}"
        )
    lines += [
        "",
        "Faces:",
        f"{'core':<12}{'images':>7}{'found':>7}{'in both':>8}{'box px':>8}{'self sim.':>10}"
        f"{'score change':>13}{'quality':>8}",
    ]
    rows = [(core, both["face"]) for core, both in cores.items()]
    for core, f in [*rows, ("1 px shift", result["face_shifted_1px"])]:
        lines.append(
            f"{core:<12}{f['images']:>7}{f['found']:>7}{f['found_both']:>8}{f['box_px']:>8.2f}"
            f"{f['self_similarity']:>10.4f}{f['score_change']:>13.4f}{f['quality']:>8}"
        )
    lines += [
        "",
        "same: same pixel and type; moved: 1-2 px away; angle: largest difference (degrees) of",
        "those at the same pixel; rel., quality: largest difference in minutia quality (1-100)",
        "and finger or face quality (0-100); model: images that chose another model size.",
        "box px: largest difference of a face box's corner; self sim.: lowest similarity of an",
        "image's two embeddings (1: identical); score change: largest change of a comparison",
        "score between two images. 1 px shift: this machine again, each photo moved one pixel",
        "to the right: the size of a difference that does not matter.",
    ]
    return "\n".join(lines)
