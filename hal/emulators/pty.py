"""A pseudo-terminal served by a background thread: the body of a UART emulator.

The client opens :attr:`PtyServer.path` like any serial port. The emulator
reads what the client writes from the master side, and can read the line
settings the client chose (``termios`` on the master reflects the slave's), so
it can stay silent on a baud-rate mismatch as real hardware does.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import termios
import threading
import time
import tty
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Final

log = logging.getLogger(__name__)

_BAUD_CONSTANTS: Final[dict[int, int]] = {
    getattr(termios, f"B{rate}"): rate
    for rate in (9600, 19200, 38400, 57600, 115200, 230400)
    if hasattr(termios, f"B{rate}")
}


class PtyServer(ABC):
    """Owns a pty pair and a thread that hands received bytes to :meth:`on_bytes`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._write_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"emu-{name}", daemon=True)

    # -- lifecycle --------------------------------------------------------------

    def start(self) -> PtyServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> PtyServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- for subclasses -----------------------------------------------------------

    @abstractmethod
    def on_bytes(self, data: bytes) -> None:
        """Called on the emulator thread with every chunk the client wrote."""

    def on_tick(self) -> None:  # noqa: B027 - an optional hook, empty by default
        """Called on the emulator thread about every 20 ms (timers, scripted events)."""

    def send(self, data: bytes, pace_baud: int | None = None) -> None:
        """Write to the client; with ``pace_baud``, at the speed of that line rate."""
        with self._write_lock:
            if pace_baud is None:
                self._write_all(data)
                return
            byte_time = 10.0 / pace_baud  # 8N1: ten bit times a byte
            chunk = 64
            for start in range(0, len(data), chunk):
                part = data[start : start + chunk]
                self._write_all(part)
                time.sleep(len(part) * byte_time)

    def client_baudrate(self) -> int | None:
        """The baud rate the client configured on its end, if it is a standard one."""
        try:
            attrs = termios.tcgetattr(self._master)
        except termios.error:
            return None
        return _BAUD_CONSTANTS.get(attrs[4])

    # -- internals ----------------------------------------------------------------

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                written = os.write(self._master, view)
            except BlockingIOError:
                time.sleep(0.001)
                continue
            except OSError:
                return  # the client is gone; real hardware would talk into the void
            view = view[written:]

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self._master], [], [], 0.02)
            except (OSError, ValueError):
                return
            if ready:
                try:
                    data = os.read(self._master, 4096)
                except OSError:
                    data = b""
                if data:
                    self._guard(self.on_bytes, data)
            self._guard(self.on_tick)

    def _guard(self, fn: Callable[..., None], *args: object) -> None:
        """An emulator bug must be loud but must not kill the device thread."""
        try:
            fn(*args)
        except Exception:
            log.exception("%s emulator failed handling input", self.name)
