"""The RP2040 board under the supervisor's logic: pins, PWM, ADC, RTC, flash, the I2C target.

The only module of the supervisor that touches ``machine``; ``logic.py`` calls
the methods below and nothing else, so the logic runs unchanged on the host
(``supervisor/emulator.py`` gives it a board in memory). Pin numbers are the
handheld's schematic (rev 1); a board revision changes this file only.
"""

import os
import time

import machine

PIN_HOST_POWER = 2  # drives the main board's power switch (high = on)
PIN_BUTTON = 3  # power button to ground, internal pull-up
PIN_TAMPER = 4  # case switch, closed to ground while the case is shut
PIN_CHARGING = 5  # charger STAT, low while charging
PIN_POWER_GOOD = 6  # charger PG, low while external power is present
PIN_RED, PIN_GREEN = 16, 17
PIN_BUZZER = 18
PIN_VIBRATION = 19
PIN_SDA, PIN_SCL = 0, 1
ADC_BATTERY = 26  # battery through a 1:2 divider
STATE_FILE = "state.bin"
STAGING_FILE = "update.bin"
BUZZER_HZ = 2700


class Board:
    def __init__(self) -> None:
        self._power = machine.Pin(PIN_HOST_POWER, machine.Pin.OUT, value=0)
        self._button = machine.Pin(PIN_BUTTON, machine.Pin.IN, machine.Pin.PULL_UP)
        self._tamper = machine.Pin(PIN_TAMPER, machine.Pin.IN, machine.Pin.PULL_UP)
        self._charging = machine.Pin(PIN_CHARGING, machine.Pin.IN, machine.Pin.PULL_UP)
        self._power_good = machine.Pin(PIN_POWER_GOOD, machine.Pin.IN, machine.Pin.PULL_UP)
        self._red = machine.Pin(PIN_RED, machine.Pin.OUT, value=0)
        self._green = machine.Pin(PIN_GREEN, machine.Pin.OUT, value=0)
        self._vibration = machine.Pin(PIN_VIBRATION, machine.Pin.OUT, value=0)
        self._buzzer = machine.PWM(machine.Pin(PIN_BUZZER), freq=BUZZER_HZ, duty_u16=0)
        self._adc = machine.ADC(ADC_BATTERY)
        self._rtc = machine.RTC()
        self._last = time.ticks_ms()
        self._now = 0
        self._staging = None

    def now_ms(self) -> int:
        """Milliseconds since start, never wrapping (ticks_ms wraps)."""
        ticks = time.ticks_ms()
        self._now += time.ticks_diff(ticks, self._last)
        self._last = ticks
        return self._now

    def button_pressed(self) -> bool:
        return self._button.value() == 0

    def tamper_open(self) -> bool:
        return self._tamper.value() == 1

    def battery_mv(self) -> int:
        return self._adc.read_u16() * 3300 * 2 // 65535

    def charger(self) -> int:
        if self._power_good.value() == 1:
            return 0
        return 1 if self._charging.value() == 0 else 2

    def set_host_power(self, on: bool) -> None:
        self._power.value(1 if on else 0)

    def set_outputs(self, red: int, green: int, buzzer: int, vibration: int) -> None:
        self._red.value(red)
        self._green.value(green)
        self._vibration.value(vibration)
        self._buzzer.duty_u16(32768 if buzzer else 0)

    def rtc_seconds(self) -> int:
        year, month, day, _weekday, hour, minute, second, _sub = self._rtc.datetime()
        return int(time.mktime((year, month, day, hour, minute, second, 0, 0)))

    def set_rtc_seconds(self, seconds: int) -> None:
        year, month, day, hour, minute, second, weekday, _yearday = time.gmtime(seconds)
        self._rtc.datetime((year, month, day, weekday, hour, minute, second, 0))

    def load_state(self) -> bytes:
        try:
            with open(STATE_FILE, "rb") as handle:
                return bytes(handle.read())
        except OSError:
            return b""

    def save_state(self, data: bytes) -> None:
        with open(STATE_FILE + ".new", "wb") as handle:
            handle.write(data)
        os.rename(STATE_FILE + ".new", STATE_FILE)

    def update_open(self, size: int) -> None:
        with open(STAGING_FILE, "wb") as handle:
            handle.write(b"")

    def update_write(self, offset: int, data: bytes) -> None:
        with open(STAGING_FILE, "ab") as handle:
            handle.write(data)

    def update_crc32(self) -> int:
        import binascii

        crc = 0
        with open(STAGING_FILE, "rb") as handle:
            while True:
                block = handle.read(512)
                if not block:
                    break
                crc = binascii.crc32(block, crc)
        return crc & 0xFFFFFFFF

    def update_install(self) -> None:
        """Unpack the verified image over the application, then restart into it."""
        import image

        image.install(STAGING_FILE)
        machine.reset()

    def feed_watchdog(self, watchdog: machine.WDT) -> None:
        watchdog.feed()


class I2CLink:
    """The supervisor as an I2C target: bytes in, a command; a read, its answer."""

    def __init__(self, address: int, on_write, on_read) -> None:  # type: ignore[no-untyped-def]
        self._on_write, self._on_read = on_write, on_read
        self._incoming = bytearray()
        self._outgoing = b""
        self._sent = 0
        self._byte = bytearray(1)
        self._target = machine.I2CTarget(
            0, address, scl=machine.Pin(PIN_SCL), sda=machine.Pin(PIN_SDA)
        )
        self._target.irq(
            self._irq,
            machine.I2CTarget.IRQ_WRITE_REQ
            | machine.I2CTarget.IRQ_READ_REQ
            | machine.I2CTarget.IRQ_ADDR_MATCH_READ
            | machine.I2CTarget.IRQ_END_WRITE,
            hard=False,
        )

    def _irq(self, target: machine.I2CTarget) -> None:
        flags = target.irq().flags()
        if flags & machine.I2CTarget.IRQ_WRITE_REQ:
            target.readinto(self._byte)
            self._incoming.extend(self._byte)
        if flags & machine.I2CTarget.IRQ_END_WRITE and self._incoming:
            self._on_write(bytes(self._incoming))
            self._incoming = bytearray()
        if flags & machine.I2CTarget.IRQ_ADDR_MATCH_READ:
            self._outgoing, self._sent = self._on_read(64), 0
        if flags & machine.I2CTarget.IRQ_READ_REQ:
            byte = self._outgoing[self._sent] if self._sent < len(self._outgoing) else 0xFF
            self._sent += 1
            target.write(bytes((byte,)))
