"""The anti-rollback floor: no install older than the newest release ever committed.

Two kinds, one protocol. :class:`FileFloor` keeps the version in a file that
only ever grows; it stops an honest mistake and a replayed announcement, not
someone who can write the disk. :class:`SecureElementFloor` binds that file to
a monotonic counter of the secure element (the ATECC608's counters only count
up): the file carries the counter value it was written at and the chip's
signature over both, so an older copy put back on the disk is detected (its
counter is behind the chip's) and a forged one does not verify.

Raising the floor writes the file first, with the next counter value, then
increments the chip's counter; a power cut between the two leaves a file one
ahead of the chip, which is recognised as the interrupted raise and completed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Protocol

from hal.secure.protocol import SecureElement, verify_signature
from ota.bundle import parse_version
from ota.errors import RollbackRefused, TrustError
from ota.layout import atomic_write


class Floor(Protocol):
    def version(self) -> str | None:
        """The oldest version this device may install, or None before the first commit."""
        ...

    def raise_to(self, version: str) -> None:
        """Forbid everything older than ``version`` from now on (no-op if already higher)."""
        ...


def check(floor: Floor, version: str) -> None:
    """RollbackRefused when ``version`` is older than the floor."""
    lowest = floor.version()
    if lowest is not None and parse_version(version) < parse_version(lowest):
        raise RollbackRefused(
            f"release {version} is older than {lowest}, which this device has already "
            "installed: rollback refused (publish a newer release with the fix instead)"
        )


class FileFloor:
    def __init__(self, path: Path) -> None:
        self.path = path

    def version(self) -> str | None:
        try:
            return str(json.loads(self.path.read_bytes())["version"])
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as exc:
            raise TrustError(
                f"{self.path} is corrupt ({exc}): reinstall from service media"
            ) from None

    def raise_to(self, version: str) -> None:
        current = self.version()
        if current is not None and parse_version(current) >= parse_version(version):
            return
        atomic_write(self.path, json.dumps({"version": version}).encode() + b"\n")


class SecureElementFloor:
    """A floor whose file is bound to monotonic counter ``counter_id`` of the secure element."""

    def __init__(self, path: Path, se: SecureElement, slot: int = 0, counter_id: int = 1) -> None:
        self.path, self.se, self.slot, self.counter_id = path, se, slot, counter_id

    def _digest(self, version: str, counter: int) -> bytes:
        return hashlib.sha256(f"hotspot-ota-floor|{version}|{counter}".encode()).digest()

    def version(self) -> str | None:
        chip = self.se.counter(self.counter_id)
        try:
            body = json.loads(self.path.read_bytes())
            version, counter = str(body["version"]), int(body["counter"])
            signature = bytes.fromhex(body["signature"])
        except FileNotFoundError:
            if chip == 0:
                return None
            raise TrustError(
                f"{self.path} is gone but the secure element's counter is at {chip}: "
                "the anti-rollback record was removed; reinstall from service media"
            ) from None
        except (ValueError, KeyError, TypeError) as exc:
            raise TrustError(
                f"{self.path} is corrupt ({exc}): reinstall from service media"
            ) from None
        public = self.se.public_key(self.slot)
        if not verify_signature(public, self._digest(version, counter), signature):
            raise TrustError(f"{self.path} is not signed by this device's secure element")
        if counter == chip + 1:
            self.se.increment_counter(self.counter_id)  # finish a raise cut by power loss
        elif counter != chip:
            raise TrustError(
                f"{self.path} was written at counter {counter} but the secure element is at "
                f"{chip}: an old copy was put back; reinstall from service media"
            )
        return version

    def raise_to(self, version: str) -> None:
        current = self.version()
        if current is not None and parse_version(current) >= parse_version(version):
            return
        counter = self.se.counter(self.counter_id) + 1
        signature = self.se.sign_digest(self.slot, self._digest(version, counter))
        body = {"version": version, "counter": counter, "signature": signature.hex()}
        atomic_write(self.path, json.dumps(body).encode() + b"\n")
        self.se.increment_counter(self.counter_id)
