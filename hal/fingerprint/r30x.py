"""Driver for the R30x / R503 / AS608 UART fingerprint modules.

The module is a packet responder (see :mod:`hal.fingerprint.r30x_packet`); this
driver adds what the field needs on top: deadlines on every read so that a dead
or mis-clocked module is a :class:`~hal.errors.SensorTimeout`, never a hang;
resynchronisation on the ``EF 01`` header after line noise; GenImg polling with
a deadline; the 4-bit image streamed row by row while it is still on the wire
(~7 s at 57600 baud, ~3.5 s at 115200); the switch to 115200 baud; and the R503
ring light.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from hal.errors import SensorProtocolError, SensorTimeout
from hal.fingerprint import r30x_packet as pkt
from hal.fingerprint.protocol import ImageStream, SensorInfo
from hal.serialport import SerialPort

WIDTH = 256
HEIGHT = 288
PPI = 508
IMAGE_BYTES = WIDTH * HEIGHT // 2
"""The image travels as 4-bit pixels, two per byte."""

MAX_GARBAGE = 4096
"""Bytes of noise skipped while looking for a header before giving up."""

# R503 AuraLedConfig: control codes and colours.
_LED = {
    "ready": (0x01, 0x60, 0x02, 0x00),  # breathing, blue
    "busy": (0x02, 0x20, 0x03, 0x00),  # flashing, purple
    "ok": (0x03, 0x00, 0x02, 0x00),  # always on, blue
    "error": (0x02, 0x10, 0x01, 0x03),  # flashing red, three times
    "off": (0x04, 0x00, 0x00, 0x00),  # always off
}


class R30xSensor:
    """A fingerprint module on a UART, speaking the R30x packet protocol."""

    def __init__(
        self,
        port: SerialPort,
        *,
        address: int = pkt.DEFAULT_ADDRESS,
        password: int = 0,
        reply_timeout_s: float = 1.0,
        poll_interval_s: float = 0.05,
        model: str = "R30x",
    ) -> None:
        self._port = port
        self._address = address
        self._password = password
        self._reply_timeout_s = reply_timeout_s
        self._poll_interval_s = poll_interval_s
        self._model = model
        self._packet_size = 128
        self._led_supported = True
        self._dirty = False

    # -- FingerprintSensor ---------------------------------------------------

    def open(self) -> SensorInfo:
        # Whatever the line holds is not ours: a host process killed during an image upload
        # leaves the module streaming the rest of the image to whoever opens the port next.
        self._dirty = True
        self._transact(pkt.Instruction.VFY_PWD, struct.pack(">I", self._password), "VfyPwd")
        return self.read_sys_params()

    def read_sys_params(self) -> SensorInfo:
        data = self._transact(pkt.Instruction.READ_SYS_PARA, b"", "ReadSysPara")
        if len(data) < 16:
            raise SensorProtocolError(
                f"ReadSysPara returned {len(data)} bytes of parameters, 16 expected"
            )
        status, system_id, capacity, security, address, size_code, baud_n = struct.unpack(
            ">HHHHIHH", data[:16]
        )
        if size_code not in pkt.PACKET_SIZES:
            raise SensorProtocolError(f"unknown data-packet-size code {size_code}")
        self._packet_size = pkt.PACKET_SIZES[size_code]
        return SensorInfo(
            model=self._model,
            width=WIDTH,
            height=HEIGHT,
            ppi=PPI,
            bits_per_pixel=4,
            details={
                "status": status,
                "system_id": system_id,
                "capacity": capacity,
                "security_level": security,
                "address": f"{address:08X}",
                "packet_size": self._packet_size,
                "baudrate": 9600 * baud_n,
            },
        )

    def wait_finger(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            code, _ = self._exchange(pkt.Instruction.GEN_IMG, b"")
            if code == 0x00:
                return
            if code != 0x02:
                pkt.raise_for_confirmation(code, "GenImg")
            if time.monotonic() >= deadline:
                pkt.raise_for_confirmation(
                    code,
                    f"GenImg: no finger placed within {timeout_s:.1f} s; ask for the finger again",
                )
            time.sleep(self._poll_interval_s)

    def stream_image(self) -> ImageStream:
        self._transact(pkt.Instruction.UP_IMAGE, b"", "UpImage")
        self._dirty = True
        return ImageStream(WIDTH, HEIGHT, PPI, self._rows())

    def set_led(self, state: str) -> None:
        if state not in _LED:
            raise ValueError(f"unknown LED state {state!r}; use one of {sorted(_LED)}")
        if not self._led_supported:
            return
        code, _ = self._exchange(pkt.Instruction.AURA_LED_CONFIG, bytes(_LED[state]))
        if code != 0x00:
            # Modules without the ring light (AS608, R307) refuse the instruction.
            self._led_supported = False

    def close(self) -> None:
        self._port.close()

    # -- Extras of this family -----------------------------------------------

    def set_baudrate(self, baudrate: int) -> None:
        """Switch module and port to ``baudrate`` (9600*N, N = 1..12)."""
        if baudrate % 9600 or not 1 <= baudrate // 9600 <= 12:
            raise ValueError(f"baud rate {baudrate} is not 9600*N with N in 1..12")
        self._transact(
            pkt.Instruction.SET_SYS_PARA,
            bytes([pkt.SysParam.BAUD, baudrate // 9600]),
            "SetSysPara(baud)",
        )
        previous = self._port.baudrate
        self._port.baudrate = baudrate
        time.sleep(0.05)
        try:
            self.read_sys_params()
        except SensorTimeout:
            self._port.baudrate = previous
            raise

    # -- Packet exchange -----------------------------------------------------

    def _transact(self, instruction: int, params: bytes, operation: str) -> bytes:
        code, data = self._exchange(instruction, params)
        pkt.raise_for_confirmation(code, operation)
        return data

    def _exchange(self, instruction: int, params: bytes) -> tuple[int, bytes]:
        if self._dirty:
            self._drain()
        self._port.write(pkt.command(instruction, params, self._address))
        reply = self._read_packet(time.monotonic() + self._reply_timeout_s)
        if reply.pid in (pkt.Pid.DATA, pkt.Pid.END):
            # The tail of an image stream nobody is reading (the host that asked for it is
            # gone, or gave it up): let it run out, then ask again, once.
            self._drain()
            self._port.write(pkt.command(instruction, params, self._address))
            reply = self._read_packet(time.monotonic() + self._reply_timeout_s)
        if reply.pid != pkt.Pid.ACK or not reply.payload:
            raise SensorProtocolError(
                f"expected an acknowledgement, got PID 0x{reply.pid:02X} "
                f"with {len(reply.payload)} payload bytes"
            )
        return reply.payload[0], reply.payload[1:]

    def _read_exact(self, size: int, deadline: float) -> bytes:
        data = bytearray()
        while len(data) < size:
            if time.monotonic() >= deadline:
                raise SensorTimeout(
                    f"the fingerprint sensor sent {len(data)} of {size} expected bytes "
                    "before the deadline: check its cable, power and baud rate"
                )
            chunk = self._port.read(size - len(data))
            data += chunk
        return bytes(data)

    def _read_packet(self, deadline: float) -> pkt.Packet:
        skipped = 0
        previous = -1
        while True:
            byte = self._read_exact(1, deadline)[0]
            if previous == 0xEF and byte == 0x01:
                break
            previous = byte
            skipped += 1
            if skipped > MAX_GARBAGE:
                raise SensorProtocolError(
                    f"no packet header in {MAX_GARBAGE} bytes from the sensor: "
                    "the line is noisy or the baud rate is wrong"
                )
        head = self._read_exact(7, deadline)
        address, _pid, length = struct.unpack(">IBH", head)
        if not 2 <= length <= pkt.MAX_LENGTH:
            self._dirty = True
            raise SensorProtocolError(f"length field {length} outside 2..{pkt.MAX_LENGTH}")
        body = self._read_exact(length, deadline)
        try:
            packet = pkt.decode(pkt.HEADER + head + body)
        except SensorProtocolError:
            self._dirty = True
            raise
        if address != self._address:
            raise SensorProtocolError(
                f"reply from address {address:08X}, expected {self._address:08X}"
            )
        return packet

    def _rows(self) -> Iterator[npt.NDArray[np.uint8]]:
        pending = bytearray()
        received = 0
        row_bytes = WIDTH // 2
        rows_out = 0
        # A data packet at 57600 baud takes ~25 ms; allow generously for slow links.
        per_packet_s = max(self._reply_timeout_s, 2.0)
        while True:
            packet = self._read_packet(time.monotonic() + per_packet_s)
            if packet.pid not in (pkt.Pid.DATA, pkt.Pid.END):
                raise SensorProtocolError(f"unexpected PID 0x{packet.pid:02X} in the image stream")
            received += len(packet.payload)
            if received > IMAGE_BYTES:
                raise SensorProtocolError(
                    f"image stream longer than the {IMAGE_BYTES} bytes of a 256x288 image"
                )
            pending += packet.payload
            while len(pending) >= row_bytes and rows_out < HEIGHT:
                yield _unpack_row(bytes(pending[:row_bytes]))
                del pending[:row_bytes]
                rows_out += 1
            if packet.pid == pkt.Pid.END:
                break
        if received != IMAGE_BYTES:
            raise SensorProtocolError(
                f"image stream ended after {received} of {IMAGE_BYTES} bytes: retake the capture"
            )
        self._dirty = False

    def _drain(self) -> None:
        """Discard what an abandoned image stream or a bad frame left on the line."""
        quiet_until = time.monotonic() + 0.1
        old_timeout = self._port.timeout
        self._port.timeout = 0.02
        try:
            while time.monotonic() < quiet_until:
                if self._port.read(4096):
                    quiet_until = time.monotonic() + 0.1
        finally:
            self._port.timeout = old_timeout
        self._port.reset_input_buffer()
        self._dirty = False


def _unpack_row(data: bytes) -> npt.NDArray[np.uint8]:
    return np.frombuffer(pkt.unpack_nibbles(data), dtype=np.uint8)
