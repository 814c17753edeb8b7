"""Driver for the MAX17048 fuel gauge (I2C address 0x36).

Registers are 16-bit **big-endian**; SMBus word reads are little-endian, so we
read two bytes with a register-pointer write and a repeated-start read, never
``read_word_data`` (the classic swapped-bytes bug of Pi UPS scripts).
"""

from __future__ import annotations

import contextlib
import struct
import time

from hal.errors import BusError, FuelGaugeError
from hal.i2c import I2CTransport
from hal.power.protocol import BatteryStatus

ADDRESS = 0x36

REG_VCELL = 0x02
REG_SOC = 0x04
REG_MODE = 0x06
REG_VERSION = 0x08
REG_HIBRT = 0x0A
REG_CONFIG = 0x0C
REG_VALRT = 0x14
REG_CRATE = 0x16
REG_VRESET = 0x18
REG_STATUS = 0x1A
REG_CMD = 0xFE

VCELL_LSB_V = 78.125e-6
CRATE_LSB = 0.208
STATUS_RI = 0x0100
STATUS_HD = 0x1000
CONFIG_ALRT = 0x0020


class Max17048:
    def __init__(self, transport: I2CTransport, address: int = ADDRESS) -> None:
        self._t = transport
        self._addr = address

    def read_register(self, reg: int) -> int:
        data = self._t.write_read(self._addr, bytes([reg]), 2)
        return int(struct.unpack(">H", data)[0])

    def write_register(self, reg: int, value: int) -> None:
        self._t.write(self._addr, bytes([reg]) + struct.pack(">H", value & 0xFFFF))

    def open(self) -> str:
        version = self.read_register(REG_VERSION)
        if version & 0xFFF0 != 0x0010:
            raise FuelGaugeError(
                f"device at 0x{self._addr:02X} reports version 0x{version:04X}, not a MAX17048/9: "
                "check the configured address"
            )
        status = self.read_register(REG_STATUS)
        if status & STATUS_RI:
            # Fresh power-on: the gauge is ready; acknowledge the reset indicator.
            self.write_register(REG_STATUS, status & ~STATUS_RI)
        return f"MAX17048 (version 0x{version:04X})"

    def read(self) -> BatteryStatus:
        vcell = self.read_register(REG_VCELL) * VCELL_LSB_V
        soc = self.read_register(REG_SOC) / 256.0
        (crate_raw,) = struct.unpack(">h", struct.pack(">H", self.read_register(REG_CRATE)))
        status = self.read_register(REG_STATUS)
        return BatteryStatus(
            soc_percent=round(min(soc, 100.0), 2),
            voltage_v=round(vcell, 4),
            rate_percent_per_h=round(crate_raw * CRATE_LSB, 3),
            low=bool(status & STATUS_HD),
        )

    def set_low_alert(self, percent: int) -> None:
        if not 1 <= percent <= 32:
            raise ValueError("the MAX17048 alert threshold is 1..32 %")
        config = self.read_register(REG_CONFIG)
        athd = (32 - percent) & 0x1F
        self.write_register(REG_CONFIG, (config & ~0x1F & ~CONFIG_ALRT) | athd)

    def clear_alert(self) -> None:
        self.write_register(REG_STATUS, self.read_register(REG_STATUS) & ~STATUS_HD)
        self.write_register(REG_CONFIG, self.read_register(REG_CONFIG) & ~CONFIG_ALRT)

    def power_on_reset(self) -> None:
        """Reset the gauge. The part NACKs this write by design; that is success."""
        with contextlib.suppress(BusError):
            self.write_register(REG_CMD, 0x5400)
        time.sleep(0.192)
