"""Resources: *where* a device is, independent of how to speak to it.

A resource is plain data, read from the firmware configuration. The special
location ``"emulated"`` asks the wiring code to start the device's emulator in
process and to connect the real driver to it over the real transport (a
pseudo-terminal or an emulated I2C bus), so the driver code under test is the
code that ships.
"""

from __future__ import annotations

from dataclasses import dataclass

EMULATED = "emulated"


@dataclass(frozen=True)
class SerialResource:
    """A UART or USB serial port, or any pyserial URL (``socket://``, ``rfc2217://``)."""

    port: str
    baudrate: int = 57600
    timeout_s: float = 1.0

    @property
    def emulated(self) -> bool:
        return self.port == EMULATED


@dataclass(frozen=True)
class I2CResource:
    """A device on an I2C bus.

    ``bus`` is a Linux bus number (``/dev/i2c-N``), ``"emulated"`` for an
    in-process emulated bus, or ``"unix:PATH"`` for a bus served by the
    hardware-in-the-loop rig over a Unix socket.
    """

    bus: int | str
    address: int

    @property
    def emulated(self) -> bool:
        return self.bus == EMULATED


@dataclass(frozen=True)
class CameraResource:
    """A camera: ``index`` for libcamera, or ``"emulated"``."""

    index: int | str = 0
    width: int = 640
    height: int = 480

    @property
    def emulated(self) -> bool:
        return self.index == EMULATED
