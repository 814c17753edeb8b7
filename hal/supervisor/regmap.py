"""The supervisor's I2C register map and framing: one file, read by both sides.

The main board's driver imports this module; the supervisor's MicroPython
firmware is built with this same file beside it (``supervisor/build.py`` copies
it as ``regmap.py``), so the map is never kept twice. It is written in the
subset of Python that MicroPython runs: no ``__future__`` import, no typing
module, plain integers, tuples and dicts.

Framing (every transaction is checked; the SMBus PEC polynomial):

* the host writes a command ``[register, length, payload..., crc]``, where
  ``register`` has bit 7 set to write (as on Beepy's RP2040) and clear to read,
  ``length`` is the payload's length (0 for a read), and ``crc`` is CRC-8
  (polynomial 0x07) over the address byte ``addr << 1`` and every byte before it;
* then it reads the response ``[result, payload..., crc]``: ``result`` 0 when
  the command was applied, else one of :data:`RESULTS`; the payload is the
  register's value for a read, empty for a write; ``crc`` covers
  ``addr << 1 | 1``, the register number and every response byte before it.

A command with a bad CRC is not applied and is answered ``crc``; the host
tells a corrupted response by its own CRC. Multi-byte values are little-endian.
"""

PROTOCOL_MAJOR = 1
PROTOCOL_MINOR = 0
ADDRESS = 0x1A
WRITE = 0x80

# name: (number, length, access). access: "r" read only, "w" write only, "rw" both.
REGISTERS = {
    "version": (0x00, 6, "r"),  # protocol major, minor; firmware major, minor, patch; board
    "status": (0x01, 2, "r"),  # STATUS_* bits
    "events": (0x02, 2, "rw"),  # EVENT_* bits pending; write bits to clear them
    "heartbeat": (0x03, 1, "w"),  # any value: the host is alive
    "heartbeat_timeout": (0x04, 2, "rw"),  # seconds without a heartbeat, 0 = watchdog off
    "shutdown_grace": (0x05, 2, "rw"),  # seconds between a shutdown request and the power cut
    "wake_reason": (0x06, 1, "r"),  # WAKE_* of the last power-on of the main board
    "tamper": (0x07, 6, "r"),  # latched (u8), times opened (u8), unix time of the last (u32)
    "tamper_clear": (0x08, 4, "w"),  # TAMPER_CLEAR_CODE: an administrator clears the latch
    "battery": (0x09, 4, "r"),  # millivolts (u16), percent (u8), CHARGER_* (u8)
    "power": (0x0A, 1, "w"),  # POWER_*
    "alert": (0x0B, 2, "w"),  # ALERT_* pattern, repeats (0 = until ALERT_OFF)
    "rtc": (0x0C, 4, "rw"),  # unix seconds
    "low_battery": (0x0D, 4, "rw"),  # cut-off mV (u16), restore mV (u16): hysteresis
    "update_begin": (0x10, 8, "w"),  # size (u32), CRC-32 of the image (u32)
    "update_data": (0x11, 37, "w"),  # offset (u32), length (u8), 32 bytes (zero-padded)
    "update_commit": (0x12, 4, "w"),  # CRC-32 again: verify, install, restart
    "update_status": (0x13, 10, "r"),  # UPDATE_* (u8), received (u32), error (u8), CRC-32 (u32)
}
NAMES = {number: name for name, (number, _length, _access) in REGISTERS.items()}

RESULT_OK = 0
RESULTS = {
    1: "crc",  # the command's CRC is wrong
    2: "length",  # the length is not the register's
    3: "register",  # no such register
    4: "access",  # read of a write-only register, or write of a read-only one
    5: "value",  # a value out of range
    6: "code",  # a wrong clear code
    7: "order",  # update data not at the next offset, or no update begun
    8: "image",  # the update image's CRC-32 does not match
}

STATUS_HOST_ALIVE = 0x0001  # heartbeats arrive
STATUS_SHUTDOWN_REQUESTED = 0x0002  # the host must shut down: the power goes after the grace
STATUS_ON_BATTERY = 0x0004
STATUS_CHARGING = 0x0008
STATUS_LOW_BATTERY = 0x0010
STATUS_TAMPER_LATCHED = 0x0020  # the case was opened: secrets stay sealed until cleared
STATUS_UPDATE_READY = 0x0040  # a verified image waits for the restart

