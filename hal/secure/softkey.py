"""A software key store with the secure element's interface, for boards without the chip.

Keys are P-256 PEM files readable by the owner only; counters live in one JSON
file replaced atomically (write, fsync, rename, fsync the directory), so a
power cut leaves either the old or the new value and a counter never goes
back. This is weaker than the chip: anyone with the SD card has the key. Use
it for development boards, and prefer the ATECC608 in the field.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

from hal.errors import SecureElementError
from hal.secure.protocol import SecureElementInfo


class SoftKeyStore:
    def __init__(self, directory: str | Path) -> None:
        self._dir = Path(directory)
        self._dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        serial_file = self._dir / "serial"
        if not serial_file.exists():
            _atomic_write(serial_file, os.urandom(9).hex().upper().encode())
        self._serial = serial_file.read_text().strip()

    def info(self) -> SecureElementInfo:
        return SecureElementInfo(model="software", revision="1", serial=self._serial, locked=False)

    def random(self) -> bytes:
        return os.urandom(32)

    def generate_key(self, slot: int) -> bytes:
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _atomic_write(self._key_path(slot), pem)
        return _raw_public(key)

    def public_key(self, slot: int) -> bytes:
        return _raw_public(self._load(slot))

    def sign_digest(self, slot: int, digest: bytes) -> bytes:
        if len(digest) != 32:
            raise ValueError("sign_digest takes a 32-byte SHA-256 digest")
        der = self._load(slot).sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
        r, s = utils.decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def ecdh(self, slot: int, peer_public: bytes) -> bytes:
        if len(peer_public) != 64:
            raise ValueError("the peer public key is 64 bytes X || Y")
        peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + peer_public)
        return self._load(slot).exchange(ec.ECDH(), peer)

    def counter(self, counter_id: int) -> int:
        return self._counters().get(str(counter_id), 0)

    def increment_counter(self, counter_id: int) -> int:
        counters = self._counters()
        value = counters.get(str(counter_id), 0) + 1
        counters[str(counter_id)] = value
        _atomic_write(self._dir / "counters.json", json.dumps(counters).encode())
        return value

    def _key_path(self, slot: int) -> Path:
        if not 0 <= slot <= 15:
            raise ValueError("key slots are 0..15")
        return self._dir / f"slot{slot}.pem"

    def _load(self, slot: int) -> ec.EllipticCurvePrivateKey:
        path = self._key_path(slot)
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except FileNotFoundError as exc:
            raise SecureElementError(
                f"no key in software slot {slot}: provision the device first"
            ) from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise SecureElementError(f"software slot {slot} does not hold a P-256 key")
        return key

    def _counters(self) -> dict[str, int]:
        path = self._dir / "counters.json"
        if not path.exists():
            return {}
        data = json.loads(path.read_text())
        return {str(k): int(v) for k, v in data.items()}


def _raw_public(key: ec.EllipticCurvePrivateKey) -> bytes:
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return point[1:]


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
