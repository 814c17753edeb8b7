"""AT command channel: one command at a time, unsolicited result codes on the side.

A reader thread owns the port's input. It splits the byte stream into lines
and sorts each line: the echo of the pending command is dropped; a final result
code (``OK``, ``ERROR``, ``+CME ERROR``) completes the pending command; a line
carrying the pending command's own prefix (``+CREG:`` while ``AT+CREG?`` runs)
is part of its reply; a line with a known URC prefix is handed to the URC
callback on a separate dispatcher thread (so a handler may block without
stalling the line); anything else belongs to the pending command's body.

Bytes are decoded as Latin-1, which cannot fail, so line noise turns into
replies that the parsers reject with a typed error, or into a missing final
result code, i.e. a :class:`~hal.errors.ModemTimeout` — never a crash.
"""

from __future__ import annotations

import contextlib
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from hal.errors import BusError, CommandError, ModemTimeout, NoGnssFix, SimError
from hal.modem.parsers import parse_cme_error
from hal.serialport import SerialPort

FINAL_ERROR = ("+CME ERROR:", "+CMS ERROR:")
FINAL_OTHER = {"ERROR", "NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE"}
MAX_LINE = 2048
"""A line longer than this without a terminator is noise and is dropped."""

UrcHandler = Callable[[str], None]


@dataclass
class _Pending:
    command: str
    prefix: str | None
    body: list[str] = field(default_factory=list)
    final: str | None = None
    done: threading.Event = field(default_factory=threading.Event)


BARE_REPLIES = {"+CGMI", "+CGMM", "+CGMR", "+CGSN", "+CIMI", "+GMI", "+GMM", "+GMR", "+GSN"}
"""Commands whose information lines carry no prefix (3GPP TS 27.007 sec. 5)."""


def reply_prefix(command: str) -> str | None:
    """``AT+CREG?`` -> ``+CREG``; ``AT+QGPSLOC=2`` -> ``+QGPSLOC``; ``ATI``, ``AT+CGSN`` -> None."""
    match = re.match(r"AT([+$^][A-Z0-9]+)", command.upper())
    if not match or match.group(1) in BARE_REPLIES:
        return None
    return match.group(1)


class ATChannel:
    """Serialises AT commands on one port and routes URCs."""

    def __init__(
        self,
        port: SerialPort,
        urc_prefixes: tuple[str, ...],
        on_urc: UrcHandler,
    ) -> None:
        self._port = port
        self._urc_prefixes = urc_prefixes
        self._on_urc = on_urc
        self._lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._pending: _Pending | None = None
        self._urcs: queue.Queue[str | None] = queue.Queue()
        self._closed = threading.Event()
        self._failure: str | None = None
        self._quiet_after_timeout = 0.0
        self.noise_lines = 0
        """Lines that were neither part of a reply nor a URC (line noise, late replies)."""
        self._reader = threading.Thread(target=self._read_loop, name="at-reader", daemon=True)
        self._dispatcher = threading.Thread(target=self._dispatch_loop, name="at-urc", daemon=True)
        self._reader.start()
        self._dispatcher.start()

    def command(self, command: str, timeout_s: float = 5.0) -> list[str]:
        """Send ``command`` and return its reply body (without the final ``OK``)."""
        with self._lock:
            if self._failure is not None:
                raise BusError(f"modem port failed: {self._failure}; restart the modem service")
            # After a timeout the modem may still be sending the old reply: let it finish.
            wait = self._quiet_after_timeout - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            pending = _Pending(command=command, prefix=reply_prefix(command))
            with self._state_lock:
                self._pending = pending
            try:
                self._port.write(command.encode("ascii") + b"\r")
            except (OSError, UnicodeEncodeError) as exc:
                raise BusError(f"cannot write {command!r} to the modem: {exc}") from exc
            finished = pending.done.wait(timeout_s)
            with self._state_lock:
                self._pending = None
            if not finished:
                self._quiet_after_timeout = time.monotonic() + 0.25
                raise ModemTimeout(
                    f"{command} got no final result code within {timeout_s:.1f} s: "
                    "the modem is busy, rebooting or the line is noisy"
                )
            final = pending.final or ""
            if final == "OK":
                return pending.body
            code, text = (
                parse_cme_error(final)
                if final.startswith(FINAL_ERROR) or final == "ERROR"
                else (None, final)
            )
            if code is not None and 10 <= code <= 18:
                raise SimError(command, code, text)
            if code == 516:
                raise NoGnssFix(command, code, text)
            raise CommandError(command, code, text)

    def close(self) -> None:
        self._closed.set()
        self._urcs.put(None)
        self._reader.join(timeout=2.0)
        self._dispatcher.join(timeout=2.0)

    # -- reader thread -----------------------------------------------------------------

    def _read_loop(self) -> None:
        buffer = bytearray()
        while not self._closed.is_set():
            try:
                # One byte (returns as soon as anything arrives), then whatever is waiting:
                # read(256) would sit out the port timeout on every short reply.
                chunk = self._port.read(1)
                waiting = int(getattr(self._port, "in_waiting", 0)) if chunk else 0
                if waiting:
                    chunk += self._port.read(waiting)
            except Exception as exc:
                self._failure = str(exc) or type(exc).__name__
                with self._state_lock:
                    if self._pending is not None:
                        self._pending.final = "ERROR"
                        self._pending.done.set()
                return
            if not chunk:
                continue
            buffer += chunk
            while True:
                cut = _line_end(buffer)
                if cut is None:
                    if len(buffer) > MAX_LINE:
                        buffer.clear()
                    break
                end, skip = cut
                raw = bytes(buffer[:end])
                del buffer[: end + skip]
                line = raw.decode("latin-1").strip(" \t\x00")
                if line:
                    self._route(line)

    def _route(self, line: str) -> None:
        with self._state_lock:
            pending = self._pending
            if pending is not None and not pending.done.is_set():
                if line == pending.command:
                    return  # echo (ATE1, or before our ATE0 took effect)
                if line == "OK" or line in FINAL_OTHER or line.startswith(FINAL_ERROR):
                    pending.final = line
                    pending.done.set()
                    return
                if pending.prefix and line.startswith(pending.prefix + ":"):
                    pending.body.append(line)
                    return
                if self._is_urc(line):
                    pass  # fall through to URC delivery
                elif pending.prefix is None:
                    pending.body.append(line)  # ATI, AT+CGSN...: bare information lines
                    return
                else:
                    self.noise_lines += 1  # neither ours nor a URC: late or garbled
                    return
        self._urcs.put(line)

    def _is_urc(self, line: str) -> bool:
        return line.startswith(self._urc_prefixes)

    def _dispatch_loop(self) -> None:
        while True:
            line = self._urcs.get()
            if line is None:
                return
            with contextlib.suppress(Exception):
                # A faulty handler must not stop URC delivery; drivers log in their handler.
                self._on_urc(line)


def _line_end(buffer: bytearray) -> tuple[int, int] | None:
    """Index of the first line terminator and its length (CRLF, CR or LF)."""
    for index, byte in enumerate(buffer):
        if byte in (0x0D, 0x0A):
            skip = (
                2 if byte == 0x0D and index + 1 < len(buffer) and buffer[index + 1] == 0x0A else 1
            )
            if byte == 0x0D and index + 1 == len(buffer):
                # A CR at the end of the buffer may be followed by LF in the next chunk;
                # treating it as a terminator now is still correct (the LF makes an empty line).
                skip = 1
            return index, skip
    return None
