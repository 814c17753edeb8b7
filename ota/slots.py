"""The two application slots: build one beside the running one, switch by rename.

A slot is written under a temporary name and renamed into place only when
every file is written, synced and checked against the manifest, so a slot
that exists is complete. ``current`` is a symlink replaced with
``rename(2)``, which is atomic: after a power cut it names the old slot or the
new one. The running slot is never written to.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from ota.bundle import MANIFEST, Manifest
from ota.errors import BundleError, InstallError
from ota.faults import checkpoint
from ota.layout import SLOTS, Layout, sync_dir


def active(layout: Layout) -> str | None:
    """The slot ``current`` points at, or None before the first install."""
    try:
        name = Path(os.readlink(layout.current)).name
    except OSError:
        return None
    return name if name in SLOTS else None


def switch(layout: Layout, slot: str) -> None:
    """Point ``current`` at ``slot`` atomically (a no-op when it already does)."""
    if active(layout) == slot:
        return
    if not (layout.slot(slot) / MANIFEST).is_file():
        raise InstallError(f"slot {slot} is not complete: refusing to switch to it")
    tmp = layout.opt / ".current.new"
    tmp.unlink(missing_ok=True)
    os.symlink(f"slots/{slot}", tmp)
    os.replace(tmp, layout.current)
    sync_dir(layout.opt)


def manifest_of(layout: Layout, slot: str) -> Manifest | None:
    try:
        return Manifest.decode((layout.slot(slot) / MANIFEST).read_bytes())
    except OSError:
        return None


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(directory: Path, manifest: Manifest) -> list[str]:
    """The files under ``directory`` that are missing or differ from ``manifest``."""
    bad = []
    for name, expected in manifest.files.items():
        path = directory / name
        if not path.is_file() or file_hash(path) != expected:
            bad.append(name)
    return bad


def assemble(
    layout: Layout,
    slot: str,
    manifest: Manifest,
    source: Callable[[str], Path],
) -> None:
    """Build ``slot`` from ``manifest``; ``source(sha256)`` says where each file's bytes are."""
    recover(layout)
    final = layout.slot(slot)
    tmp = layout.slots / f".{slot}.new"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        for index, (name, digest) in enumerate(sorted(manifest.files.items())):
            target = tmp / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source(digest), target)
            with open(target, "rb+") as handle:
                os.fsync(handle.fileno())
            if index == len(manifest.files) // 2:
                checkpoint("unpack")
        with open(tmp / MANIFEST, "wb") as handle:
            handle.write(manifest.encode())
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise InstallError(
            f"cannot write slot {slot} ({exc.strerror or exc}): free some space and retry; "
            "the running version is untouched"
        ) from None
    bad = verify(tmp, manifest)
    if bad:
        shutil.rmtree(tmp, ignore_errors=True)
        raise InstallError(f"slot {slot} came out wrong ({bad[:3]}): storage fault, retry")
    # The old slot is renamed aside before the new one is renamed in, and deleted only after:
    # a cut at any instant leaves the complete old slot or the complete new one under its
    # name, or (between the two renames) both beside it, which recover() puts back.
    aside = _aside(layout, slot)
    if aside.exists():
        shutil.rmtree(aside)
    if final.exists():
        os.rename(final, aside)
        sync_dir(layout.slots)
    os.rename(tmp, final)
    sync_dir(layout.slots)
    shutil.rmtree(aside, ignore_errors=True)


def _aside(layout: Layout, slot: str) -> Path:
    return layout.slots / f".{slot}.old"


def recover(layout: Layout) -> list[str]:
    """Put back a slot left without its name by a cut between assemble()'s two renames: the
    new one when it is complete (it was verified before the renames), else the old one.
    The slots recovered."""
    done = []
    for slot in SLOTS:
        final = layout.slot(slot)
        if final.exists():
            continue
        new, old = layout.slots / f".{slot}.new", _aside(layout, slot)
        for candidate in (new, old):
            manifest = _manifest_in(candidate)
            if manifest is not None and not verify(candidate, manifest):
                os.rename(candidate, final)
                sync_dir(layout.slots)
                done.append(slot)
                break
    return done


def _manifest_in(directory: Path) -> Manifest | None:
    try:
        return Manifest.decode((directory / MANIFEST).read_bytes())
    except (OSError, BundleError):
        return None
