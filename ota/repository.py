"""The update repository: TUF metadata and targets in a directory any static web server serves.

Layout (what ``hotspot ota publish`` writes, what the device fetches)::

    REPO/metadata/1.root.json, 2.root.json ...   every root version (clients walk the chain)
    REPO/metadata/N.targets.json, N.snapshot.json (consistent snapshots: never overwritten)
    REPO/metadata/timestamp.json                 the only file that changes in place
    REPO/targets/releases/<hash>.<file>          per release: the bundle and its manifest
    REPO/targets/blobs/<hash>.<sha256>           every file of every bundle, content-addressed

Each release is published twice over: as the whole bundle (first installs,
offline media) and as its files, content-addressed, so that a device that
already holds most of a release fetches only what changed: a new model moves
the model and the manifest, not the application.

The signing keys live in a separate directory (``KEYS/<keyid>.pem``): root's
keys belong offline, the timestamp key online. Root is signed by a threshold
of its keys (2 of 3 by default); a role is signed by every key of it that is
present here, and TUF refuses anything below the threshold the trusted root
sets. Key rotation writes a new root signed by the old and the new keys, which
clients follow version by version.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from securesystemslib.signer import CryptoSigner, Signer, SSlibKey
from tuf.api.metadata import (
    Key,
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

from ota.bundle import MANIFEST, open_bundle, parse_version
from ota.errors import RepositoryError
from ota.layout import atomic_write

ROLES = (Root.type, Targets.type, Snapshot.type, Timestamp.type)
EXPIRY = {
    Root.type: timedelta(days=365),
    Targets.type: timedelta(days=90),
    Snapshot.type: timedelta(days=7),
    Timestamp.type: timedelta(days=1),
}
"""Short for the online roles: a frozen mirror is noticed within a day."""
_SERIALIZER = JSONSerializer(compact=False)


def release_target(version: str, name: str) -> str:
    return f"releases/{version}/{name}"


def bundle_target(version: str) -> str:
    return release_target(version, f"hotspot-{version}.bundle")


def manifest_target(version: str) -> str:
    return release_target(version, MANIFEST)


def blob_target(sha256: str) -> str:
    return f"blobs/{sha256}"


@dataclass(frozen=True)
class Published:
    version: str
    bundle_bytes: int
    blobs_added: int
    blob_bytes_added: int


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class UpdateRepository:
    """A TUF repository on disk and the keys that sign it."""

    def __init__(self, directory: Path, keys_dir: Path) -> None:
        self.directory = Path(directory)
        self.keys_dir = Path(keys_dir)
        self.metadata_dir = self.directory / "metadata"
        self.targets_dir = self.directory / "targets"
        if not (self.metadata_dir / "1.root.json").exists():
            raise RepositoryError(
                f"{self.directory} is not an update repository: create it with "
                "'hotspot ota init-repo'"
            )

    # -- creation and keys ---------------------------------------------------------------

    @classmethod
    def create(
        cls,
        directory: Path,
        keys_dir: Path,
        *,
        root_keys: int = 3,
        root_threshold: int = 2,
    ) -> UpdateRepository:
        """A new repository: fresh keys for every role, empty targets, version 1 of everything."""
        directory, keys_dir = Path(directory), Path(keys_dir)
        if (directory / "metadata" / "1.root.json").exists():
            raise RepositoryError(f"{directory} already holds an update repository")
        if not 1 <= root_threshold <= root_keys:
            raise RepositoryError("the root threshold must be between 1 and the number of keys")
        (directory / "metadata").mkdir(parents=True, exist_ok=True)
        (directory / "targets").mkdir(parents=True, exist_ok=True)
        keys_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(keys_dir, 0o700)
        root = Root(expires=_now() + EXPIRY[Root.type], consistent_snapshot=True)
        for role in ROLES:
            count = root_keys if role == Root.type else 1
            for _ in range(count):
                root.add_key(_new_key(keys_dir), role)
        root.roles[Root.type].threshold = root_threshold
        repo_meta: dict[str, Metadata[Any]] = {
            Root.type: Metadata[Any](root),
            Targets.type: Metadata[Any](Targets(expires=_now() + EXPIRY[Targets.type])),
            Snapshot.type: Metadata[Any](Snapshot(expires=_now() + EXPIRY[Snapshot.type])),
            Timestamp.type: Metadata[Any](Timestamp(expires=_now() + EXPIRY[Timestamp.type])),
        }
        for role, md in repo_meta.items():
            _sign(md, role, keys_dir, root)
        writer = cls.__new__(cls)
        writer.directory, writer.keys_dir = directory, keys_dir
        writer.metadata_dir, writer.targets_dir = directory / "metadata", directory / "targets"
        for md in repo_meta.values():
            writer._write(md)
        return writer

    def trusted_root(self) -> bytes:
        """The first root: what ships in the device image as the anchor of trust."""
        return (self.metadata_dir / "1.root.json").read_bytes()

    def rotate_key(self, role: str) -> list[str]:
        """Replace every key of ``role`` with a new one; a new root says so. Returns the new ids.

        The number of keys and the threshold stay. The new root is signed by the
        current root keys and, when root itself rotates, by the new ones too, so
        that a device holding any older root walks to it. The role's metadata is
        re-signed with the new keys at once. The old private keys can then be
        destroyed: nothing they sign is accepted any more.
        """
        if role not in ROLES:
            raise RepositoryError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
        previous = self._load(Root.type).signed
        root = Metadata[Root].from_bytes(self._load(Root.type).to_bytes()).signed
        old_keyids = list(root.roles[role].keyids)
        new_keys = [_new_key(self.keys_dir) for _ in old_keyids]
        for keyid in old_keyids:
            root.revoke_key(keyid, role)
        for key in new_keys:
            root.add_key(key, role)
        root.version += 1
        root.expires = _now() + EXPIRY[Root.type]
        md = Metadata(root)
        _sign(md, Root.type, self.keys_dir, root, previous)
        self._write(md)
        if role != Root.type:
            self._bump(role)
            if role == Targets.type:
                self._bump(Snapshot.type)
            if role in (Targets.type, Snapshot.type):
                self._bump(Timestamp.type)
        return [str(key.keyid) for key in new_keys]

    # -- publishing ----------------------------------------------------------------------

    def releases(self) -> list[str]:
        targets = self._load(Targets.type).signed
        found = {name.split("/")[1] for name in targets.targets if name.startswith("releases/")}
        return sorted(found, key=parse_version)

    def publish(self, data: bytes) -> Published:
        """Check ``data`` as a bundle, add it and its files, re-sign the metadata."""
        bundle = open_bundle(data)
        version = bundle.manifest.version
        targets_md = self._load(Targets.type)
        targets = targets_md.signed
        if bundle_target(version) in targets.targets:
            raise RepositoryError(
                f"release {version} is already published: build the next version instead"
            )
        added = added_bytes = 0
        files: dict[str, bytes] = {
            bundle_target(version): data,
            manifest_target(version): bundle.manifest.encode(),
        }
        for name, content in bundle.contents.items():
            blob = blob_target(bundle.manifest.files[name])
            if blob not in targets.targets and blob not in files:
                files[blob] = content
                added += 1
                added_bytes += len(content)
        for name, content in files.items():
            info = TargetFile.from_data(name, content, ["sha256"])
            info.unrecognized_fields["custom"] = {"release": version}
            targets.targets[name] = info
            self._write_target(info, content)
        self._resign(targets_md, Targets.type)
        self._bump(Snapshot.type)
        self._bump(Timestamp.type)
        return Published(version, len(data), added, added_bytes)

    def refresh_timestamp(self) -> int:
        """Re-sign the timestamp (run daily from the online signer); returns its version."""
        return self._bump(Timestamp.type)

    # -- internals -----------------------------------------------------------------------

    def _bump(self, role: str) -> int:
        md = self._load(role)
        if role == Snapshot.type:
            snapshot = md.signed
            assert isinstance(snapshot, Snapshot)
            snapshot.meta["targets.json"] = MetaFile(
                version=self._load(Targets.type).signed.version
            )
        elif role == Timestamp.type:
            timestamp = md.signed
            assert isinstance(timestamp, Timestamp)
            timestamp.snapshot_meta = MetaFile(version=self._load(Snapshot.type).signed.version)
        self._resign(md, role)
        return int(md.signed.version)

    def _resign(self, md: Metadata[Any], role: str) -> None:
        md.signed.version += 1
        md.signed.expires = _now() + EXPIRY[role]
        md.signatures.clear()
        _sign(md, role, self.keys_dir, self._load(Root.type).signed)
        self._write(md)

    def _load(self, role: str) -> Metadata[Any]:
        if role == Timestamp.type:
            return Metadata.from_file(str(self.metadata_dir / "timestamp.json"))
        return Metadata.from_file(
            str(self.metadata_dir / f"{_latest(self.metadata_dir, role)}.{role}.json")
        )

    def _write(self, md: Metadata[Any]) -> None:
        role = md.signed.type
        name = "timestamp.json" if role == Timestamp.type else f"{md.signed.version}.{role}.json"
        atomic_write(self.metadata_dir / name, md.to_bytes(_SERIALIZER))

    def _write_target(self, info: TargetFile, content: bytes) -> None:
        directory, _, base = info.path.rpartition("/")
        path = self.targets_dir / directory / f"{info.hashes['sha256']}.{base}"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            atomic_write(path, content)


def _latest(metadata_dir: Path, role: str) -> int:
    versions = [int(p.name.split(".")[0]) for p in metadata_dir.glob(f"*.{role}.json")]
    if not versions:
        raise RepositoryError(f"no {role} metadata in {metadata_dir}")
    return max(versions)


def _new_key(keys_dir: Path) -> Key:
    private = Ed25519PrivateKey.generate()
    key = SSlibKey.from_crypto(private.public_key())
    path = keys_dir / f"{key.keyid}.pem"
    path.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    os.chmod(path, 0o600)
    return key


def _signers(root: Root, role: str, keys_dir: Path) -> Iterator[Signer]:
    for keyid in root.roles[role].keyids:
        path = keys_dir / f"{keyid}.pem"
        if path.exists():
            private = serialization.load_pem_private_key(path.read_bytes(), password=None)
            yield CryptoSigner(private, root.get_key(keyid))  # type: ignore[arg-type]


def _sign(md: Metadata[Any], role: str, keys_dir: Path, *roots: Root) -> None:
    """Sign with every key of ``role`` we hold in any of ``roots``; each root's threshold must hold.

    A new root passes both its own root and the previous one (so that devices
    holding the previous root accept it); every other role passes the current root.
    """
    seen: set[str] = set()
    for root in roots:
        for signer in _signers(root, role, keys_dir):
            if signer.public_key.keyid not in seen:
                seen.add(signer.public_key.keyid)
                md.sign(signer, append=True)
    for root in roots:
        have = len(seen & set(root.roles[role].keyids))
        if have < root.roles[role].threshold:
            raise RepositoryError(
                f"only {have} of the {root.roles[role].threshold} {role} keys needed are in "
                f"{keys_dir}: bring the offline keys and try again"
            )


__all__ = [
    "EXPIRY",
    "ROLES",
    "Published",
    "UpdateRepository",
    "blob_target",
    "bundle_target",
    "manifest_target",
]
