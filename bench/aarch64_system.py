"""The emulated handheld for ``hotspot bench aarch64``: its packages, fetched once, and its CPU.

Debian's arm64 Python 3.11 (bookworm's, as Raspberry Pi OS) with the libraries it loads,
unpacked with ``dpkg -x`` (nothing is installed), and the aarch64 wheels of what the chains
import, at the versions installed here, unpacked into one site folder. QEMU runs that
Python; :func:`cpuinfo` writes the ``/proc/cpuinfo`` the chosen core would show, so that
XNNPACK picks that core's kernels.
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from bench.fingerprint_systems import BenchError

Progress = Callable[[str], None]
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
"""Debian's arm64 Python 3.11 and the libraries it loads."""
WHEELS = ("numpy", "scipy", "pillow", "ai-edge-litert")
"""What the chain imports, fetched for aarch64 at the versions installed here."""


def cpuinfo(core: str, processors: int) -> str:
    """A ``/proc/cpuinfo`` as ``core`` reports it, one entry per processor."""
    part, features = CORES[core]
    entry = (
        "processor\t: {}\nBogoMIPS\t: 108.00\nFeatures\t: {}\nCPU implementer\t: 0x41\n"
        "CPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: {}\nCPU revision\t: 1\n\n"
    )
    return "".join(entry.format(i, features, part) for i in range(processors))


def check_tools() -> None:
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
    check_tools()
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
