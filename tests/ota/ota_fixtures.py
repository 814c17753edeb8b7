"""Shared by the update tests: a signed repository served over HTTP, and installed device roots.

A module with its own name (not conftest): several test directories have a conftest,
and `from conftest import` would pick whichever pytest loaded first.
"""

from __future__ import annotations

import hashlib
import os
import random
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from ota import bundle
from ota.layout import Layout
from ota.repository import UpdateRepository
from ota.rootfs import install_root
from ota.serve import serving
from ota.settings import OtaSettings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def app_contents() -> dict[str, bytes]:
    return bundle.collect(ROOT)


def release(contents: dict[str, bytes], version: str, model: bytes, **kw: object) -> bytes:
    """A real bundle of this checkout plus one model file that changes between releases."""
    files = dict(contents)
    files["models/fingerprint/leader.tflite"] = model
    _, data = bundle.build(
        files,
        version,
        str(kw.get("min_previous", "1.0.0")),
        tuple(kw.get("hardware", ("hotspot-h1",))),  # type: ignore[arg-type]
        tuple(kw.get("migrations", ())),  # type: ignore[arg-type]
    )
    return data


# Stand-ins for a model: 200 kB that, like real weights, do not compress.
MODEL_1 = random.Random(1).randbytes(200_000)
MODEL_2 = random.Random(2).randbytes(200_000)


@dataclass
class Fleet:
    repo: UpdateRepository
    url: str
    tmp: Path
    contents: dict[str, bytes]

    def device(self, name: str = "dev", health_args: tuple[str, ...] = ()) -> Layout:
        root = self.tmp / name
        install_root(
            root,
            release(self.contents, "1.0.0", MODEL_1),
            self.repo.trusted_root(),
            OtaSettings(self.url, "hotspot-h1", ["--wait", "0.5", "--emulated", *health_args]),
        )
        layout = Layout(root)
        with sqlite3.connect(layout.data / "outbox.db") as db:  # stands in for the queue
            db.execute("create table outbox (id blob primary key, sealed blob)")
            db.execute("insert into outbox values (x'01', x'cafe')")
        return layout


def outbox_digest(layout: Layout) -> str:
    return hashlib.sha256((layout.data / "outbox.db").read_bytes()).hexdigest()


@pytest.fixture
def fleet(tmp_path: Path, app_contents: dict[str, bytes]) -> Iterator[Fleet]:
    repo = UpdateRepository.create(tmp_path / "repo", tmp_path / "keys")
    repo.publish(release(app_contents, "1.0.0", MODEL_1))
    repo.publish(release(app_contents, "1.1.0", MODEL_2))
    with serving(tmp_path / "repo") as url:
        yield Fleet(repo, url, tmp_path, app_contents)


def ota_cli(root: Path, *args: str, path_first: Path | None = None) -> CompletedProcess[str]:
    """``hotspot ota ARGS --root ROOT`` as its own process (``path_first`` leads PATH)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if path_first is not None:
        env["PATH"] = f"{path_first}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        [sys.executable, "-m", "hotspot", "ota", *args, "--root", str(root)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
