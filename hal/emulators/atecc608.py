"""Emulator of the ATECC608 at the I2C-transaction level, with real P-256 keys.

Behaviour reproduced: asleep until the wake pulse (a write to address 0x00),
then ``04 11 33 43``; NACKs while asleep and while a command executes; word
addresses reset/sleep/idle/command; CRC checked on every command (a bad one is
answered with status 0xFF); the watchdog puts the chip to sleep 1.3 s after
wake, losing TempKey; Info, Random, Read (config zone), GenKey (create /
public), Nonce pass-through, Sign of an external digest, monotonic Counter.
Private keys stay inside this object (and in its optional state file, which
stands in for the chip's EEPROM).
"""

from __future__ import annotations

import json
import os
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

from hal.emulators.i2cbus import Nack
from hal.secure import atca
from hal.secure.atca import Opcode

WATCHDOG_S = 1.3
COUNTER_MAX = 2_097_151


class Atecc608Emulator:
    def __init__(self, serial: bytes | None = None, state_file: str | Path | None = None) -> None:
        self.serial = serial or (b"\x01\x23" + os.urandom(6) + b"\xee")
        if len(self.serial) != 9:
            raise ValueError("an ATECC608 serial number is 9 bytes")
        self.state_file = Path(state_file) if state_file else None
        self.nack = False
        """Fault knob: the chip does not acknowledge anything."""
        self.corrupt_responses = False
        """Fault knob: every response leaves with a wrong CRC."""
        self.time_scale = 1.0
        """Multiplies execution times (0 makes commands instant)."""
        self._keys: dict[int, ec.EllipticCurvePrivateKey] = {}
        self._counters = [0, 0]
        self._awake_since: float | None = None
        self._busy_until = 0.0
        self._response = b""
        self._tempkey: bytes | None = None
        self._lock = threading.Lock()
        self._load()

    # -- wake/sleep ----------------------------------------------------------------------

    def wake(self) -> None:
        with self._lock:
            if self._awake():
                return
            self._awake_since = time.monotonic()
            self._response = atca.WAKE_RESPONSE
            self._busy_until = 0.0

    def _awake(self) -> bool:
        if self._awake_since is None:
            return False
        if time.monotonic() - self._awake_since > WATCHDOG_S:
            self._sleep()
            return False
        return True

    def _sleep(self) -> None:
        self._awake_since = None
        self._tempkey = None
        self._response = b""

    # -- I2C target -----------------------------------------------------------------------

    def on_write(self, data: bytes) -> None:
        with self._lock:
            if self.nack or not self._awake() or time.monotonic() < self._busy_until:
                raise Nack
            if not data:
                return
            word = data[0]
            if word == atca.WORD_SLEEP:
                self._sleep()
            elif word == atca.WORD_IDLE:
                self._awake_since = None  # idle keeps TempKey but needs a new wake
                self._response = b""
            elif word == atca.WORD_RESET:
                self._response = b""
            elif word == atca.WORD_COMMAND:
                self._command(data[1:])
            else:
                raise Nack

    def on_read(self, length: int) -> bytes:
        with self._lock:
            if self.nack or not self._awake() or time.monotonic() < self._busy_until:
                raise Nack
            out, self._response = self._response[:length], self._response[length:]
            return out.ljust(length, b"\xff")

    # -- commands --------------------------------------------------------------------------

    def _command(self, frame: bytes) -> None:
        if len(frame) < 7 or frame[0] != len(frame):
            self._respond_status(0x03)
            return
        body, crc = frame[:-2], frame[-2:]
        if atca.crc16(body) != crc:
            self._respond_status(0xFF)
            return
        opcode, p1 = body[1], body[2]
        (p2,) = struct.unpack("<H", body[3:5])
        data = body[5:]
        _, max_ms = atca.EXEC_MS.get(opcode, (1.0, 1.0))
        self._busy_until = time.monotonic() + 0.6 * max_ms / 1000.0 * self.time_scale
        handlers: dict[int, Callable[[int, int, bytes], None]] = {
            Opcode.INFO: self._info,
            Opcode.RANDOM: self._random,
            Opcode.READ: self._read,
            Opcode.GENKEY: self._genkey,
            Opcode.NONCE: self._nonce,
            Opcode.SIGN: self._sign,
            Opcode.COUNTER: self._counter,
            Opcode.ECDH: self._ecdh,
        }
        handler = handlers.get(opcode)
        if handler is None:
            self._respond_status(0x03)
            return
        handler(p1, p2, data)

    def _respond(self, data: bytes) -> None:
        body = bytes([len(data) + 3]) + data
        crc = atca.crc16(body)
        if self.corrupt_responses:
            crc = bytes([crc[0] ^ 0xFF, crc[1]])
        self._response = body + crc

    def _respond_status(self, status: int) -> None:
        self._respond(bytes([status]))

    def _info(self, p1: int, _p2: int, _data: bytes) -> None:
        if p1 != 0x00:
            self._respond_status(0x03)
            return
        self._respond(bytes([0x00, 0x00, 0x60, 0x02]))

    def _random(self, _p1: int, _p2: int, _data: bytes) -> None:
        self._respond(os.urandom(32))

    def _config_zone(self) -> bytes:
        config = bytearray(128)
        config[0:4] = self.serial[0:4]
        config[4:8] = bytes([0x00, 0x00, 0x60, 0x02])
        config[8:13] = self.serial[4:9]
        config[14] = 0xC0  # I2C enable
        config[16] = 0xC0  # I2C address << 1
        config[86] = 0x00  # LockValue: data zone locked
        config[87] = 0x00  # LockConfig: config zone locked
        return bytes(config)

    def _read(self, p1: int, p2: int, _data: bytes) -> None:
        zone = p1 & 0x03
        if zone != 0:
            self._respond_status(0x0F)  # only the config zone is readable here
            return
        block, offset = (p2 >> 3) & 0x1F, p2 & 0x07
        start = block * 32 + offset * 4
        size = 32 if p1 & 0x80 else 4
        if start + size > 128:
            self._respond_status(0x0F)
            return
        self._respond(self._config_zone()[start : start + size])

    def _genkey(self, p1: int, slot: int, _data: bytes) -> None:
        if slot > 15:
            self._respond_status(0x0F)
            return
        if p1 & 0x04:
            self._keys[slot] = ec.generate_private_key(ec.SECP256R1())
            self._save()
        key = self._keys.get(slot)
        if key is None:
            self._respond_status(0x0F)
            return
        point = key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self._respond(point[1:])

    def _nonce(self, p1: int, _p2: int, data: bytes) -> None:
        if p1 & 0x03 != 0x03 or len(data) != 32:
            self._respond_status(0x03)  # only pass-through mode is emulated
            return
        self._tempkey = data
        self._respond_status(0x00)

    def _sign(self, p1: int, slot: int, _data: bytes) -> None:
        key = self._keys.get(slot)
        if p1 != 0x80 or key is None or self._tempkey is None:
            self._respond_status(0x0F)
            return
        der = key.sign(self._tempkey, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
        r, s = utils.decode_dss_signature(der)
        self._tempkey = None
        self._respond(r.to_bytes(32, "big") + s.to_bytes(32, "big"))

    def _ecdh(self, p1: int, slot: int, data: bytes) -> None:
        key = self._keys.get(slot)
        if p1 != 0x0C or key is None or len(data) != 64:
            self._respond_status(0x0F if key is None else 0x03)
            return
        try:
            peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + data)
        except ValueError:
            self._respond_status(0x0F)  # not a point on the curve
            return
        self._respond(key.exchange(ec.ECDH(), peer))

    def _counter(self, p1: int, counter_id: int, _data: bytes) -> None:
        if counter_id > 1 or p1 > 1:
            self._respond_status(0x03)
            return
        if p1 == 1:
            if self._counters[counter_id] >= COUNTER_MAX:
                self._respond_status(0x0F)
                return
            self._counters[counter_id] += 1
            self._save()
        self._respond(self._counters[counter_id].to_bytes(4, "little"))

    # -- persistence (the chip's EEPROM) -----------------------------------------------------

    def _load(self) -> None:
        if self.state_file is None or not self.state_file.exists():
            return
        state = json.loads(self.state_file.read_text())
        self.serial = bytes.fromhex(state["serial"])
        self._counters = list(state["counters"])
        for slot, pem in state["keys"].items():
            key = serialization.load_pem_private_key(pem.encode(), password=None)
            if isinstance(key, ec.EllipticCurvePrivateKey):
                self._keys[int(slot)] = key

    def _save(self) -> None:
        if self.state_file is None:
            return
        keys = {
            str(slot): key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode()
            for slot, key in self._keys.items()
        }
        state = {"serial": self.serial.hex(), "counters": self._counters, "keys": keys}
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.state_file)


def provisioned(slot: int = 0, **kwargs: object) -> Atecc608Emulator:
    """An emulated chip as it leaves the factory line: identity key already in ``slot``."""
    chip = Atecc608Emulator(**kwargs)  # type: ignore[arg-type]
    if slot not in chip._keys:
        chip._keys[slot] = ec.generate_private_key(ec.SECP256R1())
        chip._save()
    return chip
