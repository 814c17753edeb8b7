"""Where the update machinery keeps things on the device: slots, state, downloads.

One root (``/`` on a handheld, a temporary directory in the tests, which is
why every path hangs off ``root``)::

    /opt/hotspot/slots/a, /opt/hotspot/slots/b   the two application slots (app/, models/,
                                                 manifest.json); a slot exists only complete
    /opt/hotspot/current -> slots/a              what the services run; switched by rename
    /opt/hotspot/trust/root.json                 the TUF root shipped in the image
    /var/lib/hotspot/data                        the outbox and device state: never in a slot
    /var/lib/hotspot/keys                        keys (when there is no secure element)
    /var/lib/hotspot/ota/state.json              which slot is good, which is on trial
    /var/lib/hotspot/ota/floor.json              the anti-rollback floor
    /var/lib/hotspot/ota/tuf, .../blobs          verified metadata, downloaded files
    /etc/systemd/system/hotspot-*.service        the units
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SLOTS = ("a", "b")


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def opt(self) -> Path:
        return self.root / "opt" / "hotspot"

    @property
    def slots(self) -> Path:
        return self.opt / "slots"

    def slot(self, name: str) -> Path:
        if name not in SLOTS:
            raise ValueError(f"unknown slot {name!r}")
        return self.slots / name

    @property
    def current(self) -> Path:
        return self.opt / "current"

    @property
    def trusted_root(self) -> Path:
        return self.opt / "trust" / "root.json"

    @property
    def var(self) -> Path:
        return self.root / "var" / "lib" / "hotspot"

    @property
    def data(self) -> Path:
        return self.var / "data"

    @property
    def keys(self) -> Path:
        return self.var / "keys"

    @property
    def ota(self) -> Path:
        return self.var / "ota"

    @property
    def state_file(self) -> Path:
        return self.ota / "state.json"

    @property
    def floor_file(self) -> Path:
        return self.ota / "floor.json"

    @property
    def tuf(self) -> Path:
        return self.ota / "tuf"

    @property
    def blobs(self) -> Path:
        return self.ota / "blobs"

    @property
    def units(self) -> Path:
        return self.root / "etc" / "systemd" / "system"

    @property
    def config(self) -> Path:
        return self.root / "etc" / "hotspot"


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` so that a power cut leaves the old or the new content, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    sync_dir(path.parent)


def sync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (the directory entry, not just the data)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
