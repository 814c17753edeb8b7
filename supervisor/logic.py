"""The supervisor's behaviour, free of hardware: the same code runs on the RP2040 and on the host.

Everything that must keep working when Linux hangs or the battery is nearly
empty lives here, as a state machine driven by :meth:`Supervisor.tick` (every
few milliseconds) and by the I2C transactions of the main board
(:meth:`Supervisor.on_write`, :meth:`Supervisor.on_read`):

* the **heartbeat watchdog** — once the main board has sent its first
  heartbeat, a silence of ``heartbeat_timeout`` seconds asks it to shut down
  (status bit, event), cuts its power after ``shutdown_grace`` seconds, powers
  it on again and records why (``wake_reason``); a board that never sends a
  first heartbeat is treated the same after ``BOOT_TIMEOUT_S``;
* the **power button** — debounced; a short press is an event, a long press
  asks for a clean shutdown; with the main board off, a press powers it on;
* the **tamper switch** — opening the case latches (with a count and the time,
  kept in flash), raises an event while the main board runs so that it wipes
  its keys, and stays latched across power until an administrator clears it
  with the clear code: until then the main board refuses to unseal;
* the **battery** — below the cut-off voltage for a few samples it asks for a
  shutdown and cuts the power; it powers on again only above the restore
  voltage (hysteresis) or when the charger is connected;
* the **alerts** — LED, buzzer and vibration patterns (a HIT is unmistakable in
  a noisy place);
* the **firmware update path** — the image arrives in 32-byte chunks at
  consecutive offsets into a staging area, is checked against its CRC-32 and
  installed only then, so an update cut halfway leaves the old firmware
  running and can be resumed from the offset the status reports.

The hardware sits behind a board object (``board.py`` on the RP2040, a fake
on the host) with the methods listed in :class:`Board`. Nothing here imports
``machine``; the code keeps to what MicroPython runs.
"""

try:
    from hal.supervisor import regmap as rm  # on the host: the tests, the emulator
except ImportError:
    import regmap as rm  # type: ignore[no-redef, import-not-found]  # on the board, beside us

TYPING = False
if TYPING:
    from typing import Protocol

    class Board(Protocol):
        def button_pressed(self) -> bool: ...
        def tamper_open(self) -> bool: ...
        def battery_mv(self) -> int: ...
        def charger(self) -> int: ...
        def set_host_power(self, on: bool) -> None: ...
        def set_outputs(self, red: int, green: int, buzzer: int, vibration: int) -> None: ...
        def rtc_seconds(self) -> int: ...
        def set_rtc_seconds(self, seconds: int) -> None: ...
        def load_state(self) -> bytes: ...
        def save_state(self, data: bytes) -> None: ...
        def update_open(self, size: int) -> None: ...
        def update_write(self, offset: int, data: bytes) -> None: ...
        def update_crc32(self) -> int: ...
        def update_install(self) -> None: ...


FIRMWARE_VERSION = (1, 0, 0)
BOARD_REVISION = 1
DEBOUNCE_MS = 40
LONG_PRESS_MS = 3000
BOOT_TIMEOUT_S = 240
INSTALL_DELAY_MS = 200
"""A verified update is installed this long after the commit: the host reads the answer first."""
OFF_BEFORE_RESTART_MS = 5000
BATTERY_SAMPLES = 5
BATTERY_EVERY_MS = 1000
FULL_MV, EMPTY_MV = 4150, 3350

HOST_ON = 0
HOST_SHUTTING_DOWN = 1  # asked to shut down; the power goes when the grace period ends
HOST_OFF = 2


def _u16(value: int) -> bytes:
    return bytes((value & 0xFF, (value >> 8) & 0xFF))


def _u32(value: int) -> bytes:
    return bytes((value & 0xFF, (value >> 8) & 0xFF, (value >> 16) & 0xFF, (value >> 24) & 0xFF))


def _get16(data: bytes, at: int) -> int:
    return data[at] | (data[at + 1] << 8)


def _get32(data: bytes, at: int) -> int:
    return data[at] | (data[at + 1] << 8) | (data[at + 2] << 16) | (data[at + 3] << 24)


