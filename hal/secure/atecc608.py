"""Driver for the Microchip ATECC608 secure element over I2C (address 0x60).

A small Python driver rather than cryptoauthlib, because cryptoauthlib opens
``/dev/i2c-N`` itself and cannot be pointed at an emulator; this one speaks
through an injected :class:`~hal.i2c.I2CTransport` (``i2c_rdwr``) as the Helium
gateway's Rust driver does. Every command runs in its own wake window: wake,
command, poll for the response while the chip NACKs (it is busy), sleep. Nonce
and Sign share one window because TempKey is lost when the chip sleeps.
"""

from __future__ import annotations

import contextlib
import time

from hal.errors import BusError, SecureElementError, SecureElementStatus
from hal.i2c import I2CTransport
from hal.secure import atca
from hal.secure.atca import Opcode
from hal.secure.protocol import SecureElementInfo

ADDRESS = 0x60
T_WHI_S = 0.0015
"""Time from wake pulse to the chip being ready (datasheet tWHI)."""


class Atecc608:
    def __init__(self, transport: I2CTransport, address: int = ADDRESS, retries: int = 2) -> None:
        self._t = transport
        self._addr = address
        self._retries = retries

    # -- SecureElement -------------------------------------------------------------------

    def info(self) -> SecureElementInfo:
        with self._session():
            revision = self._execute(Opcode.INFO, 0x00, 0x0000)
            config = self._execute(Opcode.READ, 0x80, 0x0000)  # config zone block 0, 32 bytes
            lock = self._execute(Opcode.READ, 0x00, (2 << 3) | 5)  # config bytes 84..87
        if len(revision) != 4 or len(config) != 32 or len(lock) != 4:
            raise SecureElementError("unexpected response lengths for Info/Read")
        model = {0x60: "ATECC608", 0x50: "ATECC508"}.get(revision[2], f"ATECC(0x{revision[2]:02X})")
        serial = config[0:4] + config[8:13]
        return SecureElementInfo(
            model=model,
            revision=revision.hex(),
            serial=serial.hex().upper(),
            locked=lock[2] == 0x00 and lock[3] == 0x00,
        )

    def random(self) -> bytes:
        with self._session():
            return self._execute(Opcode.RANDOM, 0x00, 0x0000)

    def generate_key(self, slot: int) -> bytes:
        self._check_slot(slot)
        with self._session():
            return self._expect(self._execute(Opcode.GENKEY, 0x04, slot), 64, "GenKey")

    def public_key(self, slot: int) -> bytes:
        self._check_slot(slot)
        with self._session():
            return self._expect(self._execute(Opcode.GENKEY, 0x00, slot), 64, "GenKey(public)")

    def sign_digest(self, slot: int, digest: bytes) -> bytes:
        self._check_slot(slot)
        if len(digest) != 32:
            raise ValueError("the secure element signs 32-byte SHA-256 digests")
        with self._session():
            self._execute(Opcode.NONCE, 0x03, 0x0000, digest)  # pass-through into TempKey
            return self._expect(self._execute(Opcode.SIGN, 0x80, slot), 64, "Sign")

    def ecdh(self, slot: int, peer_public: bytes) -> bytes:
        self._check_slot(slot)
        if len(peer_public) != 64:
            raise ValueError("the peer public key is 64 bytes X || Y")
        with self._session():
            # Mode 0x0C: private key from the slot, shared secret returned in clear.
            return self._expect(self._execute(Opcode.ECDH, 0x0C, slot, peer_public), 32, "ECDH")

    def counter(self, counter_id: int) -> int:
        return self._counter(0x00, counter_id)

    def increment_counter(self, counter_id: int) -> int:
        return self._counter(0x01, counter_id)

    # -- transport ---------------------------------------------------------------------

    def _counter(self, mode: int, counter_id: int) -> int:
        if counter_id not in (0, 1):
            raise ValueError("the ATECC608 has counters 0 and 1")
        with self._session():
            data = self._expect(self._execute(Opcode.COUNTER, mode, counter_id), 4, "Counter")
        return int.from_bytes(data, "little")

    def _session(self) -> _WakeSession:
        return _WakeSession(self)

    def wake(self) -> None:
        last: Exception | None = None
        for _ in range(self._retries + 1):
            with contextlib.suppress(BusError):  # the wake pulse: nobody acknowledges it
                self._t.write(0x00, b"\x00")
            time.sleep(T_WHI_S)
            try:
                response = self._t.read(self._addr, 4)
            except BusError as exc:
                last = exc
                continue
            if response == atca.WAKE_RESPONSE:
                return
            last = SecureElementError(f"unexpected wake response {response.hex()}")
        raise SecureElementError(
            f"the secure element at 0x{self._addr:02X} does not wake ({last}): "
            "check the I2C wiring; without the chip, configure the software key store"
        )

    def sleep(self) -> None:
        # A chip whose watchdog already put it to sleep does not acknowledge.
        with contextlib.suppress(BusError):
            self._t.write(self._addr, bytes([atca.WORD_SLEEP]))

    def _execute(self, opcode: int, p1: int, p2: int, data: bytes = b"") -> bytes:
        packet = atca.command_packet(opcode, p1, p2, data)
        typical_ms, max_ms = atca.EXEC_MS.get(opcode, (1.0, 100.0))
        for attempt in range(self._retries + 1):
            self._t.write(self._addr, packet)
            time.sleep(typical_ms / 1000.0)
            frame = self._poll_response((max_ms - typical_ms) / 1000.0 + 0.05)
            try:
                body = atca.parse_response(frame)
            except atca.SecureElementCrcError:
                if attempt == self._retries:
                    raise
                continue
            if len(body) == 1 and body[0] != 0x00:
                status = body[0]
                if status == 0xFF and attempt < self._retries:
                    continue  # the chip saw a garbled command: send it again
                raise SecureElementStatus(
                    status, atca.STATUS_MESSAGES.get(status, "unknown status")
                )
            return body
        raise SecureElementError("unreachable: retries exhausted")

    def _poll_response(self, budget_s: float) -> bytes:
        deadline = time.monotonic() + budget_s
        while True:
            try:
                count = self._t.read(self._addr, 1)[0]
                break
            except BusError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.001)
        if count < 4 or count > 155:
            raise atca.SecureElementProtocolError(f"response count {count} is out of range")
        rest = self._t.read(self._addr, count - 1)
        return bytes([count]) + rest

    @staticmethod
    def _check_slot(slot: int) -> None:
        if not 0 <= slot <= 15:
            raise ValueError("ATECC608 key slots are 0..15")

    @staticmethod
    def _expect(data: bytes, size: int, what: str) -> bytes:
        if len(data) != size:
            raise atca.SecureElementProtocolError(f"{what} returned {len(data)} bytes, not {size}")
        return data


class _WakeSession:
    def __init__(self, chip: Atecc608) -> None:
        self._chip = chip

    def __enter__(self) -> None:
        self._chip.wake()

    def __exit__(self, *_exc: object) -> None:
        self._chip.sleep()
