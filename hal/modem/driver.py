"""Driver for 3GPP AT modems, with a dialect for vendor commands.

Link state is kept from two sources: what the driver polls (``refresh``,
``connect``) and what the modem says unprompted (registration URCs, PDP
context loss, ``RDY`` after a reboot). Every change is published to the
subscribers with the reason, so the uplink learns of coverage at once.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace

from hal.errors import CommandError, ModemError, ModemProtocolError, ModemTimeout
from hal.modem import parsers
from hal.modem.at import ATChannel
from hal.modem.dialects import Dialect
from hal.modem.protocol import (
    ACCESS_TECHNOLOGIES,
    GnssFix,
    LinkListener,
    LinkState,
    ModemIdentity,
    Registration,
)
from hal.serialport import SerialPort

log = logging.getLogger(__name__)


class AtModem:
    """An LTE modem on an AT port."""

    def __init__(
        self,
        port: SerialPort,
        dialect: Dialect,
        *,
        command_timeout_s: float = 5.0,
        sync_timeout_s: float = 10.0,
    ) -> None:
        self._sync_timeout = sync_timeout_s
        self._dialect = dialect
        self._timeout = command_timeout_s
        self._listeners: list[LinkListener] = []
        self._state_lock = threading.Lock()
        self._link = LinkState(up=False, reason="not opened")
        self.rebooted = threading.Event()
        self._channel = ATChannel(port, dialect.urc_prefixes, self._on_urc)

    @property
    def dialect(self) -> str:
        return self._dialect.name

    @property
    def link(self) -> LinkState:
        with self._state_lock:
            return self._link

    def subscribe(self, listener: LinkListener) -> None:
        self._listeners.append(listener)

    def send(self, command: str, timeout_s: float | None = None) -> list[str]:
        """Send a raw AT command (for diagnostics and dialect code)."""
        return self._channel.command(command, self._timeout if timeout_s is None else timeout_s)

    # -- Modem protocol --------------------------------------------------------------------

    def open(self) -> ModemIdentity:
        self._sync()
        self.send("ATE0")
        self.send("AT+CMEE=1")
        manufacturer = self._single("AT+CGMI")
        model = self._single("AT+CGMM")
        revision = self._single("AT+CGMR")
        imei = self._single("AT+CGSN")
        imsi: str | None
        try:
            imsi = self._single("AT+CIMI")
        except CommandError:
            imsi = None  # SIM locked or absent: the identity is still useful
        for command in ("AT+CREG=2", "AT+CEREG=2"):
            try:
                self.send(command)
            except CommandError:
                log.info("modem refuses %s; registration URCs limited", command)
        # URCs only report changes from now on: publish where we stand.
        try:
            self.refresh()
        except CommandError as exc:
            log.info("initial link poll failed: %s", exc)
        return ModemIdentity(manufacturer, model, revision, imei, imsi)

    def sim_status(self) -> str:
        lines = self.send("AT+CPIN?")
        if not lines:
            raise ModemProtocolError("AT+CPIN? returned no status line")
        return parsers.parse_cpin(lines[0])

    def unlock_sim(self, pin: str) -> None:
        if not pin.isdigit() or not 4 <= len(pin) <= 8:
            raise ValueError("a SIM PIN is 4 to 8 digits")
        self.send(f'AT+CPIN="{pin}"')

    def refresh(self) -> LinkState:
        csq = self.send("AT+CSQ")
        signal = parsers.csq_to_dbm(parsers.parse_csq(csq[0])[0]) if csq else None
        reg = self._registration()
        operator: str | None = None
        act: str | None = ACCESS_TECHNOLOGIES.get(reg.act) if reg.act is not None else None
        if reg.stat.registered:
            cops = self.send("AT+COPS?")
            if cops:
                operator, cops_act = parsers.parse_cops(cops[0])
                act = cops_act or act
        ip = self._dialect.context_ip(self.send) if reg.stat.registered else None
        state = LinkState(
            up=reg.stat.registered and ip is not None,
            registration=reg.stat,
            signal_dbm=signal,
            operator=operator,
            access_technology=act,
            ip_address=ip,
            reason="poll",
        )
        self._publish(state)
        return state

    def connect(self, apn: str) -> LinkState:
        state = self.refresh()
        if state.up:
            return state
        if not state.registration.registered:
            return state  # nothing to do until the network accepts us
        self._dialect.configure_context(self.send, apn)
        self._dialect.activate_context(self.send)
        return self.refresh()

    def gnss_fix(self) -> GnssFix:
        self._dialect.gnss_start(self.send)
        return self._dialect.gnss_fix(self.send)

    def close(self) -> None:
        self._channel.close()

    # -- internals ---------------------------------------------------------------------------

    def _sync(self) -> None:
        """Get an ``OK`` to a bare ``AT``: the modem may be booting or mid-garbage."""
        deadline = time.monotonic() + self._sync_timeout
        last: ModemError | None = None
        while time.monotonic() < deadline:
            try:
                self._channel.command("AT", 1.0)
                return
            except (ModemTimeout, CommandError) as exc:
                last = exc
        raise ModemTimeout(
            "the modem does not answer AT: check power, the USB cable and that the AT port "
            f"is the right one ({last})"
        )

    def _single(self, command: str) -> str:
        lines = self.send(command)
        if not lines:
            raise ModemProtocolError(f"{command} returned no information line")
        value = lines[0].strip()
        if ":" in value and value.startswith("+"):
            value = value.split(":", 1)[1].strip()
        return parsers.unquote(value)

    def _registration(self) -> parsers.RegistrationInfo:
        best: parsers.RegistrationInfo | None = None
        for command, prefix in (("AT+CEREG?", "+CEREG"), ("AT+CREG?", "+CREG")):
            try:
                lines = self.send(command)
            except CommandError:
                continue
            for line in lines:
                if line.startswith(prefix + ":"):
                    info = parsers.parse_registration(line, solicited=True)
                    if info.stat.registered:
                        return info
                    best = best or info
        return best or parsers.RegistrationInfo(stat=Registration.UNKNOWN)

    def _publish(self, state: LinkState) -> None:
        with self._state_lock:
            previous = self._link
            self._link = state
        if replace(previous, reason=state.reason) == state:
            return
        for listener in list(self._listeners):
            try:
                listener(state)
            except Exception:
                log.exception("link listener failed")

    def _on_urc(self, line: str) -> None:
        current = self.link
        if line == "RDY":
            self.rebooted.set()
            self._publish(LinkState(up=False, reason="modem rebooted (RDY)"))
        elif line.startswith(("+CREG:", "+CEREG:", "+CGREG:")):
            try:
                info = parsers.parse_registration(line, solicited=False)
            except ModemProtocolError:
                log.warning("unreadable registration URC ignored")
                return
            if info.stat.registered:
                act = ACCESS_TECHNOLOGIES.get(info.act) if info.act is not None else None
                self._publish(
                    replace(
                        current,
                        registration=info.stat,
                        access_technology=act or current.access_technology,
                        up=current.ip_address is not None,
                        reason=f"registration {info.stat.name.lower()}",
                    )
                )
            else:
                self._publish(
                    replace(
                        current,
                        up=False,
                        registration=info.stat,
                        ip_address=None,
                        reason=f"registration lost ({info.stat.name.lower()})",
                    )
                )
        elif self._dialect.is_context_lost(line):
            self._publish(replace(current, up=False, ip_address=None, reason="data context lost"))
        elif line.startswith("+CPIN:") and "READY" not in line:
            self._publish(replace(current, up=False, ip_address=None, reason=f"SIM: {line}"))
