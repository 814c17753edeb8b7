"""Packet codec of the R30x / R503 / AS608 / ZFM UART fingerprint modules.

Frame: ``EF 01 | address(4) | PID(1) | length(2) | payload | checksum(2)``, all
big-endian; ``length`` counts the payload plus the checksum; the checksum is the
16-bit sum of PID, both length bytes and the payload (overflow discarded).
Reference: Grow R503 manual v1.2 section IV, and the test vectors in
``shared/reference/devices.md`` section 1.1.

The decoder is a pure function over bytes so it can be fuzzed: anything that
is not a well-formed packet raises :class:`~hal.errors.SensorProtocolError`
(or its checksum subclass), never another exception.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from hal.errors import (
    CaptureFailed,
    NoFinger,
    SensorChecksumError,
    SensorError,
    SensorProtocolError,
)

HEADER = b"\xef\x01"
DEFAULT_ADDRESS = 0xFFFFFFFF
MAX_LENGTH = 258
"""Largest length field (payload + checksum): a 256-byte data packet plus its checksum."""
OVERHEAD = 11
"""Bytes of a packet that are not payload: header, address, PID, length, checksum."""


class Pid(IntEnum):
    """Packet identifier."""

    COMMAND = 0x01
    DATA = 0x02
    ACK = 0x07
    END = 0x08


class Instruction(IntEnum):
    """Instruction codes used by this project (datasheet names)."""

    GEN_IMG = 0x01
    IMG2TZ = 0x02
    MATCH = 0x03
    SEARCH = 0x04
    REG_MODEL = 0x05
    STORE = 0x06
    LOAD_CHAR = 0x07
    UP_CHAR = 0x08
    DOWN_CHAR = 0x09
    UP_IMAGE = 0x0A
    DOWN_IMAGE = 0x0B
    DELETE_CHAR = 0x0C
    EMPTY = 0x0D
    SET_SYS_PARA = 0x0E
    READ_SYS_PARA = 0x0F
    SET_PWD = 0x12
    VFY_PWD = 0x13
    GET_RANDOM = 0x14
    SET_ADDR = 0x15
    TEMPLATE_NUM = 0x1D
    READ_INDEX_TABLE = 0x1F
    AURA_LED_CONFIG = 0x35
    SOFT_RESET = 0x3D
    HANDSHAKE = 0x40
    CHECK_SENSOR = 0x36
    GET_ECHO = 0x53


class SysParam(IntEnum):
    """Parameter numbers of SetSysPara."""

    BAUD = 4
    SECURITY_LEVEL = 5
    PACKET_SIZE = 6


PACKET_SIZES = {0: 32, 1: 64, 2: 128, 3: 256}
"""Data-packet-size code (ReadSysPara) to bytes."""

CONFIRMATION_MESSAGES: dict[int, str] = {
    0x00: "OK",
    0x01: "packet receive error: the module got a corrupted packet; resend",
    0x02: "no finger on the sensor",
    0x03: "failed to collect the image: lift the finger and place it again",
    0x06: "image too messy: clean the sensor and the finger",
    0x07: "too few feature points: place more of the finger on the sensor",
    0x08: "fingerprints do not match",
    0x09: "not found in the library",
    0x0A: "failed to combine character files",
    0x0B: "page ID out of range",
    0x0C: "template read error or invalid template",
    0x0D: "template upload error",
    0x0E: "module cannot receive the following packets",
    0x0F: "error uploading the image: retry the capture",
    0x10: "delete failed",
    0x11: "empty-library failed",
    0x13: "wrong password: check the configured module password",
    0x15: "no valid primary image: capture a finger first",
    0x18: "flash write error",
    0x19: "undefined error",
    0x1A: "invalid register number",
    0x1B: "bad register configuration",
    0x1C: "wrong notepad page",
    0x1D: "communication port failure",
    0x20: "address error: check the configured module address",
    0x21: "password must be verified first",
    0x29: "sensor abnormal: the sensor needs service",
    0x55: "module ready",
}


@dataclass(frozen=True)
class Packet:
    """One decoded packet."""

    pid: int
    payload: bytes
    address: int = DEFAULT_ADDRESS

    def encode(self) -> bytes:
        return encode(self.pid, self.payload, self.address)


def checksum(pid: int, payload: bytes) -> int:
    """16-bit sum of the PID, both length bytes and the payload."""
    length = len(payload) + 2
    return (pid + (length >> 8) + (length & 0xFF) + sum(payload)) & 0xFFFF


def encode(pid: int, payload: bytes, address: int = DEFAULT_ADDRESS) -> bytes:
    """Encode one packet."""
    if not 0 <= address <= 0xFFFFFFFF:
        raise ValueError(f"address {address:#x} is not a 32-bit value")
    length = len(payload) + 2
    if length > MAX_LENGTH:
        raise ValueError(f"payload of {len(payload)} bytes exceeds the 256-byte maximum")
    return (
        HEADER
        + struct.pack(">IBH", address, pid, length)
        + payload
        + struct.pack(">H", checksum(pid, payload))
    )


def command(instruction: int, params: bytes = b"", address: int = DEFAULT_ADDRESS) -> bytes:
    """Encode a command packet."""
    return encode(Pid.COMMAND, bytes([instruction]) + params, address)


def decode(frame: bytes) -> Packet:
    """Decode exactly one packet; raise SensorProtocolError on any defect."""
    if len(frame) < OVERHEAD:
        raise SensorProtocolError(f"truncated packet: {len(frame)} bytes, at least 11 expected")
    if frame[:2] != HEADER:
        raise SensorProtocolError(f"bad packet header {frame[:2].hex()}, expected ef01")
    address, pid, length = struct.unpack(">IBH", frame[2:9])
    if pid not in (Pid.COMMAND, Pid.DATA, Pid.ACK, Pid.END):
        raise SensorProtocolError(f"unknown packet identifier 0x{pid:02X}")
    if not 2 <= length <= MAX_LENGTH:
        raise SensorProtocolError(f"length field {length} outside 2..{MAX_LENGTH}")
    if len(frame) != 9 + length:
        raise SensorProtocolError(
            f"packet is {len(frame)} bytes but its length field announces {9 + length}"
        )
    payload = frame[9 : 9 + length - 2]
    (received,) = struct.unpack(">H", frame[9 + length - 2 : 9 + length])
    expected = checksum(pid, payload)
    if received != expected:
        raise SensorChecksumError(f"packet checksum 0x{received:04X} != computed 0x{expected:04X}")
    return Packet(pid=pid, payload=payload, address=address)


def raise_for_confirmation(code: int, operation: str) -> None:
    """Map a non-OK confirmation code to its typed error."""
    if code == 0x00:
        return
    message = CONFIRMATION_MESSAGES.get(code, "unknown confirmation code")
    text = f"{operation}: {message}"
    if code == 0x02:
        raise NoFinger(code, text)
    if code in (0x03, 0x06, 0x07, 0x0F):
        raise CaptureFailed(code, text)
    raise SensorError(code, text)


def unpack_nibbles(data: bytes) -> bytes:
    """Expand 4-bit pixels (two per byte, high nibble first) to 8 bits.

    A nibble ``n`` becomes ``n * 17`` so that 0x0 maps to 0 and 0xF to 255,
    using the full grey range (pyfingerprint does the same).
    """
    packed = np.frombuffer(data, dtype=np.uint8)
    out = np.empty(packed.size * 2, dtype=np.uint8)
    out[0::2] = (packed >> 4) * 17
    out[1::2] = (packed & 0x0F) * 17
    return out.tobytes()


def pack_nibbles(pixels: bytes) -> bytes:
    """Keep the upper 4 bits of each 8-bit pixel, two pixels per byte."""
    if len(pixels) % 2:
        raise ValueError("an even number of pixels is needed")
    return bytes((pixels[i] & 0xF0) | (pixels[i + 1] >> 4) for i in range(0, len(pixels), 2))