EVENT_BUTTON_SHORT = 0x0001
EVENT_BUTTON_LONG = 0x0002  # the officer holds the button: shut down cleanly
EVENT_TAMPER = 0x0004  # the case was opened while the host runs: wipe the keys now
EVENT_LOW_BATTERY = 0x0008
EVENT_HEARTBEAT_MISSED = 0x0010
EVENT_CHARGER = 0x0020  # the charger was plugged in or out

WAKE_COLD = 0  # the supervisor itself started (battery inserted)
WAKE_BUTTON = 1
WAKE_WATCHDOG = 2  # the host stopped its heartbeat and was power-cycled
WAKE_CHARGER = 3
WAKE_RTC = 4
WAKE_BATTERY_RESTORED = 5  # after a low-battery cut-off, the battery came back
WAKE_HOST_REQUEST = 6  # the host asked for a restart
WAKE_REASONS = {
    WAKE_COLD: "cold start",
    WAKE_BUTTON: "power button",
    WAKE_WATCHDOG: "watchdog: the main board stopped its heartbeat",
    WAKE_CHARGER: "charger connected",
    WAKE_RTC: "alarm",
    WAKE_BATTERY_RESTORED: "battery restored after a low-battery cut-off",
    WAKE_HOST_REQUEST: "restart asked by the main board",
}

CHARGER_NONE = 0
CHARGER_CHARGING = 1
CHARGER_FULL = 2

POWER_SHUTDOWN = 1  # the host is shutting down: cut the power after the grace period
POWER_RESTART = 2  # the host is shutting down: cut, then power on again

ALERT_OFF = 0
ALERT_OK = 1
ALERT_WARN = 2
ALERT_ERROR = 3
ALERT_HIT = 4
ALERT_CAPTURE = 5
# pattern: steps of (milliseconds, red, green, buzzer, vibration), played in a loop
PATTERNS = {
    ALERT_OFF: ((1, 0, 0, 0, 0),),
    ALERT_OK: ((300, 0, 1, 0, 0), (300, 0, 0, 0, 0)),
    ALERT_WARN: ((500, 1, 1, 0, 0), (500, 0, 0, 0, 0)),
    ALERT_ERROR: ((150, 1, 0, 1, 0), (150, 0, 0, 0, 0)),
    ALERT_HIT: (
        (400, 1, 0, 1, 1),
        (150, 0, 0, 0, 0),
        (400, 1, 0, 1, 1),
        (150, 0, 0, 0, 0),
        (800, 1, 0, 1, 1),
        (600, 0, 0, 0, 0),
    ),
    ALERT_CAPTURE: ((80, 0, 1, 1, 0), (1, 0, 0, 0, 0)),
}
ALERT_NAMES = {
    ALERT_OFF: "off",
    ALERT_OK: "ok",
    ALERT_WARN: "warn",
    ALERT_ERROR: "error",
    ALERT_HIT: "hit",
    ALERT_CAPTURE: "capture",
}

TAMPER_CLEAR_CODE = 0xC1EA7A3D
UPDATE_CHUNK = 32
UPDATE_IDLE = 0
UPDATE_RECEIVING = 1
UPDATE_READY = 2  # verified; installed at the restart
UPDATE_FAILED = 3


def crc8(data: bytes, crc: int = 0) -> int:
    """CRC-8, polynomial 0x07, initial 0 (the SMBus packet error code)."""
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def command(address: int, register: int, payload: bytes = b"") -> bytes:
    """A command frame as the host sends it."""
    body = bytes((register, len(payload))) + bytes(payload)
    return body + bytes((crc8(bytes((address << 1,)) + body),))


def response(address: int, register: int, result: int, payload: bytes = b"") -> bytes:
    """A response frame as the supervisor answers it."""
    body = bytes((result,)) + bytes(payload)
    return body + bytes((crc8(bytes(((address << 1) | 1, register & 0x7F)) + body),))
