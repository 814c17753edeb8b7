"""ATECC608 command packets and CRC (CryptoAuthentication I2C framing).

Write: ``0x03 | count | opcode | p1 | p2 (LE) | data | crc (LE)`` with
``count = 7 + len(data)``. Response: ``count | data | crc (LE)``; a 4-byte
response carries a status byte. CRC-16 with polynomial 0x8005, initial value 0,
data bits taken LSB first, over everything from ``count`` on.
"""

from __future__ import annotations

import struct
from enum import IntEnum

from hal.errors import ChecksumError, ProtocolError, SecureElementError

WORD_RESET = 0x00
WORD_SLEEP = 0x01
WORD_IDLE = 0x02
WORD_COMMAND = 0x03

WAKE_RESPONSE = bytes.fromhex("04113343")


class Opcode(IntEnum):
    READ = 0x02
    WRITE = 0x12
    NONCE = 0x16
    LOCK = 0x17
    RANDOM = 0x1B
    COUNTER = 0x24
    INFO = 0x30
    GENKEY = 0x40
    SIGN = 0x41
    ECDH = 0x43
    SHA = 0x47


# Typical and maximum execution times in ms (datasheet; Adafruit and Helium drivers).
EXEC_MS: dict[int, tuple[float, float]] = {
    Opcode.READ: (0.5, 1.0),
    Opcode.WRITE: (8.0, 26.0),
    Opcode.NONCE: (7.0, 17.0),
    Opcode.LOCK: (19.5, 32.0),
    Opcode.RANDOM: (1.0, 23.0),
    Opcode.COUNTER: (1.0, 20.0),
    Opcode.INFO: (0.5, 1.0),
    Opcode.GENKEY: (59.0, 115.0),
    Opcode.SIGN: (60.0, 70.0),
    Opcode.ECDH: (38.0, 80.0),
    Opcode.SHA: (1.0, 47.0),
}

STATUS_MESSAGES = {
    0x00: "success",
    0x01: "CheckMac or Verify miscompare",
    0x03: "parse error: the command is malformed",
    0x05: "ECC fault: retry the command",
    0x07: "self-test error: the element needs replacing",
    0x0F: "execution error: the command is not allowed in this state (empty slot? lock?)",
    0x11: "wake token received",
    0xEE: "watchdog about to expire: command arrived too late after wake",
    0xFF: "communication error: the command was garbled (CRC)",
}


class SecureElementProtocolError(SecureElementError, ProtocolError):
    """A response frame from the secure element is malformed."""


class SecureElementCrcError(SecureElementProtocolError, ChecksumError):
    """A response frame from the secure element fails its CRC."""


def crc16(data: bytes) -> bytes:
    """CRC of a CryptoAuthentication frame, little-endian."""
    crc = 0
    for byte in data:
        for shift in range(8):
            data_bit = (byte >> shift) & 1
            crc_bit = (crc >> 15) & 1
            crc = (crc << 1) & 0xFFFF
            if data_bit != crc_bit:
                crc ^= 0x8005
    return struct.pack("<H", crc)


def command_packet(opcode: int, p1: int, p2: int, data: bytes = b"") -> bytes:
    """The bytes written for one command, word address 0x03 included."""
    body = bytes([7 + len(data), opcode, p1]) + struct.pack("<H", p2) + data
    return bytes([WORD_COMMAND]) + body + crc16(body)


def parse_response(frame: bytes) -> bytes:
    """Check count and CRC of a response; return its data (status byte included)."""
    if len(frame) < 4:
        raise SecureElementProtocolError(f"response of {len(frame)} bytes is too short")
    count = frame[0]
    if count < 4 or count > len(frame):
        raise SecureElementProtocolError(
            f"response count {count} does not fit the {len(frame)} bytes received"
        )
    body, crc = frame[: count - 2], frame[count - 2 : count]
    if crc16(body) != crc:
        raise SecureElementCrcError("response CRC mismatch: the I2C line is noisy")
    return body[1:]
