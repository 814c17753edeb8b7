"""The slice of a pyserial port that drivers use, and how to open one.

Drivers depend on this protocol rather than on ``serial.Serial`` so that a test
or an adapter can stand in; in practice every transport is a pyserial object,
opened with :func:`open_serial` from a path or any pyserial URL.
"""

from __future__ import annotations

from typing import Protocol

from hal.errors import DeviceNotFound


class SerialPort(Protocol):
    """The methods of ``serial.Serial`` the drivers rely on."""

    baudrate: int
    timeout: float | None

    def read(self, size: int = 1) -> bytes: ...

    def write(self, data: bytes, /) -> int | None: ...

    def reset_input_buffer(self) -> None: ...

    def close(self) -> None: ...


def open_serial(port: str, baudrate: int, timeout_s: float) -> SerialPort:
    """Open a serial port by path or pyserial URL, with a clear error if it is absent."""
    import serial

    try:
        handle: SerialPort = serial.serial_for_url(
            port, baudrate=baudrate, timeout=timeout_s, exclusive=True
        )
    except (serial.SerialException, OSError, ValueError) as exc:
        raise DeviceNotFound(
            f"cannot open serial port {port!r}: {exc}. Check that the device is plugged in, "
            "that the path in the configuration is right and that no other program holds it."
        ) from exc
    return handle
