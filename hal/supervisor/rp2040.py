"""The supervisor microcontroller's driver (RP2040 with the ``supervisor/`` firmware), over I2C.

Every transaction is a command frame, written, and a response frame, read
(:mod:`hal.supervisor.regmap`), each with a CRC-8: a corrupted response is a
:class:`SupervisorCrcError`, a refused command a :class:`SupervisorRefused`
naming the reason, another protocol major version a
:class:`SupervisorVersionError` at :meth:`open`. A response that fails its
CRC is read again once (the command is not repeated, so a write is never
applied twice).
"""

from __future__ import annotations

import time
import zlib

from hal.errors import (
    BusError,
    SupervisorCrcError,
    SupervisorError,
    SupervisorRefused,
    SupervisorVersionError,
)
from hal.i2c import I2CTransport
from hal.supervisor import regmap as rm
from hal.supervisor.protocol import (
    ALERTS,
    EVENTS,
    SupervisorBattery,
    SupervisorInfo,
    SupervisorStatus,
    TamperState,
    UpdateProgress,
)

_EVENT_BITS = {
    "button_short": rm.EVENT_BUTTON_SHORT,
    "button_long": rm.EVENT_BUTTON_LONG,
    "tamper": rm.EVENT_TAMPER,
    "low_battery": rm.EVENT_LOW_BATTERY,
    "heartbeat_missed": rm.EVENT_HEARTBEAT_MISSED,
    "charger": rm.EVENT_CHARGER,
}
_CHARGER = {rm.CHARGER_NONE: "none", rm.CHARGER_CHARGING: "charging", rm.CHARGER_FULL: "full"}
_ALERT_CODES = {name: code for code, name in rm.ALERT_NAMES.items()}
_POWER = {"shutdown": rm.POWER_SHUTDOWN, "restart": rm.POWER_RESTART}
_SAY = {
    "crc": "the supervisor received a damaged command (noise on the I2C bus?)",
    "length": "the supervisor expected another length for this register",
    "register": "the supervisor does not know this register (an older firmware?)",
    "access": "the register cannot be used that way",
    "value": "the supervisor refused the value",
    "code": "the clear code is wrong",
    "order": "the update is out of order: read its status and resume",
    "image": "the firmware image does not match its CRC-32",
}
assert set(_EVENT_BITS) == set(EVENTS) and set(_ALERT_CODES) == set(ALERTS)


