"""Emulator of an R30x / R503 / AS608 fingerprint module on a pseudo-terminal.

It answers the packet protocol byte for byte as the modules do (see
``shared/reference/devices.md`` section 1): VfyPwd, ReadSysPara, SetSysPara
(baud, security level, packet size), GenImg, UpImage with 4-bit data packets of
the configured size, HandShake/GetEcho, TemplateNum, GetRandomCode, SoftRst and
the R503 ring light. It stays silent when the client's baud rate differs from
the module's, as the real UART does. Finger images come from a pluggable
source; by default a finger is present whenever an image is asked for, so any
client library gets one without set-up.

Fault knobs (:class:`R30xFaults`) let the rig corrupt, drop or delay replies.
"""

from __future__ import annotations

import os
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hal.emulators.pty import PtyServer
from hal.errors import SensorChecksumError, SensorProtocolError
from hal.fingerprint import r30x_packet as pkt

ImageSource = Callable[[], npt.NDArray[np.uint8]]
"""Returns one 288x256 8-bit image each time a finger is imaged."""

WIDTH, HEIGHT = 256, 288


@dataclass
class R30xFaults:
    """What the rig can make the module do wrong. All off by default."""

    no_finger: bool = False
    """GenImg answers 'no finger' (0x02)."""
    capture_fails: bool = False
    """GenImg answers 'failed to collect image' (0x03)."""
    silent: bool = False
    """The module answers nothing (dead module, unplugged, wrong wiring)."""
    bad_checksum: bool = False
    """Every reply carries a wrong checksum."""
    garble: bool = False
    """One payload byte of every reply is flipped (the checksum no longer matches)."""
    line_noise: int = 0
    """Bytes of random noise sent before every reply (a good driver resynchronises)."""
    drop_bytes: int = 0
    """Bytes removed from the middle of every reply (the reply arrives short)."""
    truncate_image_after: int | None = None
    """Stop the image stream after this many data packets, without an end packet."""


def _default_source() -> ImageSource:
    # Imported lazily: the phantom generator costs a little start-up time.
    from hal.phantoms.fingerprint import PhantomFingerSource

    return PhantomFingerSource(fingers=4, seed=1).prepare().next_image


PRODUCE_JOIN_S = 30.0
"""How long ``stop`` waits for an image still being produced (growing the default print takes
a few hundred ms on a quiet machine, a person's first phantom about two seconds)."""
PRODUCE_WAIT_S = 0.2
"""How long GenImg waits for its image source before answering "no finger yet" (0x02). A real
module answers GenImg in sensor time (a few hundred ms at most) whatever comes next; a slow
source (a phantom that first has to grow) must not hold the reply past the driver's wait."""


class _Production:
    """One image being produced by a source in a thread of its own."""

    def __init__(self, source: ImageSource | None) -> None:
        self.source = source
        """The source asked; None for the default, built by the thread itself."""
        self.built: ImageSource | None = None
        self.image: npt.NDArray[np.uint8] | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, name="r30x-image", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            source = self.source
            if source is None:
                source = self.built = _default_source()
            self.image = np.asarray(source(), dtype=np.uint8)
        except BaseException as error:  # handed to GenImg's caller, as a synchronous call would
            self.error = error
        finally:
            self.done.set()


