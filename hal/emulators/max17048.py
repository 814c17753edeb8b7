"""Emulator of the MAX17048 register file, with a battery that discharges.

The battery model: a LiPo cell of ``capacity_mah`` drained by ``load_ma``
(negative = charging); open-circuit voltage from a piecewise-linear LiPo curve;
terminal voltage sags by ``load * r_internal``. ``time_scale`` speeds the clock
up so a test can drain an hour in a second. Alerts follow the datasheet: SOC
below the CONFIG.ATHD threshold sets STATUS.HD and CONFIG.ALRT; a write of
0x5400 to CMD resets the part and is not acknowledged.
"""

from __future__ import annotations

import itertools
import threading
import time

from hal.emulators.i2cbus import Nack
from hal.power import max17048 as reg

# (SOC %, open-circuit volts) for a typical LiPo cell.
_OCV = [
    (0, 3.30),
    (5, 3.55),
    (10, 3.68),
    (20, 3.74),
    (40, 3.80),
    (60, 3.88),
    (80, 4.00),
    (100, 4.19),
]


def ocv(soc: float) -> float:
    soc = max(0.0, min(100.0, soc))
    for (s0, v0), (s1, v1) in itertools.pairwise(_OCV):
        if soc <= s1:
            return v0 + (v1 - v0) * (soc - s0) / (s1 - s0)
    return _OCV[-1][1]


class Max17048Emulator:
    """The gauge as an I2C target (attach it to an EmulatedI2CBus at 0x36)."""

    def __init__(
        self,
        soc_percent: float = 87.0,
        capacity_mah: float = 3000.0,
        load_ma: float = 450.0,
        r_internal_ohm: float = 0.12,
        time_scale: float = 1.0,
    ) -> None:
        self.capacity_mah = capacity_mah
        self.load_ma = load_ma
        self.r_internal = r_internal_ohm
        self.time_scale = time_scale
        self.nack = False
        """Fault knob: the part does not acknowledge (loose connector, dead gauge)."""
        self._soc = soc_percent
        self._below = False
        self._t = time.monotonic()
        self._lock = threading.Lock()
        self._pointer = 0
        self._regs = {
            reg.REG_MODE: 0x0000,
            reg.REG_VERSION: 0x0012,
            reg.REG_HIBRT: 0x8030,
            reg.REG_CONFIG: 0x971C,
            reg.REG_VALRT: 0x00FF,
            reg.REG_VRESET: 0x9600,
            reg.REG_STATUS: 0x0100,
        }

    # -- battery model ------------------------------------------------------------------

    @property
    def soc(self) -> float:
        with self._lock:
            self._advance()
            return self._soc

    def set_soc(self, percent: float) -> None:
        with self._lock:
            self._advance()
            self._soc = max(0.0, min(100.0, percent))

    def _advance(self) -> None:
        now = time.monotonic()
        hours = (now - self._t) * self.time_scale / 3600.0
        self._t = now
        self._soc = max(
            0.0, min(100.0, self._soc - 100.0 * self.load_ma * hours / self.capacity_mah)
        )
        # HD is set when the charge *crosses* below the threshold (datasheet: an
        # edge, cleared by software), not for as long as it stays below.
        threshold = 32 - (self._regs[reg.REG_CONFIG] & 0x1F)
        below = self._soc < threshold
        if below and not self._below:
            self._regs[reg.REG_STATUS] |= reg.STATUS_HD
            self._regs[reg.REG_CONFIG] |= reg.CONFIG_ALRT
        self._below = below

    def _value(self, address: int) -> int:
        if address == reg.REG_VCELL:
            volts = ocv(self._soc) - self.load_ma / 1000.0 * self.r_internal
            return int(max(0.0, volts) / reg.VCELL_LSB_V) & 0xFFFF
        if address == reg.REG_SOC:
            return int(self._soc * 256) & 0xFFFF
        if address == reg.REG_CRATE:
            rate = -100.0 * self.load_ma / self.capacity_mah / reg.CRATE_LSB
            return round(rate) & 0xFFFF
        return self._regs.get(address, 0xFFFF)

    # -- I2C target -----------------------------------------------------------------------

    def on_write(self, data: bytes) -> None:
        if self.nack or not data:
            raise Nack
        with self._lock:
            self._advance()
            self._pointer = data[0]
            payload = data[1:]
            for i in range(0, len(payload) - 1, 2):
                address = self._pointer + i
                value = (payload[i] << 8) | payload[i + 1]
                if address == reg.REG_CMD and value == 0x5400:
                    self._reset()
                    raise Nack  # the datasheet's documented NACK on reset
                if address == reg.REG_MODE and value & 0x4000:
                    continue  # quick-start: the model restarts from OCV, same SOC here
                if address in (reg.REG_VCELL, reg.REG_SOC, reg.REG_VERSION, reg.REG_CRATE):
                    continue  # read-only
                self._regs[address] = value

    def on_read(self, length: int) -> bytes:
        if self.nack:
            raise Nack
        with self._lock:
            self._advance()
            out = bytearray()
            address = self._pointer & ~1
            while len(out) < length:
                out += self._value(address).to_bytes(2, "big")
                address += 2
            return bytes(out[:length])

    def _reset(self) -> None:
        self._regs[reg.REG_STATUS] = 0x0100
        self._regs[reg.REG_CONFIG] = 0x971C
