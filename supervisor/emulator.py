"""The supervisor on the host: the real firmware logic on a board in memory, on the I2C bus.

It stands where the RP2040 stands: an I2C target on the rig's emulated bus
(``hal.emulators.i2cbus``), so the main board's driver talks to it over the
same transactions, and any tool can, through ``hotspot hil emulate
supervisor``. The logic is ``supervisor/logic.py`` itself, not a model of it;
only the board under it is emulated: a button and a case switch to press and
open, a battery whose voltage and charger can be set, the main board's power
switch (``on_power`` is called when it changes: the rig cuts the firmware
process), outputs that are printed when an alert plays, flash in memory.

Fault knobs: ``nack`` (the target does not acknowledge), ``corrupt`` (every
response's CRC is wrong), ``deaf_heartbeat`` (heartbeats are lost on the way,
so the watchdog fires).
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable
from typing import TextIO

from hal.emulators.i2cbus import Nack
from hal.supervisor import regmap as rm
from supervisor import image
from supervisor.logic import Supervisor


class MemoryBoard:
    """The RP2040 board's pins, flash and clock, in memory."""

    def __init__(self) -> None:
        self.button = False
        self.tamper = False
        self.battery = 3950
        self.charging = rm.CHARGER_NONE
        self.host_power = False
        self.outputs = (0, 0, 0, 0)
        self.played: list[tuple[int, int, int, int]] = []
        self.state = b""
        self.staging = bytearray()
        self.installed: bytes | None = None
        self.rtc_offset = 0
        self.on_power: Callable[[bool], None] = lambda _on: None

    def button_pressed(self) -> bool:
        return self.button

    def tamper_open(self) -> bool:
        return self.tamper

    def battery_mv(self) -> int:
        return self.battery

    def charger(self) -> int:
        return self.charging

    def set_host_power(self, on: bool) -> None:
        changed = on != self.host_power
        self.host_power = on
        if changed:
            self.on_power(on)

    def set_outputs(self, red: int, green: int, buzzer: int, vibration: int) -> None:
        outputs = (red, green, buzzer, vibration)
        if outputs != self.outputs:
            self.outputs = outputs
            self.played.append(outputs)

    def rtc_seconds(self) -> int:
        return int(time.time()) + self.rtc_offset

    def set_rtc_seconds(self, seconds: int) -> None:
        self.rtc_offset = seconds - int(time.time())

    def load_state(self) -> bytes:
        return self.state

    def save_state(self, data: bytes) -> None:
        self.state = bytes(data)

    def update_open(self, size: int) -> None:
        self.staging = bytearray()

    def update_write(self, offset: int, data: bytes) -> None:
        self.staging[offset : offset + len(data)] = data

    def update_crc32(self) -> int:
        return zlib.crc32(bytes(self.staging)) & 0xFFFFFFFF

    def update_install(self) -> None:
        self.installed = bytes(self.staging)


class SupervisorEmulator:
    """An I2C target (``on_write`` / ``on_read``) running the supervisor's logic."""

    def __init__(
        self,
        *,
        realtime: bool = True,
        out: TextIO | None = None,
        address: int = rm.ADDRESS,
    ) -> None:
        self.board = MemoryBoard()
        self._out = out
        self.address = address
        self.nack = False
        self.corrupt = False
        self.deaf_heartbeat = False
        self._lock = threading.RLock()
        self._realtime = realtime
        self._started = time.monotonic()
        self._manual_ms = 0
        self.logic = Supervisor(self.board, self.now_ms(), address)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the clock --------------------------------------------------------------------------

    def now_ms(self) -> int:
        if self._realtime:
            return int((time.monotonic() - self._started) * 1000)
        return self._manual_ms

    def advance(self, ms: int, step_ms: int = 10) -> None:
        """Manual clock: let ``ms`` pass, ticking as the board's loop does."""
        end = self._manual_ms + ms
        while self._manual_ms < end:
            self._manual_ms = min(end, self._manual_ms + step_ms)
            self.tick()

    def tick(self) -> None:
        with self._lock:
            self.logic.tick(self.now_ms())
            if self.board.installed is not None:
                self._restart_into(self.board.installed)

    def start(self) -> SupervisorEmulator:
        def run() -> None:
            while not self._stop.wait(0.01):
                self.tick()

        if self._realtime:
            self._thread = threading.Thread(target=run, name="supervisor", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)

    def _restart_into(self, data: bytes) -> None:
        """machine.reset() into the installed image: the logic starts again, flash kept."""
        version, _files = image.read(data)
        self.board.installed = None
        events, power = self.logic.events, self.board.host_power
        self.logic = Supervisor(self.board, self.now_ms(), self.address)
        self.logic.firmware_version = version
        self.logic.events = events
        self.board.host_power = power

    # -- the I2C target ---------------------------------------------------------------------

    def on_write(self, data: bytes) -> None:
        if self.nack:
            raise Nack()
        with self._lock:
            heartbeat = rm.REGISTERS["heartbeat"][0] | rm.WRITE
            if self.deaf_heartbeat and data and data[0] == heartbeat:
                # The heartbeat never reaches the logic (a stuck line, a hung driver):
                # the main board is told all is well, the watchdog goes on counting.
                self.logic.answer(heartbeat, rm.RESULT_OK)
                return
            self.logic.on_write(data, self.now_ms())
            if self.board.installed is not None:
                self._restart_into(self.board.installed)
            played = self.logic.on_read(1) == bytes((rm.RESULT_OK,))
        if played and data and data[0] == rm.REGISTERS["alert"][0] | rm.WRITE:
            self._say_alert(data[2], data[3])

    def _say_alert(self, pattern: int, repeats: int) -> None:
        """What an officer would see, hear and feel: printed where the emulator speaks."""
        if self._out is None:
            return
        lit = {step[1:] for step in rm.PATTERNS.get(pattern, ()) if any(step[1:])}
        words = [
            word
            for index, word in enumerate(("red light", "green light", "buzzer", "vibration"))
            if any(outputs[index] for outputs in lit)
        ]
        times = "until stopped" if repeats == 0 else f"{repeats} time(s)"
        name = rm.ALERT_NAMES.get(pattern, str(pattern)).upper()
        what = ", ".join(words) or "all off"
        print(f"[supervisor] {name} alert: {what}, {times}", file=self._out, flush=True)

    def on_read(self, length: int) -> bytes:
        if self.nack:
            raise Nack()
        with self._lock:
            reply = self.logic.on_read(length)
        if self.corrupt and reply:
            reply = reply[:-1] + bytes((reply[-1] ^ 0xFF,))
        return reply