class R30xEmulator(PtyServer):
    """A fingerprint module served on a pseudo-terminal.

    GenImg asks the image source in a thread and answers "no finger" (0x02) while the image is
    not ready within :data:`PRODUCE_WAIT_S`, as a module does before the finger is down: the
    driver polls on until its deadline, and the image is served on the GenImg after it is done.
    So a slow source (the default one while its fingers grow, a rig's phantom person the first
    time) never makes the module miss its reply, and a fast one is served at once."""

    def __init__(
        self,
        *,
        model: str = "R503",
        address: int = pkt.DEFAULT_ADDRESS,
        password: int = 0,
        baudrate: int = 57600,
        packet_size: int = 128,
        capacity: int = 200,
        image_source: ImageSource | None = None,
        finger_present: Callable[[], bool] | None = None,
        realtime: bool = False,
    ) -> None:
        super().__init__(f"r30x-{model}")
        if packet_size not in pkt.PACKET_SIZES.values():
            raise ValueError(f"packet size {packet_size} is not one of 32, 64, 128, 256")
        self.model = model
        self.address = address
        self.password = password
        self.baudrate = baudrate
        self.packet_size = packet_size
        self.capacity = capacity
        self.security_level = 3
        self.faults = R30xFaults()
        self.realtime = realtime
        self.led_state: tuple[int, int, int, int] | None = None
        self.images_served = 0
        self._source = image_source
        self._finger_present = finger_present or (lambda: True)
        self._image: npt.NDArray[np.uint8] | None = None
        self._buffer = bytearray()
        self._lock = threading.Lock()
        self._production: _Production | None = None
        self._dropped: list[_Production] = []

    def start(self) -> R30xEmulator:
        if self._source is None:
            # Growing the default source's prints takes a few hundred ms: start on the first
            # image now, so the first GenImg finds it ready.
            self._produce()
        super().start()
        return self

    def stop(self) -> None:
        """Stop serving, and wait for an image still being produced too: a thread still growing
        a print in numpy while the interpreter shuts down is the kind that can crash a process
        on its way out (a health check that passed, then died, would roll a good release
        back)."""
        super().stop()
        with self._lock:
            productions = [*self._dropped, self._production]
        deadline = time.monotonic() + PRODUCE_JOIN_S
        for production in productions:
            if production is not None:
                production.thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def _produce(self) -> _Production:
        """The image in production, started from the current source if there is none."""
        with self._lock:
            if self._production is None:
                self._production = _Production(self._source)
            return self._production

    # -- configuration from the rig ------------------------------------------------

    def set_image_source(self, source: ImageSource) -> None:
        """Serve images from ``source`` from the next GenImg on (an image another source is
        still producing is dropped)."""
        with self._lock:
            self._source = source
            if self._production is not None:
                self._dropped = [p for p in self._dropped if not p.done.is_set()]
                self._dropped.append(self._production)
            self._production = None

    def set_finger_present(self, present: Callable[[], bool]) -> None:
        with self._lock:
            self._finger_present = present

    # -- PtyServer ---------------------------------------------------------------------

    def on_bytes(self, data: bytes) -> None:
        client_baud = self.client_baudrate()
        if client_baud is not None and client_baud != self.baudrate:
            return  # a UART at the wrong rate sees only framing errors: it says nothing
        self._buffer += data
        while True:
            start = self._buffer.find(pkt.HEADER)
            if start < 0:
                del self._buffer[:-1]
                return
            del self._buffer[:start]
            if len(self._buffer) < 9:
                return
            (length,) = struct.unpack(">H", self._buffer[7:9])
            if not 2 <= length <= pkt.MAX_LENGTH:
                del self._buffer[:2]
                continue
            if len(self._buffer) < 9 + length:
                return
            frame = bytes(self._buffer[: 9 + length])
            del self._buffer[: 9 + length]
            self._handle_frame(frame)

    # -- protocol --------------------------------------------------------------------------

    def _handle_frame(self, frame: bytes) -> None:
        try:
            packet = pkt.decode(frame)
        except SensorChecksumError:
            self._ack(0x01)
            return
        except SensorProtocolError:
            return
        if packet.address != self.address or packet.pid != pkt.Pid.COMMAND:
            return  # the module ignores packets for other addresses
        if not packet.payload:
            self._ack(0x01)
            return
        instruction, params = packet.payload[0], packet.payload[1:]
        handler = self._handlers().get(instruction)
        if handler is None:
            self._ack(0x01)
            return
        handler(params)

    def _handlers(self) -> dict[int, Callable[[bytes], None]]:
        ins = pkt.Instruction
        handlers: dict[int, Callable[[bytes], None]] = {
            ins.VFY_PWD: self._vfy_pwd,
            ins.READ_SYS_PARA: self._read_sys_para,
            ins.SET_SYS_PARA: self._set_sys_para,
            ins.GEN_IMG: self._gen_img,
            ins.UP_IMAGE: self._up_image,
            ins.HANDSHAKE: lambda _p: self._ack(0x00),
            ins.GET_ECHO: lambda _p: self._ack(0x55),
            ins.TEMPLATE_NUM: lambda _p: self._ack(0x00, b"\x00\x00"),
            ins.READ_INDEX_TABLE: lambda _p: self._ack(0x00, bytes(32)),
            ins.EMPTY: lambda _p: self._ack(0x00),
            ins.GET_RANDOM: lambda _p: self._ack(0x00, os.urandom(4)),
            ins.SOFT_RESET: self._soft_reset,
            ins.CHECK_SENSOR: lambda _p: self._ack(0x00),
        }
        if self.model.upper().startswith("R503"):
            handlers[ins.AURA_LED_CONFIG] = self._led
        return handlers

    def _vfy_pwd(self, params: bytes) -> None:
        if len(params) != 4:
            self._ack(0x01)
            return
        (given,) = struct.unpack(">I", params)
        self._ack(0x00 if given == self.password else 0x13)

    def _read_sys_para(self, _params: bytes) -> None:
        size_code = {v: k for k, v in pkt.PACKET_SIZES.items()}[self.packet_size]
        data = struct.pack(
            ">HHHHIHH",
            0x0000,
            0x0009,
            self.capacity,
            self.security_level,
            self.address,
            size_code,
            self.baudrate // 9600,
        )
        self._ack(0x00, data)

    def _set_sys_para(self, params: bytes) -> None:
        if len(params) != 2:
            self._ack(0x01)
            return
        number, value = params
        if number == pkt.SysParam.BAUD and 1 <= value <= 12:
            self._ack(0x00)  # acknowledged at the old rate, then the UART switches
            self.baudrate = 9600 * value
        elif number == pkt.SysParam.SECURITY_LEVEL and 1 <= value <= 5:
            self.security_level = value
            self._ack(0x00)
        elif number == pkt.SysParam.PACKET_SIZE and value in pkt.PACKET_SIZES:
            self.packet_size = pkt.PACKET_SIZES[value]
            self._ack(0x00)
        else:
            self._ack(0x1A)

    def _gen_img(self, _params: bytes) -> None:
        if self.faults.capture_fails:
            self._ack(0x03)
            return
        with self._lock:
            present = self._finger_present() and not self.faults.no_finger
        if not present:
            self._ack(0x02)
            return
        production = self._produce()
        if not production.done.wait(PRODUCE_WAIT_S):
            self._ack(0x02)  # still producing: "no finger yet"; the driver asks again
            return
        with self._lock:
            if self._production is production:
                self._production = None
                if production.built is not None:
                    self._source = production.built
        if production.error is not None:
            raise production.error
        image = production.image
        assert image is not None
        if image.shape != (HEIGHT, WIDTH):
            raise ValueError(f"image source gave shape {image.shape}, expected (288, 256)")
        self._image = image
        self.images_served += 1
        self._ack(0x00)

    def _up_image(self, _params: bytes) -> None:
        if self._image is None:
            self._ack(0x15)
            return
        self._ack(0x00)
        packed = pkt.pack_nibbles(self._image.tobytes())
        chunks = [packed[i : i + self.packet_size] for i in range(0, len(packed), self.packet_size)]
        limit = self.faults.truncate_image_after
        stream = bytearray()
        for index, chunk in enumerate(chunks):
            if limit is not None and index >= limit:
                break
            pid = pkt.Pid.END if index == len(chunks) - 1 else pkt.Pid.DATA
            stream += self._faulty(pkt.encode(pid, chunk, self.address))
        if not self.faults.silent:
            self.send(bytes(stream), pace_baud=self.baudrate if self.realtime else None)

    def _led(self, params: bytes) -> None:
        if len(params) != 4:
            self._ack(0x01)
            return
        self.led_state = (params[0], params[1], params[2], params[3])
        self._ack(0x00)

    def _soft_reset(self, _params: bytes) -> None:
        self._ack(0x00)
        self._image = None
        self.send(b"\x55")

    # -- replies and faults -----------------------------------------------------------

    def _ack(self, code: int, data: bytes = b"") -> None:
        if self.faults.silent:
            return
        frame = self._faulty(pkt.encode(pkt.Pid.ACK, bytes([code]) + data, self.address))
        self.send(frame)

    def _faulty(self, frame: bytes) -> bytes:
        faults = self.faults
        out = bytearray(frame)
        if faults.bad_checksum:
            out[-1] ^= 0xFF
        if faults.garble and len(out) > 11:
            out[9] ^= 0x5A
        if faults.drop_bytes:
            middle = len(out) // 2
            del out[middle : middle + faults.drop_bytes]
        if faults.line_noise:
            noise = bytes(b for b in os.urandom(faults.line_noise * 2) if b != 0xEF)
            out[0:0] = noise[: faults.line_noise]
        return bytes(out)
