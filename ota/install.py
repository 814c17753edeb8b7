"""Install a release into the inactive slot: fetch, verify, unpack, switch.

Each step leaves the device bootable if the power fails in it:

* **download** writes only under ``/var/lib/hotspot/ota`` (resumable parts, then
  verified files named by their hash);
* **verify** reads;
* **unpack** writes the inactive slot under a temporary name, renamed into place
  when complete;
* **switch** records the trial in the state file, then renames ``current``; the
  guard (:mod:`ota.boot`) reconciles the two at the next start either way.

Only files the running slot lacks are downloaded (a new model moves the model
and the manifest); when that would be more than the whole bundle, the bundle
is fetched instead. The outbox and the keys are outside the slots and no step
touches them.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ota import antirollback, slots
from ota.antirollback import Floor
from ota.bundle import Manifest, open_bundle, parse_version
from ota.client import UpdateClient
from ota.errors import InstallError, NotApplicable, TrustError
from ota.faults import checkpoint
from ota.layout import Layout
from ota.repository import blob_target, bundle_target, manifest_target
from ota.state import SlotState

Progress = Callable[[str, int, int], None]
"""(step, done, total): download in bytes, unpack in files."""

KNOWN_MIGRATIONS: frozenset[str] = frozenset()
"""Migration steps this installer knows how to run. None exist yet: the data
formats have not changed since the first release. A bundle that declares one
this device does not know is refused before anything is fetched."""


@dataclass(frozen=True)
class Installed:
    version: str
    slot: str
    bytes_downloaded: int
    files_reused: int
    files_fetched: int
    via: str
    """'files' (only what changed) or 'bundle' (the whole bundle was cheaper)."""


class Installer:
    def __init__(
        self,
        layout: Layout,
        client: UpdateClient,
        floor: Floor,
        hardware: str,
        progress: Progress | None = None,
    ) -> None:
        self.layout, self.client, self.floor, self.hardware = layout, client, floor, hardware
        self._progress = progress or (lambda _step, _done, _total: None)

    def install(self, version: str, progress: Progress | None = None) -> Installed:
        """Install ``version`` into the inactive slot and make it the trial; OtaError if not."""
        if progress is not None:
            self._progress = progress
        state = SlotState.load(self.layout.state_file)
        if state.trial is not None:
            raise InstallError(
                f"release {state.trial_version} is still on trial in slot {state.trial}: "
                "let its health check finish (or restart the device) before the next update"
            )
        self.client.refresh()
        manifest = self._manifest(version)
        self._check(manifest, state)
        sources, fetched, via, moved = self._download(manifest, state)
        checkpoint("verify")
        for digest, path in sources.items():
            if slots.file_hash(path) != digest:
                path.unlink(missing_ok=True)
                raise TrustError(f"{path.name} changed on disk after it was verified: retry")
        slot = state.inactive
        slots.assemble(self.layout, slot, manifest, sources.__getitem__)
        self._progress("unpack", len(manifest.files), len(manifest.files))
        state.begin_trial(slot, version)
        state.save(self.layout.state_file)
        checkpoint("switch")
        slots.switch(self.layout, slot)
        self._prune(set(manifest.files.values()))
        reused = len(manifest.files) - fetched
        return Installed(version, slot, moved, reused, fetched, via)

    def _manifest(self, version: str) -> Manifest:
        path = self.layout.ota / "releases" / f"{version}.manifest.json"
        self.client.download(manifest_target(version), path)
        manifest = Manifest.decode(path.read_bytes())
        if manifest.version != version:
            raise TrustError(f"the manifest published as {version} says {manifest.version}")
        return manifest

    def _check(self, manifest: Manifest, state: SlotState) -> None:
        if self.hardware not in manifest.hardware:
            raise NotApplicable(
                f"release {manifest.version} is for {', '.join(manifest.hardware)}, "
                f"not this {self.hardware}"
            )
        antirollback.check(self.floor, manifest.version)
        running = parse_version(state.good_version)
        if parse_version(manifest.version) <= running:
            raise NotApplicable(
                f"release {manifest.version} is not newer than the installed {state.good_version}"
            )
        if parse_version(manifest.min_previous) > running:
            raise NotApplicable(
                f"release {manifest.version} needs at least {manifest.min_previous} installed "
                f"first (this device runs {state.good_version})"
            )
        unknown = [m for m in manifest.migrations if m not in KNOWN_MIGRATIONS]
        if unknown:
            raise NotApplicable(
                f"release {manifest.version} declares migration(s) {unknown} this device does "
                "not know: install the intermediate release that introduces them first"
            )

    def _download(
        self, manifest: Manifest, state: SlotState
    ) -> tuple[dict[str, Path], int, str, int]:
        """Where each file's bytes are, how many files were fetched, how, and bytes moved."""
        sources: dict[str, Path] = {}
        good_dir = self.layout.slot(state.good)
        good = slots.manifest_of(self.layout, state.good)
        if good is not None:
            for name, digest in good.files.items():
                path = good_dir / name
                if digest in manifest.files.values() and path.is_file():
                    sources.setdefault(digest, path)
        blobs = self.layout.blobs
        blobs.mkdir(parents=True, exist_ok=True)
        needed: dict[str, int] = {}
        for digest in set(manifest.files.values()) - set(sources):
            cached = blobs / digest
            if cached.is_file():
                sources[digest] = cached
            else:
                needed[digest] = self.client.target(blob_target(digest)).length
        if not needed:
            return sources, 0, "files", 0
        whole = self.client.target(bundle_target(manifest.version)).length
        total = sum(needed.values())
        if total > whole:
            return self._via_bundle(manifest, sources, needed, whole)
        done = 0
        for digest, length in sorted(needed.items()):
            base = done

            def report(have: int, _length: int, base: int = base) -> None:
                self._progress("download", base + have, total)

            self.client.download(blob_target(digest), blobs / digest, report, step="download")
            sources[digest] = blobs / digest
            done += length
        return sources, len(needed), "files", total

    def _via_bundle(
        self, manifest: Manifest, sources: dict[str, Path], needed: dict[str, int], whole: int
    ) -> tuple[dict[str, Path], int, str, int]:
        path = self.layout.ota / "releases" / f"{manifest.version}.bundle"
        self.client.download(
            bundle_target(manifest.version),
            path,
            lambda have, total: self._progress("download", have, total),
            step="download",
        )
        bundle = open_bundle(path.read_bytes())
        if bundle.manifest.files != manifest.files:
            raise TrustError(f"the bundle of {manifest.version} does not match its manifest")
        for name, data in bundle.contents.items():
            digest = manifest.files[name]
            if digest in needed and digest not in sources:
                target = self.layout.blobs / digest
                target.write_bytes(data)
                sources[digest] = target
        path.unlink()
        return sources, len(needed), "bundle", whole

    def _prune(self, keep: set[str]) -> None:
        """Drop cached files the new release does not use (the slot holds its own copies)."""
        for path in self.layout.blobs.iterdir():
            if path.name not in keep:
                path.unlink(missing_ok=True)
        for path in (self.layout.ota / "releases").glob("*"):
            if path.is_file() and path.suffix == ".bundle":
                path.unlink(missing_ok=True)


def install_factory(layout: Layout, bundle_bytes: bytes) -> str:
    """The factory image: unpack a bundle into slot a and mark it good (no network, no TUF).

    Used by ``hotspot ota install-root``; the image itself is trusted because it
    is what the device was built with.
    """
    bundle = open_bundle(bundle_bytes)
    staging = layout.blobs / ".factory"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    paths: dict[str, Path] = {}
    for name, data in bundle.contents.items():
        digest = bundle.manifest.files[name]
        path = staging / digest
        path.write_bytes(data)
        paths[digest] = path
    slots.assemble(layout, "a", bundle.manifest, paths.__getitem__)
    shutil.rmtree(staging)
    SlotState(good="a", good_version=bundle.manifest.version).save(layout.state_file)
    slots.switch(layout, "a")
    return bundle.manifest.version