class Rp2040Supervisor:
    def __init__(self, transport: I2CTransport, address: int = rm.ADDRESS) -> None:
        self._t = transport
        self._address = address

    # -- frames -----------------------------------------------------------------------------

    def _call(self, name: str, payload: bytes | None = None) -> bytes:
        number, length, _access = rm.REGISTERS[name]
        writing = payload is not None
        register = number | rm.WRITE if writing else number
        self._t.write(self._address, rm.command(self._address, register, payload or b""))
        size = 2 + (0 if writing else length)
        for attempt in range(2):
            reply = self._t.read(self._address, size)
            expected = rm.crc8(bytes(((self._address << 1) | 1, number)) + reply[:-1])
            if reply[-1] == expected:
                break
            if attempt:
                raise SupervisorCrcError(
                    f"supervisor response for {name} fails its CRC: check the I2C wiring "
                    "and pull-ups"
                )
        result = reply[0]
        if result != rm.RESULT_OK:
            reason = rm.RESULTS.get(result, f"result {result}")
            raise SupervisorRefused(
                reason, f"supervisor refused {name}: {_SAY.get(reason, reason)}"
            )
        return reply[1:-1]

    def _u16(self, name: str) -> int:
        return int.from_bytes(self._call(name), "little")

    # -- the protocol ---------------------------------------------------------------------

    def open(self) -> SupervisorInfo:
        data = self._call("version")
        if data[0] != rm.PROTOCOL_MAJOR:
            raise SupervisorVersionError(
                f"the supervisor speaks protocol {data[0]}.{data[1]}, this firmware "
                f"{rm.PROTOCOL_MAJOR}.{rm.PROTOCOL_MINOR}: update the supervisor's firmware "
                "(hotspot device supervisor-update)"
            )
        return SupervisorInfo((data[0], data[1]), f"{data[2]}.{data[3]}.{data[4]}", data[5])

    def status(self) -> SupervisorStatus:
        bits = self._u16("status")
        return SupervisorStatus(
            host_alive=bool(bits & rm.STATUS_HOST_ALIVE),
            shutdown_requested=bool(bits & rm.STATUS_SHUTDOWN_REQUESTED),
            on_battery=bool(bits & rm.STATUS_ON_BATTERY),
            charging=bool(bits & rm.STATUS_CHARGING),
            low_battery=bool(bits & rm.STATUS_LOW_BATTERY),
            tamper_latched=bool(bits & rm.STATUS_TAMPER_LATCHED),
            update_ready=bool(bits & rm.STATUS_UPDATE_READY),
        )

    def events(self, clear: bool = True) -> frozenset[str]:
        bits = self._u16("events")
        if clear and bits:
            self._call("events", bits.to_bytes(2, "little"))
        return frozenset(name for name, bit in _EVENT_BITS.items() if bits & bit)

    def heartbeat(self) -> None:
        self._call("heartbeat", b"\x01")

    def configure(self, heartbeat_timeout_s: int, shutdown_grace_s: int) -> None:
        self._call("heartbeat_timeout", heartbeat_timeout_s.to_bytes(2, "little"))
        self._call("shutdown_grace", shutdown_grace_s.to_bytes(2, "little"))

    def wake_reason(self) -> str:
        code = self._call("wake_reason")[0]
        return rm.WAKE_REASONS.get(code, f"unknown ({code})")

    def tamper(self) -> TamperState:
        data = self._call("tamper")
        return TamperState(bool(data[0]), data[1], int.from_bytes(data[2:6], "little"))

    def clear_tamper(self) -> None:
        self._call("tamper_clear", rm.TAMPER_CLEAR_CODE.to_bytes(4, "little"))

    def battery(self) -> SupervisorBattery:
        data = self._call("battery")
        return SupervisorBattery(
            int.from_bytes(data[0:2], "little"), data[2], _CHARGER.get(data[3], "unknown")
        )

    def power(self, action: str) -> None:
        if action not in _POWER:
            raise ValueError(f"power action {action!r}; use one of {sorted(_POWER)}")
        self._call("power", bytes((_POWER[action],)))

    def alert(self, pattern: str, repeats: int = 1) -> None:
        if pattern not in _ALERT_CODES or not 0 <= repeats <= 255:
            raise ValueError(f"alert {pattern!r} x{repeats}: use one of {ALERTS}, 0-255 times")
        self._call("alert", bytes((_ALERT_CODES[pattern], repeats)))

    def set_clock(self, unix_s: int | None = None) -> None:
        now = int(time.time()) if unix_s is None else unix_s
        self._call("rtc", now.to_bytes(4, "little"))

    def update(self, image: bytes, progress: UpdateProgress | None = None) -> str:
        """Send ``image``; resumes where an interrupted transfer of the same image stopped."""
        crc = zlib.crc32(image) & 0xFFFFFFFF
        state = self._call("update_status")
        received = int.from_bytes(state[1:5], "little")
        pending = int.from_bytes(state[6:10], "little")
        if not (state[0] == rm.UPDATE_RECEIVING and pending == crc and received <= len(image)):
            self._call("update_begin", len(image).to_bytes(4, "little") + crc.to_bytes(4, "little"))
            received = 0
        for offset in range(received, len(image), rm.UPDATE_CHUNK):
            chunk = image[offset : offset + rm.UPDATE_CHUNK]
            frame = offset.to_bytes(4, "little") + bytes((len(chunk),))
            self._call("update_data", frame + chunk.ljust(rm.UPDATE_CHUNK, b"\x00"))
            if progress is not None:
                progress(offset + len(chunk), len(image))
        self._call("update_commit", crc.to_bytes(4, "little"))
        return self._after_restart()

    def _after_restart(self, timeout_s: float = 15.0) -> str:
        """The firmware version once the supervisor answers again after installing."""
        deadline = time.monotonic() + timeout_s
        time.sleep(0.3)
        while True:
            try:
                info = self.open()
                if not self.status().update_ready:
                    return info.firmware
            except (BusError, SupervisorError):
                pass  # restarting
            if time.monotonic() > deadline:
                raise SupervisorError(
                    "the supervisor did not come back after installing the update: power-cycle "
                    "the device; the old firmware stays if the new one was not installed"
                )
            time.sleep(0.1)
