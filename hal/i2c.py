"""I2C: the bus object drivers receive, and the transport they speak through.

Drivers never open ``/dev/i2c-N`` themselves: they receive a *bus object* with
the duck-typed subset of ``smbus2.SMBus`` that they need (``i2c_rdwr`` for
combined transfers), wrapped in an :class:`I2CTransport` that turns the
kernel's ``OSError`` (EREMOTEIO on a NACK, ENXIO, ETIMEDOUT) into
:class:`~hal.errors.BusError`. Three buses fit: ``smbus2.SMBus(N)`` on the
handheld, the in-process emulated bus (``hal.emulators.i2cbus``), and
:class:`SocketI2CBus`, which forwards every transfer to the rig's emulated bus
over a Unix socket so that a firmware process can be driven from outside.
"""

from __future__ import annotations

import socket
import struct
import threading
from dataclasses import dataclass
from typing import Any, Protocol, cast

from hal.errors import BusError, ConfigurationError, DeviceNotFound

I2C_M_RD = 0x0001
"""Flag of a read message, as in linux/i2c.h."""


class I2CMessage(Protocol):
    """One message of a combined transfer (``smbus2.i2c_msg`` or :class:`Message`)."""

    addr: int
    flags: int
    len: int

    def __bytes__(self) -> bytes: ...


class I2CBus(Protocol):
    """The slice of ``smbus2.SMBus`` that the drivers use."""

    def i2c_rdwr(self, *messages: I2CMessage) -> None: ...

    def close(self) -> None: ...


@dataclass
class Message:
    """A transfer message for buses other than smbus2's (same fields as ``i2c_msg``)."""

    addr: int
    flags: int
    len: int
    buf: bytearray

    @classmethod
    def write(cls, addr: int, data: bytes) -> Message:
        return cls(addr, 0, len(data), bytearray(data))

    @classmethod
    def read(cls, addr: int, length: int) -> Message:
        return cls(addr, I2C_M_RD, length, bytearray(length))

    def __bytes__(self) -> bytes:
        return bytes(self.buf[: self.len])


def _message_factory(bus: object) -> Any:
    """smbus2 buses need smbus2's ctypes messages; any other bus takes ours."""
    if type(bus).__module__.startswith("smbus2"):
        from smbus2 import i2c_msg

        return i2c_msg
    return Message


class I2CTransport:
    """Byte-level I2C access for one driver, with typed errors."""

    def __init__(self, bus: I2CBus, name: str = "i2c") -> None:
        self._bus = bus
        self._name = name
        self._factory = _message_factory(bus)
        self._lock = threading.Lock()

    def write(self, addr: int, data: bytes) -> None:
        self._transfer(addr, [self._factory.write(addr, data)])

    def read(self, addr: int, length: int) -> bytes:
        msg = self._factory.read(addr, length)
        self._transfer(addr, [msg])
        return bytes(msg)

    def write_read(self, addr: int, data: bytes, length: int) -> bytes:
        """A write then a read with a repeated start (register reads)."""
        msg = self._factory.read(addr, length)
        self._transfer(addr, [self._factory.write(addr, data), msg])
        return bytes(msg)

    def close(self) -> None:
        self._bus.close()

    def _transfer(self, addr: int, messages: list[I2CMessage]) -> None:
        with self._lock:
            try:
                self._bus.i2c_rdwr(*messages)
            except OSError as exc:
                raise BusError(
                    f"no acknowledge from device 0x{addr:02X} on {self._name} "
                    f"({exc.strerror or exc}):"
                    " check that the device is powered and its address is right"
                ) from exc


class SocketI2CBus:
    """An I2C bus served over a Unix socket by the rig (``hotspot hil emulate``).

    Wire format, per transfer: request ``u8 count`` then per message
    ``u16 addr, u16 flags, u16 len`` and, for writes, ``len`` bytes; reply
    ``u8 errno`` (0 = done) then the bytes of every read message in order.
    A non-zero errno is raised as ``OSError`` exactly as the kernel would.
    """

    def __init__(self, path: str, timeout_s: float = 2.0) -> None:
        self._path = path
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout_s)
        try:
            self._sock.connect(path)
        except OSError as exc:
            self._sock.close()
            raise DeviceNotFound(
                f"no emulated I2C bus at {path}: start it with 'hotspot hil emulate' ({exc})"
            ) from exc

    def i2c_rdwr(self, *messages: I2CMessage) -> None:
        request = bytearray([len(messages)])
        for msg in messages:
            request += struct.pack(">HHH", msg.addr, msg.flags, msg.len)
            if not msg.flags & I2C_M_RD:
                request += bytes(msg)[: msg.len]
        try:
            self._sock.sendall(request)
            (errno,) = self._recv(1)
            if errno:
                raise OSError(errno, "Remote I/O error" if errno == 121 else "I2C error")
            for msg in messages:
                if msg.flags & I2C_M_RD:
                    _fill(msg, self._recv(msg.len))
        except TimeoutError as exc:
            raise OSError(110, f"emulated I2C bus at {self._path} timed out") from exc

    def close(self) -> None:
        self._sock.close()

    def _recv(self, size: int) -> bytes:
        data = bytearray()
        while len(data) < size:
            chunk = self._sock.recv(size - len(data))
            if not chunk:
                raise OSError(104, f"emulated I2C bus at {self._path} closed the connection")
            data += chunk
        return bytes(data)


def _fill(msg: I2CMessage, data: bytes) -> None:
    """Store received bytes into a read message (ours or smbus2's ctypes one)."""
    buf = getattr(msg, "buf")  # noqa: B009 - both message kinds name it buf
    if isinstance(buf, bytearray):
        buf[: len(data)] = data
    else:
        import ctypes

        ctypes.memmove(buf, data, len(data))


def fill_message(msg: I2CMessage, data: bytes) -> None:
    """Public form of :func:`_fill` for bus implementations."""
    _fill(msg, data)


def open_bus(spec: int | str) -> I2CBus:
    """A bus from its configuration: ``1`` (``/dev/i2c-1``) or ``"unix:PATH"``."""
    if isinstance(spec, int) or (isinstance(spec, str) and spec.isdigit()):
        try:
            from smbus2 import SMBus
        except ImportError as exc:
            raise ConfigurationError(
                "smbus2 is not installed: install the 'device' extra on the handheld"
            ) from exc
        try:
            bus = cast(I2CBus, SMBus(int(spec)))
        except OSError as exc:
            raise DeviceNotFound(
                f"cannot open /dev/i2c-{spec}: {exc}. Enable I2C (raspi-config) and check "
                "that the user is in the i2c group."
            ) from exc
        return bus
    if isinstance(spec, str) and spec.startswith("unix:"):
        return SocketI2CBus(spec[len("unix:") :])
    raise ConfigurationError(f"I2C bus {spec!r} is neither a bus number nor 'unix:PATH'")
