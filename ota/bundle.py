"""The update bundle: one file holding the device application, its models and a manifest.

A bundle is a gzip-compressed tar with ``manifest.json`` first, then the
application under ``app/`` and the model files under ``models/``. It is
**reproducible**: the same sources give the same bytes (sorted entries, fixed
owners, modes and times, no gzip timestamp), so a second build can check a
first and TUF's hashes identify a release, not a build run.

The manifest says what the bundle is (version), what it may replace (the
oldest installed version its migrations start from), where it may run
(hardware ids), what it holds (a SHA-256 per file) and which declared
migration steps the installer runs. Opening a bundle checks all of it before
anything is unpacked: every listed file present with its hash, nothing
unlisted, no path that leaves the target directory, no links or devices.
The signature over the whole bundle is TUF's job (its targets metadata
carries the bundle's length and hashes); this format only has to be
unambiguous and safe to unpack.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ota.errors import BundleError

FORMAT = 1
MANIFEST = "manifest.json"
DEVICE_PACKAGES = ("firmware", "hal", "wire", "ota", "models", "hotspot", "supervisor")
"""What runs on the handheld; the central service and the test rig stay out."""
MAX_MANIFEST_BYTES = 1 << 20
_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
_SKIP_PARTS = {"__pycache__", ".mypy_cache", ".pytest_cache"}
_SKIP_SUFFIXES = {".pyc", ".pyo"}


def parse_version(text: str) -> tuple[int, int, int]:
    """``MAJOR.MINOR.PATCH`` as a tuple that compares the way releases do."""
    match = _VERSION.match(text)
    if match is None:
        raise BundleError(f"version {text!r} is not MAJOR.MINOR.PATCH (for example 1.4.0)")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


@dataclass(frozen=True)
class Manifest:
    version: str
    min_previous: str
    """The oldest installed version this bundle's migrations start from."""
    hardware: tuple[str, ...]
    """Board ids the bundle runs on."""
    files: dict[str, str] = field(default_factory=dict)
    """Path inside the bundle -> SHA-256 (hex) for every file but the manifest."""
    migrations: tuple[str, ...] = ()
    """Declared migration steps, in order (the only code allowed to touch the data)."""

    def __post_init__(self) -> None:
        if parse_version(self.min_previous) > parse_version(self.version):
            raise BundleError(
                f"min_previous {self.min_previous} is newer than the version {self.version}"
            )
        if not self.hardware:
            raise BundleError("a bundle names at least one compatible hardware id")

    @property
    def models(self) -> dict[str, str]:
        return {p: h for p, h in self.files.items() if p.startswith("models/")}

    def encode(self) -> bytes:
        body = {
            "format": FORMAT,
            "version": self.version,
            "min_previous": self.min_previous,
            "hardware": list(self.hardware),
            "migrations": list(self.migrations),
            "files": dict(sorted(self.files.items())),
        }
        return json.dumps(body, indent=1, sort_keys=True).encode() + b"\n"

    @classmethod
    def decode(cls, data: bytes) -> Manifest:
        try:
            body = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BundleError(f"the manifest is not JSON: {exc}") from None
        if not isinstance(body, dict) or body.get("format") != FORMAT:
            raise BundleError(f"unknown manifest format (this device reads format {FORMAT})")
        try:
            files = body["files"]
            if not isinstance(files, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in files.items()
            ):
                raise BundleError("manifest 'files' must map paths to hex digests")
            return cls(
                version=str(body["version"]),
                min_previous=str(body["min_previous"]),
                hardware=tuple(str(h) for h in body["hardware"]),
                files=dict(files),
                migrations=tuple(str(m) for m in body.get("migrations", [])),
            )
        except (KeyError, TypeError) as exc:
            raise BundleError(f"the manifest lacks or mangles a field: {exc}") from None


