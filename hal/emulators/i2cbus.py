"""An emulated I2C bus with devices at addresses, in process or served on a socket.

Targets implement the two halves of an I2C transaction (:class:`I2CTarget`):
a write of bytes, a read of N bytes; either may NACK. The bus offers the
``smbus2.SMBus`` methods that drivers and independent scripts use
(``i2c_rdwr`` with smbus2's own ``i2c_msg`` objects or ours,
``read_i2c_block_data``, ``write_i2c_block_data``, ``read_word_data``,
``write_word_data``, ``read_byte_data``) and reports a NACK as the kernel does,
``OSError(121, 'Remote I/O error')``. A write to address 0x00 is the
secure element's wake pulse (SDA held low): every target with ``wake()`` is
woken, and, as on real hardware, the transfer itself is not acknowledged.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import threading
from typing import Protocol, runtime_checkable

from hal.i2c import I2C_M_RD, I2CMessage, fill_message

EREMOTEIO = 121


class Nack(Exception):
    """Raised by a target that does not acknowledge."""


class I2CTarget(Protocol):
    def on_write(self, data: bytes) -> None: ...

    def on_read(self, length: int) -> bytes: ...


@runtime_checkable
class Wakeable(Protocol):
    def wake(self) -> None: ...


class EmulatedI2CBus:
    """A bus with emulated targets, compatible with the smbus2 methods drivers use."""

    def __init__(self) -> None:
        self._targets: dict[int, I2CTarget] = {}
        self._lock = threading.Lock()
        self.transfers = 0

    def attach(self, address: int, target: I2CTarget) -> None:
        if not 0x03 <= address <= 0x77:
            raise ValueError(f"0x{address:02X} is not a 7-bit device address")
        self._targets[address] = target

    # -- smbus2 API ---------------------------------------------------------------------

    def i2c_rdwr(self, *messages: I2CMessage) -> None:
        with self._lock:
            self.transfers += 1
            for msg in messages:
                if msg.addr == 0x00:
                    for target in self._targets.values():
                        if isinstance(target, Wakeable):
                            target.wake()
                    raise OSError(EREMOTEIO, "Remote I/O error")
                device = self._targets.get(msg.addr)
                if device is None:
                    raise OSError(EREMOTEIO, "Remote I/O error")
                try:
                    if msg.flags & I2C_M_RD:
                        data = device.on_read(msg.len)
                        fill_message(msg, data[: msg.len].ljust(msg.len, b"\xff"))
                    else:
                        device.on_write(bytes(msg)[: msg.len])
                except Nack:
                    raise OSError(EREMOTEIO, "Remote I/O error") from None

    def read_i2c_block_data(
        self, addr: int, reg: int, length: int, force: bool | None = None
    ) -> list[int]:
        from hal.i2c import Message

        msg = Message.read(addr, length)
        self.i2c_rdwr(Message.write(addr, bytes([reg])), msg)
        return list(bytes(msg))

    def write_i2c_block_data(
        self, addr: int, reg: int, data: list[int], force: bool | None = None
    ) -> None:
        from hal.i2c import Message

        self.i2c_rdwr(Message.write(addr, bytes([reg, *data])))

    def read_word_data(self, addr: int, reg: int, force: bool | None = None) -> int:
        low, high = self.read_i2c_block_data(addr, reg, 2)
        return low | (high << 8)  # SMBus words are little-endian on the wire

    def write_word_data(self, addr: int, reg: int, value: int, force: bool | None = None) -> None:
        self.write_i2c_block_data(addr, reg, [value & 0xFF, (value >> 8) & 0xFF])

    def read_byte_data(self, addr: int, reg: int, force: bool | None = None) -> int:
        return self.read_i2c_block_data(addr, reg, 1)[0]

    def close(self) -> None:
        """Buses are shared; closing a handle leaves the emulated devices running."""


class I2CBusServer:
    """Serves an :class:`EmulatedI2CBus` on a Unix socket (protocol in ``hal.i2c.SocketI2CBus``)."""

    def __init__(self, bus: EmulatedI2CBus, path: str) -> None:
        self.bus = bus
        self.path = path
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(path)
        self._server.listen(8)
        self._server.settimeout(0.1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, name="i2c-server", daemon=True)

    def start(self) -> I2CBusServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        self._server.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        from hal.i2c import Message

        with conn:
            conn.settimeout(0.5)
            while not self._stop.is_set():
                try:
                    head = _recv(conn, 1)
                    if head is None:
                        return
                    messages: list[Message] = []
                    for _ in range(head[0]):
                        spec = _recv(conn, 6)
                        if spec is None:
                            return
                        addr, flags, length = struct.unpack(">HHH", spec)
                        if flags & I2C_M_RD:
                            messages.append(Message(addr, flags, length, bytearray(length)))
                        else:
                            data = _recv(conn, length) if length else b""
                            if data is None:
                                return
                            messages.append(Message(addr, flags, length, bytearray(data)))
                except TimeoutError:
                    continue
                except OSError:
                    return
                try:
                    self.bus.i2c_rdwr(*messages)
                    reply = b"\x00" + b"".join(bytes(m) for m in messages if m.flags & I2C_M_RD)
                except OSError as exc:
                    reply = bytes([exc.errno or EREMOTEIO])
                try:
                    conn.sendall(reply)
                except OSError:
                    return


def _recv(conn: socket.socket, size: int) -> bytes | None:
    data = bytearray()
    while len(data) < size:
        try:
            chunk = conn.recv(size - len(data))
        except TimeoutError:
            if not data:
                raise
            continue
        if not chunk:
            return None
        data += chunk
    return bytes(data)
