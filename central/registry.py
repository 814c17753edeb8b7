"""The device registry: which devices exist, their identity keys, whether they are revoked."""

from __future__ import annotations

import time
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec

from central.database import Database
from wire import topics


class UnknownDevice(Exception):
    """A record from a device that is not registered, or is revoked."""


@dataclass(frozen=True)
class Device:
    device_id: str
    public_key: bytes
    """Raw 64-byte P-256 point X || Y, as the secure element reports it."""
    revoked: bool

    def key(self) -> ec.EllipticCurvePublicKey:
        return ec.EllipticCurvePublicKey.from_encoded_point(
            ec.SECP256R1(), b"\x04" + self.public_key
        )


class DeviceRegistry:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, device_id: str, public_key: bytes) -> None:
        topics.check_device_id(device_id)
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + public_key)
        self._db.execute(
            "INSERT INTO devices (id, public_key, added_ms, revoked_ms) VALUES (?, ?, ?, NULL) "
            "ON CONFLICT (id) DO UPDATE SET public_key = excluded.public_key, "
            "added_ms = excluded.added_ms, revoked_ms = NULL",
            (device_id, public_key, int(time.time() * 1000)),
        )

    def revoke(self, device_id: str) -> bool:
        changed = self._db.execute(
            "UPDATE devices SET revoked_ms = ? WHERE id = ? AND revoked_ms IS NULL",
            (int(time.time() * 1000), device_id),
        )
        return changed == 1

    def get(self, device_id: str) -> Device:
        row = self._db.one("SELECT public_key, revoked_ms FROM devices WHERE id = ?", (device_id,))
        if row is None:
            raise UnknownDevice(f"device {device_id!r} is not registered")
        device = Device(device_id, bytes(row[0]), row[1] is not None)
        if device.revoked:
            raise UnknownDevice(f"device {device_id!r} is revoked")
        return device

    def all(self) -> list[Device]:
        rows = self._db.query("SELECT id, public_key, revoked_ms FROM devices ORDER BY id")
        return [Device(r[0], bytes(r[1]), r[2] is not None) for r in rows]
