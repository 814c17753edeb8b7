"""The supervisor's real logic behind the real driver, on the emulated I2C bus, manual clock."""

from __future__ import annotations

from hal.emulators.i2cbus import EmulatedI2CBus
from hal.i2c import I2CTransport
from hal.supervisor.rp2040 import Rp2040Supervisor
from supervisor.emulator import SupervisorEmulator


def wired(realtime: bool = False) -> tuple[SupervisorEmulator, Rp2040Supervisor, EmulatedI2CBus]:
    """The logic with a manual clock (``advance``), or ticking in real time (stop it after)."""
    emulator = SupervisorEmulator(realtime=realtime).start()
    bus = EmulatedI2CBus()
    bus.attach(emulator.address, emulator)
    return emulator, Rp2040Supervisor(I2CTransport(bus, "emulated I2C bus")), bus
