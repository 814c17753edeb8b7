"""What differs between modem families: data context and GNSS commands, URCs.

The 3GPP core (CPIN, CSQ, CREG/CEREG, COPS) is shared; Quectel and SIMCom
each bring their own commands for the PDP context and the GNSS receiver.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from hal.errors import CommandError, NoGnssFix
from hal.modem import parsers
from hal.modem.protocol import GnssFix

Send = Callable[[str, float], list[str]]
"""Sends one AT command with a timeout and returns its reply body."""

COMMON_URCS = (
    "RDY",
    "+CFUN:",
    "+CPIN:",
    "+CREG:",
    "+CEREG:",
    "+CGREG:",
    "+CGEV:",
    "POWERED DOWN",
    "NORMAL POWER DOWN",
)


@dataclass(frozen=True)
class Dialect(ABC):
    name: str
    urc_prefixes: tuple[str, ...]

    @abstractmethod
    def configure_context(self, send: Send, apn: str) -> None: ...

    @abstractmethod
    def activate_context(self, send: Send) -> None: ...

    @abstractmethod
    def context_ip(self, send: Send) -> str | None: ...

    @abstractmethod
    def gnss_start(self, send: Send) -> None: ...

    @abstractmethod
    def gnss_fix(self, send: Send) -> GnssFix: ...

    @abstractmethod
    def is_context_lost(self, urc: str) -> bool: ...


def _check_apn(apn: str) -> str:
    if not apn or '"' in apn or not apn.isascii() or len(apn) > 100:
        raise ValueError(f"APN {apn!r} must be 1-100 ASCII characters without quotes")
    return apn


class Quectel(Dialect):
    """Quectel EC25 / EG25-G (QICSGP/QIACT, QGPS/QGPSLOC)."""

    def __init__(self) -> None:
        super().__init__("quectel", (*COMMON_URCS, "+QIURC:", "+QUSIM:", "+QIND:", "+QGPSURC:"))

    def configure_context(self, send: Send, apn: str) -> None:
        send(f'AT+QICSGP=1,1,"{_check_apn(apn)}","","",1', 5.0)

    def activate_context(self, send: Send) -> None:
        send("AT+QIACT=1", 150.0)  # the manual allows up to 150 s

    def context_ip(self, send: Send) -> str | None:
        return parsers.parse_qiact(send("AT+QIACT?", 5.0))

    def gnss_start(self, send: Send) -> None:
        try:
            send("AT+QGPS=1", 5.0)
        except CommandError as exc:
            if exc.code != 504:  # 504 = session already running
                raise

    def gnss_fix(self, send: Send) -> GnssFix:
        lines = send("AT+QGPSLOC=2", 5.0)
        if not lines:
            raise NoGnssFix("AT+QGPSLOC=2", None, "empty reply")
        return parsers.parse_qgpsloc(lines[0])

    def is_context_lost(self, urc: str) -> bool:
        return urc.startswith('+QIURC: "pdpdeact"')


class SimCom(Dialect):
    """SIMCom SIM7600 (CGDCONT/CGACT, CGPS/CGPSINFO)."""

    def __init__(self) -> None:
        super().__init__("simcom", (*COMMON_URCS, "+CGPS:", "+SIMCARD:", "PB DONE", "SMS DONE"))

    def configure_context(self, send: Send, apn: str) -> None:
        send(f'AT+CGDCONT=1,"IP","{_check_apn(apn)}"', 5.0)

    def activate_context(self, send: Send) -> None:
        send("AT+CGACT=1,1", 150.0)

    def context_ip(self, send: Send) -> str | None:
        if not parsers.parse_cgact(send("AT+CGACT?", 5.0)):
            return None
        lines = send("AT+CGPADDR=1", 5.0)
        return parsers.parse_cgpaddr(lines[0]) if lines else None

    def gnss_start(self, send: Send) -> None:
        try:
            send("AT+CGPS=1", 5.0)
        except CommandError:
            # SIMCom answers ERROR when the session already runs; check its state.
            lines = send("AT+CGPS?", 5.0)
            if not lines or not lines[0].startswith("+CGPS: 1"):
                raise

    def gnss_fix(self, send: Send) -> GnssFix:
        lines = send("AT+CGPSINFO", 5.0)
        if not lines:
            raise NoGnssFix("AT+CGPSINFO", None, "empty reply")
        fix = parsers.parse_cgpsinfo(lines[0])
        if fix is None:
            raise NoGnssFix("AT+CGPSINFO", 516, "Not fixed now")
        return fix

    def is_context_lost(self, urc: str) -> bool:
        return urc.startswith(("+CGEV: NW PDN DEACT", "+CGEV: ME PDN DEACT", "+CGEV: NW DEACT"))


DIALECTS: dict[str, Callable[[], Dialect]] = {"quectel": Quectel, "simcom": SimCom}