def collect(root: Path, packages: Iterable[str] = DEVICE_PACKAGES) -> dict[str, bytes]:
    """The device application under ``root``: bundle path -> content (no caches)."""
    found: dict[str, bytes] = {}
    for package in packages:
        base = root / package
        if not base.is_dir():
            raise BundleError(f"{base} is missing: build from the repository root")
        for path in sorted(base.rglob("*")):
            relative = path.relative_to(root)
            if not path.is_file() or _SKIP_PARTS & set(relative.parts):
                continue
            if path.suffix in _SKIP_SUFFIXES:
                continue
            inside = path.relative_to(base)
            if package == "models" and inside.parts[0] == "build":
                continue  # the conversion scripts are build tooling, not device code
            if package == "models" and path.suffix != ".py":
                # Model files land in the slot's models/ (found there by models.runtime),
                # so a model-only update moves only them.
                found[f"models/{inside.as_posix()}"] = path.read_bytes()
            else:
                found[f"app/{relative.as_posix()}"] = path.read_bytes()
    return found


def build(
    contents: dict[str, bytes],
    version: str,
    min_previous: str,
    hardware: tuple[str, ...],
    migrations: tuple[str, ...] = (),
) -> tuple[Manifest, bytes]:
    """The manifest and the reproducible bundle bytes for ``contents``."""
    for name in contents:
        _check_name(name)
    manifest = Manifest(
        version,
        min_previous,
        hardware,
        {name: hashlib.sha256(data).hexdigest() for name, data in contents.items()},
        migrations,
    )
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        _add(tar, MANIFEST, manifest.encode())
        for name in sorted(contents):
            _add(tar, name, contents[name])
    packed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return manifest, packed.getvalue()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def _check_name(name: str) -> None:
    path = PurePosixPath(name)
    if (
        path.is_absolute()
        or ".." in path.parts
        or not path.parts
        or path.parts[0] not in ("app", "models")
    ):
        raise BundleError(f"bundle entry {name!r} would land outside app/ or models/")


@dataclass(frozen=True)
class Bundle:
    manifest: Manifest
    contents: dict[str, bytes]

    def extract(self, destination: Path) -> None:
        """Write every file under ``destination`` (which must not exist yet)."""
        destination.mkdir(parents=True)
        for name, data in self.contents.items():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)


def open_bundle(data: bytes, max_bytes: int = 256 << 20) -> Bundle:
    """Read and check a bundle; :class:`BundleError` says what is wrong with it."""
    try:
        raw = gzip.decompress(data)
    except (OSError, EOFError) as exc:
        raise BundleError(f"not a gzip bundle ({exc}): download it again") from None
    if len(raw) > max_bytes:
        raise BundleError(f"the bundle unpacks to more than {max_bytes} bytes")
    contents: dict[str, bytes] = {}
    manifest_bytes: bytes | None = None
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
            for member in tar:
                if not member.isfile():
                    raise BundleError(f"bundle entry {member.name!r} is not a regular file")
                handle = tar.extractfile(member)
                assert handle is not None  # a regular file always has one
                if member.name == MANIFEST:
                    if member.size > MAX_MANIFEST_BYTES:
                        raise BundleError("the manifest is implausibly large")
                    manifest_bytes = handle.read()
                    continue
                _check_name(member.name)
                if member.name in contents:
                    raise BundleError(f"bundle entry {member.name!r} appears twice")
                contents[member.name] = handle.read()
    except tarfile.TarError as exc:
        raise BundleError(f"the bundle is not a readable tar ({exc})") from None
    if manifest_bytes is None:
        raise BundleError(f"the bundle has no {MANIFEST}")
    manifest = Manifest.decode(manifest_bytes)
    listed, present = set(manifest.files), set(contents)
    if listed - present:
        raise BundleError(f"files listed but missing: {sorted(listed - present)[:5]}")
    if present - listed:
        raise BundleError(f"files present but not listed: {sorted(present - listed)[:5]}")
    for name, data in contents.items():
        if hashlib.sha256(data).hexdigest() != manifest.files[name]:
            raise BundleError(f"{name} does not match its checksum in the manifest")
    return Bundle(manifest, contents)
