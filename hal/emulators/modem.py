"""Emulator of a Quectel EC25 or SIMCom SIM7600 AT port on a pseudo-terminal.

It keeps the state a modem has (echo, error mode, SIM, registration, signal,
operator, data context, GNSS) and answers the 3GPP and vendor commands the
driver uses, in the modem's own formats, including the traps: echo is on after
boot, errors are a bare ``ERROR`` until ``AT+CMEE`` is set, registration URCs
come only after ``AT+CREG=1/2``. Scenarios play a script of timed events (boot
URCs, a SIM PIN, no coverage, registration flaps, a PDP drop, no GNSS fix);
fault knobs let the rig garble or drop bytes, fail the SIM or lose the network.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from hal.emulators.modem_scenarios import SCENARIOS, Scenario
from hal.emulators.pty import PtyServer
from hal.errors import ConfigurationError

CME_TEXT = {
    3: "operation not allowed",
    4: "operation not supported",
    10: "SIM not inserted",
    11: "SIM PIN required",
    12: "SIM PUK required",
    13: "SIM failure",
    16: "incorrect password",
    30: "no network service",
    100: "unknown",
    504: "Session is ongoing",
    505: "Session not active",
    516: "Not fixed now",
}


@dataclass
class ModemFaults:
    garble: float = 0.0
    """Probability that a reply byte is replaced by a random byte."""
    drop: float = 0.0
    """Probability that a reply byte is lost."""
    silent: bool = False
    """The modem answers nothing (hung firmware)."""
    sim_failure: bool = False
    """The SIM fails: +CPIN? and SIM-dependent commands answer CME ERROR 13."""


@dataclass
class ModemState:
    echo: bool = True
    cmee: int = 0
    creg_n: int = 0
    cereg_n: int = 0
    sim: str = "READY"
    pin: str = "1234"
    stat: int = 1
    rssi: int = 20
    operator: str = "HOTSPOT NET"
    act: int = 7
    tac: str = "1A2B"
    cell: str = "0012ABCD"
    apn: str = ""
    pdp_active: bool = False
    ip: str = "10.64.12.7"
    gps_on: bool = False
    fix: tuple[float, float, float] | None = (46.0569, 14.5058, 295.0)


class ModemEmulator(PtyServer):
    """An AT modem on a pseudo-terminal."""

    def __init__(self, dialect: str = "quectel", scenario: str | Scenario = "default") -> None:
        super().__init__(f"modem-{dialect}")
        if dialect not in ("quectel", "simcom"):
            raise ConfigurationError(f"unknown modem dialect {dialect!r}; use quectel or simcom")
        self.dialect = dialect
        self.state = ModemState()
        self.faults = ModemFaults()
        self.pdp_drop_after: float | None = None
        self.commands: list[str] = []
        self._line = bytearray()
        self._events: list[tuple[float, Callable[[ModemEmulator], None]]] = []
        self._events_lock = threading.Lock()
        self._rng = os.urandom
        if isinstance(scenario, str) and scenario not in SCENARIOS:
            raise ConfigurationError(
                f"unknown modem scenario {scenario!r}; known: {', '.join(sorted(SCENARIOS))}"
            )
        setup = SCENARIOS[scenario] if isinstance(scenario, str) else scenario
        setup(self)

    # -- script ----------------------------------------------------------------------------

    def schedule(self, delay_s: float, action: Callable[[ModemEmulator], None]) -> None:
        with self._events_lock:
            self._events.append((time.monotonic() + delay_s, action))

    def on_tick(self) -> None:
        now = time.monotonic()
        with self._events_lock:
            due = [e for e in self._events if e[0] <= now]
            self._events = [e for e in self._events if e[0] > now]
        for _, action in sorted(due, key=lambda e: e[0]):
            action(self)

    def boot_urcs(self) -> None:
        urcs = ["RDY", "+CFUN: 1", f"+CPIN: {self.state.sim}"]
        if self.dialect == "quectel":
            urcs += ["+QUSIM: 1", "+QIND: PB DONE", "+QIND: SMS DONE"]
        else:
            urcs += ["SMS DONE", "PB DONE"]

        def announce(e: ModemEmulator) -> None:
            for line in urcs:
                e.urc(line)

        self.schedule(0.0, announce)

    def set_registration(self, stat: int) -> None:
        """Change registration as the network would, with the URCs the modem sends."""
        s = self.state
        if self.faults.sim_failure or s.sim != "READY":
            stat = 0
        if stat == s.stat:
            return
        s.stat = stat
        if stat not in (1, 5) and s.pdp_active:
            s.pdp_active = False
            self._context_lost()
        self._registration_urcs()

    def lose_registration(self) -> None:
        """Fault knob: the network is gone (tunnel, valley, jammer)."""
        self.state.rssi = 99
        self.set_registration(2)

    def reboot(self) -> None:
        """The modem resets itself: state back to power-on defaults, boot URCs again."""
        keep = (self.state.pin, self.state.fix)
        self.state = ModemState(pin=keep[0], fix=keep[1], stat=2)
        self.boot_urcs()
        self.schedule(0.2, lambda e: e.set_registration(1))

    def urc(self, line: str) -> None:
        self._reply(f"\r\n{line}\r\n")

    # -- wire ---------------------------------------------------------------------------------

    def on_bytes(self, data: bytes) -> None:
        for byte in data:
            if byte in (0x0D, 0x0A):
                if self._line:
                    command = self._line.decode("latin-1")
                    self._line.clear()
                    self._handle(command)
            elif len(self._line) < 1024:
                self._line.append(byte)

    def _reply(self, text: str) -> None:
        if self.faults.silent:
            return
        data = bytearray(text.encode("latin-1"))
        if self.faults.garble or self.faults.drop:
            noise = self._rng(len(data) * 2)
            out = bytearray()
            for i, byte in enumerate(data):
                r = noise[2 * i] / 255.0
                if r < self.faults.drop:
                    continue
                if noise[2 * i + 1] / 255.0 < self.faults.garble:
                    byte = noise[(2 * i + 7) % len(noise)]
                out.append(byte)
            data = out
        self.send(bytes(data))

    def _ok(self, *lines: str) -> None:
        body = "".join(f"\r\n{line}\r\n" for line in lines)
        self._reply(body + "\r\nOK\r\n")

    def _error(self, code: int) -> None:
        if self.state.cmee == 1:
            self._reply(f"\r\n+CME ERROR: {code}\r\n")
        elif self.state.cmee == 2:
            self._reply(f"\r\n+CME ERROR: {CME_TEXT.get(code, 'unknown')}\r\n")
        else:
            self._reply("\r\nERROR\r\n")

    # -- commands ------------------------------------------------------------------------------

    def _handle(self, raw: str) -> None:
        command = raw.strip()
        self.commands.append(command)
        if self.state.echo:
            self._reply(raw + "\r")
        upper = command.upper()
        if not upper.startswith("AT"):
            self._reply("\r\nERROR\r\n")
            return
        for pattern, handler in self._table():
            match = re.fullmatch(pattern, command, flags=re.IGNORECASE)
            if match:
                handler(match)
                return
        self._reply("\r\nERROR\r\n")

    def _table(self) -> list[tuple[str, Callable[[re.Match[str]], None]]]:
        common: list[tuple[str, Callable[[re.Match[str]], None]]] = [
            (r"AT", lambda m: self._ok()),
            (r"ATE([01])", self._ate),
            (r"ATI", lambda m: self._ok(*self._ati())),
            (r"AT\+CGMI", lambda m: self._ok(self._ati()[0])),
            (r"AT\+CGMM", lambda m: self._ok(self._ati()[1])),
            (r"AT\+CGMR", lambda m: self._ok(self._ati()[2].split(": ")[1])),
            (r"AT\+CGSN", lambda m: self._ok("861536030196001")),
            (r"AT\+CIMI", lambda m: self._needs_sim(lambda: self._ok("293410123456789"))),
            (r"AT\+CMEE=([012])", self._cmee),
            (r"AT\+CPIN\?", lambda m: self._cpin_query()),
            (r'AT\+CPIN="?(\d{4,8})"?', self._cpin_set),
            (r"AT\+CSQ", lambda m: self._ok(f"+CSQ: {self.state.rssi},99")),
            (r"AT\+CREG=([012])", lambda m: self._set_n("creg_n", m)),
            (r"AT\+CEREG=([012])", lambda m: self._set_n("cereg_n", m)),
            (r"AT\+CREG\?", lambda m: self._ok(self._reg_line("+CREG", self.state.creg_n, True))),
            (
                r"AT\+CEREG\?",
                lambda m: self._ok(self._reg_line("+CEREG", self.state.cereg_n, True)),
            ),
            (r"AT\+COPS\?", lambda m: self._cops()),
            (r"AT\+CFUN\?", lambda m: self._ok("+CFUN: 1")),
        ]
        if self.dialect == "quectel":
            common += [
                (r'AT\+QICSGP=1,1,"([^"]*)","[^"]*","[^"]*",\d', self._set_apn),
                (r"AT\+QIACT=1", lambda m: self._activate()),
                (r"AT\+QIACT\?", lambda m: self._qiact_query()),
                (r"AT\+QIDEACT=1", lambda m: self._deactivate()),
                (r"AT\+QGPS=1", lambda m: self._gps_on(504)),
                (r"AT\+QGPS\?", lambda m: self._ok(f"+QGPS: {int(self.state.gps_on)}")),
                (r"AT\+QGPSEND", lambda m: self._gps_off()),
                (r"AT\+QGPSLOC=2", lambda m: self._qgpsloc()),
            ]
        else:
            common += [
                (r'AT\+CGDCONT=1,"IP","([^"]*)"', self._set_apn),
                (r"AT\+CGACT=1,1", lambda m: self._activate()),
                (r"AT\+CGACT=0,1", lambda m: self._deactivate()),
                (r"AT\+CGACT\?", lambda m: self._ok(f"+CGACT: 1,{int(self.state.pdp_active)}")),
                (r"AT\+CGPADDR=1", lambda m: self._cgpaddr()),
                (r"AT\+CGPS=1", lambda m: self._gps_on(None)),
                (r"AT\+CGPS\?", lambda m: self._ok(f"+CGPS: {int(self.state.gps_on)},1")),
                (r"AT\+CGPSINFO", lambda m: self._cgpsinfo()),
            ]
        return common

    def _ati(self) -> tuple[str, str, str]:
        if self.dialect == "quectel":
            return ("Quectel", "EC25", "Revision: EC25EFAR06A06M4G")
        return ("SIMCOM INCORPORATED", "SIMCOM_SIM7600E-H", "Revision: LE20B04SIM7600M22")

    def _ate(self, m: re.Match[str]) -> None:
        self.state.echo = m.group(1) == "1"
        self._ok()

    def _cmee(self, m: re.Match[str]) -> None:
        self.state.cmee = int(m.group(1))
        self._ok()

    def _set_n(self, name: str, m: re.Match[str]) -> None:
        setattr(self.state, name, int(m.group(1)))
        self._ok()

    def _sim_error(self) -> int | None:
        if self.faults.sim_failure:
            return 13
        return {"READY": None, "SIM PIN": 11, "SIM PUK": 12}.get(self.state.sim, 10)

    def _needs_sim(self, then: Callable[[], None]) -> None:
        code = self._sim_error()
        if code is not None:
            self._error(code)
        else:
            then()

    def _cpin_query(self) -> None:
        if self.faults.sim_failure:
            self._error(13)
        elif self.state.sim == "ABSENT":
            self._error(10)
        else:
            self._ok(f"+CPIN: {self.state.sim}")

    def _cpin_set(self, m: re.Match[str]) -> None:
        if self.faults.sim_failure:
            self._error(13)
        elif self.state.sim != "SIM PIN":
            self._error(3)
        elif m.group(1) != self.state.pin:
            self._error(16)
        else:
            self.state.sim = "READY"
            self._ok()
            self.urc("+CPIN: READY")
            self.schedule(0.2, lambda e: e.set_registration(1))

    def _reg_line(self, prefix: str, n: int, solicited: bool) -> str:
        s = self.state
        head = f"{prefix}: {n}," if solicited else f"{prefix}: "
        if n >= 2 and s.stat in (1, 5):
            return f'{head}{s.stat},"{s.tac}","{s.cell}",{s.act}'
        return f"{head}{s.stat}"

    def _registration_urcs(self) -> None:
        if self.state.creg_n:
            self.urc(self._reg_line("+CREG", self.state.creg_n, False))
        if self.state.cereg_n:
            self.urc(self._reg_line("+CEREG", self.state.cereg_n, False))

    def _cops(self) -> None:
        s = self.state
        if s.stat in (1, 5):
            self._ok(f'+COPS: 0,0,"{s.operator}",{s.act}')
        else:
            self._ok("+COPS: 0")

    def _set_apn(self, m: re.Match[str]) -> None:
        self.state.apn = m.group(1)
        self._ok()

    def _activate(self) -> None:
        code = self._sim_error()
        if code is not None:
            self._error(code)
            return
        if self.state.stat not in (1, 5):
            self._error(30)
            return
        self.state.pdp_active = True
        self._ok()
        if self.pdp_drop_after is not None:
            self.schedule(self.pdp_drop_after, lambda e: e.drop_context())

    def drop_context(self) -> None:
        """The network tears the data context down."""
        if self.state.pdp_active:
            self.state.pdp_active = False
            self._context_lost()

    def _context_lost(self) -> None:
        if self.dialect == "quectel":
            self.urc('+QIURC: "pdpdeact",1')
        else:
            self.urc("+CGEV: NW PDN DEACT 1")

    def _deactivate(self) -> None:
        self.state.pdp_active = False
        self._ok()

    def _qiact_query(self) -> None:
        if self.state.pdp_active:
            self._ok(f'+QIACT: 1,1,1,"{self.state.ip}"')
        else:
            self._ok()

    def _cgpaddr(self) -> None:
        ip = self.state.ip if self.state.pdp_active else "0.0.0.0"
        self._ok(f'+CGPADDR: 1,"{ip}"')

    def _gps_on(self, busy_code: int | None) -> None:
        if self.state.gps_on:
            if busy_code is None:
                self._reply("\r\nERROR\r\n")
            else:
                self._error(busy_code)
            return
        self.state.gps_on = True
        self._ok()

    def _gps_off(self) -> None:
        if not self.state.gps_on:
            self._error(505)
            return
        self.state.gps_on = False
        self._ok()

    def _qgpsloc(self) -> None:
        s = self.state
        if not s.gps_on:
            self._error(505)
        elif s.fix is None:
            self._error(516)
        else:
            lat, lon, alt = s.fix
            now = time.gmtime()
            utc = time.strftime("%H%M%S", now) + ".0"
            date = time.strftime("%d%m%y", now)
            self._ok(f"+QGPSLOC: {utc},{lat:.5f},{lon:.5f},1.1,{alt:.1f},3,0.00,0.0,0.0,{date},09")

    def _cgpsinfo(self) -> None:
        s = self.state
        if not s.gps_on or s.fix is None:
            self._ok("+CGPSINFO: ,,,,,,,,")
            return
        lat, lon, alt = s.fix
        now = time.gmtime()
        self._ok(
            f"+CGPSINFO: {_ddmm(lat, 2)},{'N' if lat >= 0 else 'S'},"
            f"{_ddmm(lon, 3)},{'E' if lon >= 0 else 'W'},"
            f"{time.strftime('%d%m%y', now)},{time.strftime('%H%M%S', now)}.0,{alt:.1f},0.0,"
        )


def _ddmm(value: float, deg_digits: int) -> str:
    value = abs(value)
    degrees = int(value)
    minutes = (value - degrees) * 60
    return f"{degrees:0{deg_digits}d}{minutes:09.6f}"