class Supervisor:
    def __init__(self, board: "Board", now_ms: int, address: int = rm.ADDRESS) -> None:
        self.board = board
        self.address = address
        self.heartbeat_timeout_s = 60
        self.shutdown_grace_s = 30
        self.cutoff_mv, self.restore_mv = 3400, 3700
        self.events = 0
        self.wake_reason = rm.WAKE_COLD
        self.host = HOST_ON
        self.host_since = now_ms
        self._restart_as = -1
        """The wake reason to power on with after a cut, or -1 to stay off until asked."""
        self.first_heartbeat = False
        self.firmware_version = FIRMWARE_VERSION
        self.last_heartbeat = now_ms
        self.low_battery = False
        self.battery_mv = 0
        self.charger = rm.CHARGER_NONE
        self._low_samples = 0
        self._battery_at = -BATTERY_EVERY_MS
        self._button_raw = False
        self._button_since = now_ms
        self._button_down = False
        self._long_sent = False
        self._tamper_seen = False
        self._alert = rm.ALERT_OFF
        self._alert_repeats = 0
        self._alert_step = 0
        self._alert_until = now_ms
        self._selected = -1
        self._reply = b""
        self.update_state = rm.UPDATE_IDLE
        self.update_size = 0
        self.update_crc = 0
        self.update_received = 0
        self.update_error = 0
        self._install_at = 0
        self._now = now_ms
        self.tamper_latched, self.tamper_count, self.tamper_time = 0, 0, 0
        self._load()
        board.set_host_power(True)
        self._sample_battery(now_ms)

    # -- persistent state (survives the supervisor's own restart) -------------------------

    def _load(self) -> None:
        data = self.board.load_state()
        if len(data) == 7 and rm.crc8(data[:6]) == data[6]:
            self.tamper_latched, self.tamper_count = data[0], data[1]
            self.tamper_time = _get32(data, 2)
        elif data:
            # A damaged record must not forget a tamper: fail closed, an administrator clears.
            self.tamper_latched, self.tamper_count = 1, 255

    def _save(self) -> None:
        body = bytes((self.tamper_latched, self.tamper_count)) + _u32(self.tamper_time)
        self.board.save_state(body + bytes((rm.crc8(body),)))

    # -- the clock --------------------------------------------------------------------------

    def tick(self, now_ms: int) -> None:
        self._now = now_ms
        if self.update_state == rm.UPDATE_READY and now_ms >= self._install_at:
            self.update_state = rm.UPDATE_IDLE
            self.board.update_install()  # on the RP2040 this restarts into the new firmware
        self._button(now_ms)
        self._tamper(now_ms)
        if now_ms - self._battery_at >= BATTERY_EVERY_MS:
            self._sample_battery(now_ms)
        self._watchdog(now_ms)
        self._power(now_ms)
        self._play(now_ms)

    def _button(self, now_ms: int) -> None:
        raw = self.board.button_pressed()
        if raw != self._button_raw:  # an edge: wait for it to settle
            self._button_raw, self._button_since = raw, now_ms
            return
        if now_ms - self._button_since < DEBOUNCE_MS:
            return
        if raw != self._button_down:  # a debounced press or release
            self._button_down = raw
            if raw:
                self._long_sent = False
                if self.host == HOST_OFF and not self.low_battery:
                    self._long_sent = True  # this press was the power-on, nothing more
                    self._power_on(now_ms, rm.WAKE_BUTTON)
            elif not self._long_sent and self.host == HOST_ON:
                self.events |= rm.EVENT_BUTTON_SHORT
            return
        held = now_ms - self._button_since
        if raw and not self._long_sent and held >= LONG_PRESS_MS and self.host == HOST_ON:
            self._long_sent = True
            self.events |= rm.EVENT_BUTTON_LONG
            self._ask_shutdown(now_ms)

    def _tamper(self, now_ms: int) -> None:
        opened = self.board.tamper_open()
        if opened and not self._tamper_seen:
            self.tamper_latched = 1
            self.tamper_count = min(255, self.tamper_count + 1)
            self.tamper_time = self.board.rtc_seconds()
            self._save()
            if self.host != HOST_OFF:
                self.events |= rm.EVENT_TAMPER
        self._tamper_seen = opened

    def _sample_battery(self, now_ms: int) -> None:
        self._battery_at = now_ms
        self.battery_mv = self.board.battery_mv()
        charger = self.board.charger()
        if charger != self.charger:
            self.events |= rm.EVENT_CHARGER
            self.charger = charger
        if self.battery_mv < self.cutoff_mv and charger == rm.CHARGER_NONE:
            self._low_samples += 1
        else:
            self._low_samples = 0
        if self._low_samples >= BATTERY_SAMPLES and not self.low_battery:
            self.low_battery = True
            self.events |= rm.EVENT_LOW_BATTERY
            if self.host == HOST_ON:
                self._ask_shutdown(now_ms)
        restored = self.battery_mv >= self.restore_mv or charger != rm.CHARGER_NONE
        if self.low_battery and restored:
            self.low_battery = False
            if self.host == HOST_OFF:
                reason = rm.WAKE_CHARGER if charger != rm.CHARGER_NONE else rm.WAKE_BATTERY_RESTORED
                self._power_on(now_ms, reason)

    def _watchdog(self, now_ms: int) -> None:
        if self.host != HOST_ON or not self.heartbeat_timeout_s:
            return
        if self.first_heartbeat:
            silent = now_ms - self.last_heartbeat > self.heartbeat_timeout_s * 1000
        else:
            silent = now_ms - self.host_since > BOOT_TIMEOUT_S * 1000
        if silent:
            self.events |= rm.EVENT_HEARTBEAT_MISSED
            self._restart_as = rm.WAKE_WATCHDOG
            self._ask_shutdown(now_ms)

    def _power(self, now_ms: int) -> None:
        if self.host == HOST_SHUTTING_DOWN:
            if now_ms - self.host_since >= self.shutdown_grace_s * 1000:
                self.host, self.host_since = HOST_OFF, now_ms
                self.board.set_host_power(False)
        elif (
            self.host == HOST_OFF
            and self._restart_as >= 0
            and not self.low_battery
            and now_ms - self.host_since >= OFF_BEFORE_RESTART_MS
        ):
            self._power_on(now_ms, self._restart_as)

    def _ask_shutdown(self, now_ms: int) -> None:
        if self.host == HOST_ON:
            self.host, self.host_since = HOST_SHUTTING_DOWN, now_ms

    def _power_on(self, now_ms: int, reason: int) -> None:
        self.host, self.host_since = HOST_ON, now_ms
        self.wake_reason = reason
        self._restart_as = -1
        self.first_heartbeat = False
        self.events &= ~(rm.EVENT_HEARTBEAT_MISSED | rm.EVENT_BUTTON_LONG)
        self.board.set_host_power(True)

    # -- alerts ----------------------------------------------------------------------------

    def alert(self, pattern: int, repeats: int, now_ms: int) -> None:
        self._alert, self._alert_repeats = pattern, repeats
        self._alert_step, self._alert_until = 0, now_ms
        self._play(now_ms)

    def _play(self, now_ms: int) -> None:
        if now_ms < self._alert_until:
            return
        steps = rm.PATTERNS[self._alert]
        if self._alert_step >= len(steps):
            self._alert_step = 0
            if self._alert_repeats:
                self._alert_repeats -= 1
                if not self._alert_repeats:
                    self._alert = rm.ALERT_OFF
                    steps = rm.PATTERNS[rm.ALERT_OFF]
        duration, red, green, buzzer, vibration = steps[self._alert_step]
        self.board.set_outputs(red, green, buzzer, vibration)
        self._alert_step += 1
        self._alert_until = now_ms + duration

    # -- status -----------------------------------------------------------------------------

    def status(self, now_ms: int) -> int:
        bits = 0
        beating = now_ms - self.last_heartbeat <= self.heartbeat_timeout_s * 1000
        if self.host == HOST_ON and self.first_heartbeat and beating:
            bits |= rm.STATUS_HOST_ALIVE
        if self.host == HOST_SHUTTING_DOWN:
            bits |= rm.STATUS_SHUTDOWN_REQUESTED
        if self.charger == rm.CHARGER_NONE:
            bits |= rm.STATUS_ON_BATTERY
        if self.charger == rm.CHARGER_CHARGING:
            bits |= rm.STATUS_CHARGING
        if self.low_battery:
            bits |= rm.STATUS_LOW_BATTERY
        if self.tamper_latched:
            bits |= rm.STATUS_TAMPER_LATCHED
        if self.update_state == rm.UPDATE_READY:
            bits |= rm.STATUS_UPDATE_READY
        return bits

    def battery_percent(self) -> int:
        span = FULL_MV - EMPTY_MV
        return max(0, min(100, (self.battery_mv - EMPTY_MV) * 100 // span))

    # -- the I2C target ---------------------------------------------------------------------

    def on_write(self, data: bytes, now_ms: int) -> None:
        """A command from the main board; its answer is read next (:meth:`on_read`)."""
        self._now = now_ms
        if len(data) < 3:
            self.answer(data[0] if data else 0, 2)
            return
        register, length = data[0], data[1]
        if len(data) != length + 3 or rm.crc8(bytes((self.address << 1,)) + data[:-1]) != data[-1]:
            self.answer(register, 1 if len(data) == length + 3 else 2)
            return
        name = rm.NAMES.get(register & 0x7F)
        if name is None:
            self.answer(register, 3)
            return
        _number, size, access = rm.REGISTERS[name]
        writing = bool(register & rm.WRITE)
        if ("w" if writing else "r") not in access:
            self.answer(register, 4)
            return
        if writing:
            if length != size:
                self.answer(register, 2)
                return
            self.answer(register, self._write(name, bytes(data[2:-1]), now_ms))
        elif length:
            self.answer(register, 2)
        else:
            self.answer(register, 0, self._read(name, now_ms))

    def on_read(self, length: int) -> bytes:
        reply = self._reply
        return reply[:length] + b"\xff" * (length - len(reply))

    def answer(self, register: int, result: int, payload: bytes = b"") -> None:
        """Prepare the response the next read returns."""
        self._reply = rm.response(self.address, register, result, payload)

    def _read(self, name: str, now_ms: int) -> bytes:
        if name == "version":
            major, minor, patch = self.firmware_version
            return bytes(
                (rm.PROTOCOL_MAJOR, rm.PROTOCOL_MINOR, major, minor, patch, BOARD_REVISION)
            )
        if name == "status":
            return _u16(self.status(now_ms))
        if name == "events":
            return _u16(self.events)
        if name == "heartbeat_timeout":
            return _u16(self.heartbeat_timeout_s)
        if name == "shutdown_grace":
            return _u16(self.shutdown_grace_s)
        if name == "wake_reason":
            return bytes((self.wake_reason,))
        if name == "tamper":
            return bytes((self.tamper_latched, self.tamper_count)) + _u32(self.tamper_time)
        if name == "battery":
            return _u16(self.battery_mv) + bytes((self.battery_percent(), self.charger))
        if name == "rtc":
            return _u32(self.board.rtc_seconds())
        if name == "low_battery":
            return _u16(self.cutoff_mv) + _u16(self.restore_mv)
        # update_status
        return (
            bytes((self.update_state,))
            + _u32(self.update_received)
            + bytes((self.update_error,))
            + _u32(self.update_crc)
        )

    def _write(self, name: str, value: bytes, now_ms: int) -> int:
        if name == "events":
            self.events &= ~_get16(value, 0)
        elif name == "heartbeat":
            self.first_heartbeat, self.last_heartbeat = True, now_ms
        elif name == "heartbeat_timeout":
            timeout = _get16(value, 0)
            if timeout and not 10 <= timeout <= 3600:
                return 5
            self.heartbeat_timeout_s = timeout
        elif name == "shutdown_grace":
            grace = _get16(value, 0)
            if not 1 <= grace <= 600:
                return 5
            self.shutdown_grace_s = grace
        elif name == "tamper_clear":
            if _get32(value, 0) != rm.TAMPER_CLEAR_CODE:
                return 6
            if self.board.tamper_open():
                return 5  # still open: close the case first
            self.tamper_latched = 0
            self._save()
        elif name == "power":
            if value[0] not in (rm.POWER_SHUTDOWN, rm.POWER_RESTART):
                return 5
            self._restart_as = rm.WAKE_HOST_REQUEST if value[0] == rm.POWER_RESTART else -1
            self._ask_shutdown(now_ms)
        elif name == "alert":
            if value[0] not in rm.PATTERNS:
                return 5
            self.alert(value[0], value[1], now_ms)
        elif name == "rtc":
            self.board.set_rtc_seconds(_get32(value, 0))
        elif name == "low_battery":
            cutoff, restore = _get16(value, 0), _get16(value, 2)
            if not 3000 <= cutoff < restore <= 4200:
                return 5
            self.cutoff_mv, self.restore_mv = cutoff, restore
        else:
            return self._update(name, value)
        return rm.RESULT_OK

    def _update(self, name: str, value: bytes) -> int:
        if name == "update_begin":
            size = _get32(value, 0)
            if not 0 < size <= 1 << 20:
                return 5
            self.board.update_open(size)
            self.update_size, self.update_crc = size, _get32(value, 4)
            self.update_state, self.update_received, self.update_error = rm.UPDATE_RECEIVING, 0, 0
            return rm.RESULT_OK
        if self.update_state != rm.UPDATE_RECEIVING:
            return 7
        if name == "update_data":
            offset, length = _get32(value, 0), value[4]
            if offset != self.update_received or not 0 < length <= rm.UPDATE_CHUNK:
                return 7
            if offset + length > self.update_size:
                return 5
            self.board.update_write(offset, bytes(value[5 : 5 + length]))
            self.update_received += length
            return rm.RESULT_OK
        # update_commit
        if self.update_received != self.update_size or _get32(value, 0) != self.update_crc:
            return 7
        if self.board.update_crc32() != self.update_crc:
            self.update_state, self.update_error = rm.UPDATE_FAILED, 8
            return 8
        self.update_state = rm.UPDATE_READY
        self._install_at = self._now + INSTALL_DELAY_MS  # once the host has read the answer
        return rm.RESULT_OK
