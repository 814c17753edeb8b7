"""The fingerprint chain on the handheld's CPU: does it find what it finds here?

Every accuracy figure in this repository is measured on x86, but the handheld runs LiteRT's
aarch64 build, whose XNNPACK picks other kernels (NEON; int8 dot products on a Cortex-A76,
none on a Cortex-A72), and rounds differently. No ARM machine is available to this work, so
``hotspot bench aarch64`` runs the chain under QEMU's user-mode emulation of the chosen core:
Debian's arm64 Python 3.11 and the aarch64 wheels of the same numpy, SciPy, Pillow and LiteRT
versions as this machine's, on the same images, and compares the minutiae and quality scores
with a native run. QEMU executes ARM's instructions with their exact semantics but not at
their speed, so emulated times mean nothing and none is reported.

XNNPACK chooses its kernels from ``/proc/cpuinfo`` (through the cpuinfo library, which finds
no processor in an x86 one and crashes), so the emulated run sees a ``/proc/cpuinfo`` of the
chosen core, bind-mounted in a private mount namespace (``unshare``).

What it needs, checked first: ``qemu-user-static``, ``unshare`` (util-linux), apt with the
arm64 architecture (``dpkg --add-architecture arm64 && apt-get update``), and root or user
namespaces. It fetches once into ``--root`` (default ``build/aarch64``).
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bench.fingerprint import discover, load, ppi_of
from bench.fingerprint_systems import BenchError

REPO = Path(__file__).resolve().parent.parent
CORES = {
    # (CPU part, /proc/cpuinfo features) as a Raspberry Pi 4 and 5 report them.
    "cortex-a72": ("0xd08", "fp asimd evtstrm crc32 cpuid"),
    "cortex-a76": (
        "0xd0b",
        "fp asimd evtstrm crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp",
    ),
}
"""The handheld's candidate cores: Raspberry Pi 4 (A72) and Raspberry Pi 5 (A76)."""
DEBS = (
    *("python3.11-minimal", "libpython3.11-minimal", "libpython3.11-stdlib", "libc6", "zlib1g"),
    *("libexpat1", "libffi8", "libssl3", "libstdc++6", "libgcc-s1", "libbz2-1.0", "liblzma5"),
    *("libsqlite3-0", "libncursesw6", "libtinfo6", "libreadline8", "libuuid1", "libcrypt1"),
    *("libnsl2", "libtirpc3", "libdb5.3", "libgdbm6"),
)
"""Debian's arm64 Python 3.11 (bookworm's, as Raspberry Pi OS) and the libraries it loads."""
WHEELS = ("numpy", "scipy", "pillow", "ai-edge-litert")
"""What the chain imports, fetched for aarch64 at the versions installed here."""
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Agreement:
    """How one run's minutiae compare with the native run's, over every image."""

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


def compare(native: dict[str, dict[str, object]], other: dict[str, dict[str, object]]) -> Agreement:
    """Minutia by minutia, image by image (both maps: image name -> worker result)."""
    same = moved = lost = gained = models = 0
    angle = 0.0
    reliability = quality = 0
    total = 0
    for name, mine in native.items():
        theirs = other[name]
        models += mine["model"] != theirs["model"]
        q1, q2 = mine["quality"], theirs["quality"]
        assert isinstance(q1, int) and isinstance(q2, int)
        quality = max(quality, abs(q1 - q2))
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
    return Agreement(
        len(native), total, same, moved, lost, gained, angle, reliability, quality, models
    )


def cpuinfo(core: str, processors: int) -> str:
    """A ``/proc/cpuinfo`` as ``core`` reports it, one entry per processor."""
    part, features = CORES[core]
    entry = (
        "processor\t: {}\nBogoMIPS\t: 108.00\nFeatures\t: {}\nCPU implementer\t: 0x41\n"
        "CPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: {}\nCPU revision\t: 1\n\n"
    )
    return "".join(entry.format(i, features, part) for i in range(processors))


def _check_tools() -> None:
    for tool, package in (
        ("qemu-aarch64-static", "qemu-user-static"),
        ("unshare", "util-linux"),
        ("apt-get", "apt"),
        ("dpkg", "dpkg"),
    ):
        if shutil.which(tool) is None:
            raise BenchError(f"{tool} is not installed: install Debian's {package} and run again")


def _run(command: list[str], what: str, cwd: Path | None = None) -> None:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise BenchError(f"{what} failed ({last})")


def prepare(root: Path, say: Progress) -> Path:
    """The emulated system under ``root``: fetched once, then reused. Returns its site folder."""
    _check_tools()
    versions = {name: importlib.metadata.version(name) for name in WHEELS}
    stamp = root / "versions.json"
    site = root / "site"
    if stamp.is_file() and json.loads(stamp.read_text()) == versions:
        return site
    foreign = subprocess.run(
        ["dpkg", "--print-foreign-architectures"], capture_output=True, text=True
    ).stdout.split()
    if "arm64" not in foreign:
        raise BenchError(
            "apt has no arm64 packages here: run 'dpkg --add-architecture arm64 && "
            "apt-get update' as root, then run this again"
        )
    shutil.rmtree(root, ignore_errors=True)
    debs, system = root / "debs", root / "system"
    debs.mkdir(parents=True)
    say("downloading Debian's arm64 Python 3.11")
    _run(["apt-get", "download", *(f"{p}:arm64" for p in DEBS)], "apt-get download", debs)
    for deb in sorted(debs.glob("*.deb")):
        _run(["dpkg", "-x", str(deb), str(system)], f"unpacking {deb.name}")
    say("downloading the aarch64 wheels of " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    wheels = root / "wheels"
    _run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:",
         "--python-version", "3.11", "--implementation", "cp", "--dest", str(wheels),
         *(f"--platform=manylinux_2_{n}_aarch64" for n in (17, 27, 28)),
         "--platform=manylinux2014_aarch64",
         *(f"{k}=={v}" for k, v in versions.items())],
        "pip download",
    )  # fmt: skip
    for wheel in sorted(wheels.glob("*.whl")):
        shutil.unpack_archive(wheel, site, "zip")
    stamp.write_text(json.dumps(versions))
    return site


