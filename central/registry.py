"""The device registry: which devices exist, their identity keys, whether they are revoked."""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from wire import topics

SCHEMA = """
CREATE TABLE IF NOT EXISTS devices (
    id TEXT PRIMARY KEY,
    public_key BLOB NOT NULL,
    added_ms INTEGER NOT NULL,
    revoked_ms INTEGER
);
"""


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
    def __init__(self, path: str | Path) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def add(self, device_id: str, public_key: bytes) -> None:
        topics.check_device_id(device_id)
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + public_key)
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO devices (id, public_key, added_ms, revoked_ms) "
                "VALUES (?, ?, ?, NULL)",
                (device_id, public_key, int(time.time() * 1000)),
            )

    def revoke(self, device_id: str) -> bool:
        with self._lock:
            cur = self._db.execute(
                "UPDATE devices SET revoked_ms = ? WHERE id = ? AND revoked_ms IS NULL",
                (int(time.time() * 1000), device_id),
            )
        return cur.rowcount == 1

    def get(self, device_id: str) -> Device:
        with self._lock:
            row = self._db.execute(
                "SELECT public_key, revoked_ms FROM devices WHERE id = ?", (device_id,)
            ).fetchone()
        if row is None:
            raise UnknownDevice(f"device {device_id!r} is not registered")
        device = Device(device_id, bytes(row[0]), row[1] is not None)
        if device.revoked:
            raise UnknownDevice(f"device {device_id!r} is revoked")
        return device

    def all(self) -> list[Device]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, public_key, revoked_ms FROM devices ORDER BY id"
            ).fetchall()
        return [Device(r[0], bytes(r[1]), r[2] is not None) for r in rows]