def inputs(data: Path | None, fingers: int) -> dict[str, np.ndarray]:
    """Synthetic impressions at the three sensor families' sizes, and with ``data`` the first
    impression of the first ``fingers`` fingers of every FVC-style set under it."""
    from hal.phantoms import fingerprint as phantoms

    images = {
        f"phantom-{h}x{w}": phantoms.impression(phantoms.identity(i + 1), 0, (h, w), 0.2)
        for i, (h, w) in enumerate(((288, 256), (400, 300), (500, 400)))
    }
    for label, folder in discover(data) if data is not None else []:
        chosen = sorted({s.finger for s in load(folder)})[:fingers]
        for sample in load(folder):
            if sample.finger in chosen and sample.impression == 1:
                name = f"{label.replace('/', '-')}-{sample.finger}@{ppi_of(label, None)}"
                images[name] = sample.pixels
    return images


def _worker(prefix: list[str], images: Path, out: Path, env: dict[str, str]) -> dict[str, object]:
    command = [*prefix, "-m", "bench.aarch64_worker", str(images), str(out)]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    if done.returncode != 0 or not out.is_file():
        last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise BenchError(f"the chain failed under {' '.join(prefix[:3])} ({last})")
    result: dict[str, object] = json.loads(out.read_text())
    return result


def run(
    cores: list[str], data: Path | None, fingers: int, root: Path, say: Progress
) -> dict[str, object]:
    """Native and emulated runs on the same images; the agreement of each emulated core."""
    unknown = [c for c in cores if c not in CORES]
    if unknown:
        raise BenchError(f"unknown core {unknown[0]!r}; choose from {', '.join(CORES)}")
    site = prepare(root.resolve(), say)
    system = root.resolve() / "system"
    images = inputs(data, fingers)
    agreements: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="hotspot-aarch64-") as tmp:
        work = Path(tmp)
        np.savez(work / "images.npz", **images)  # type: ignore[arg-type]
        say(f"the chain natively on {len(images)} images")
        native = _worker([sys.executable], work / "images.npz", work / "native.json", {
            **os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
        for core in cores:
            say(f"the chain on an emulated {core} (about 30 s an image)")
            info = work / f"cpuinfo-{core}"
            info.write_text(cpuinfo(core, os.cpu_count() or 1))
            python = f"{system}/usr/bin/python3.11"
            script = 'mount --bind "$1" /proc/cpuinfo && shift && exec "$@"'
            prefix = [
                "unshare", "--mount", "--map-root-user", "sh", "-c", script, "sh", str(info),
                "qemu-aarch64-static", "-cpu", core, "-L", str(system), python,
            ]  # fmt: skip
            env = {**os.environ, "PYTHONPATH": f"{site}:{REPO}"}
            emulated = _worker(prefix, work / "images.npz", work / f"{core}.json", env)
            if emulated.get("machine") != "aarch64":
                raise BenchError(f"the emulated run reports {emulated.get('machine')}, not aarch64")
            agreements[core] = asdict(compare(_results(native), _results(emulated)))
    return {"images": len(images), "cores": agreements}


def _results(run: dict[str, object]) -> dict[str, dict[str, object]]:
    results = run["results"]
    assert isinstance(results, dict)
    return results


def report_text(result: dict[str, object]) -> str:
    lines = [
        f"The fingerprint chain on {result['images']} images, emulated aarch64 against this "
        "machine (times under emulation mean nothing and are not shown):",
        "",
    ]
    lines.append(
        f"{'core':<12}{'minutiae':>9}{'same':>7}{'moved':>7}{'lost':>6}{'gained':>7}"
        f"{'angle':>8}{'rel.':>6}{'quality':>8}{'model':>7}"
    )
    cores = result["cores"]
    assert isinstance(cores, dict)
    for core, a in cores.items():
        lines.append(
            f"{core:<12}{a['minutiae']:>9}{a['same']:>7}{a['moved']:>7}{a['lost']:>6}"
            f"{a['gained']:>7}{a['angle_deg']:>7.2f}°{a['reliability']:>6}{a['quality']:>8}"
            f"{a['models_differ']:>7}"
        )
    lines += [
        "",
        "same: same pixel and type; moved: 1-2 px away; angle: largest difference (degrees) of",
        "those at the same pixel; rel., quality: largest difference in minutia quality (1-100)",
        "and finger quality (0-100); model: images that chose another model size.",
    ]
    return "\n".join(lines)
