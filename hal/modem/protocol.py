"""What an LTE modem can do for the firmware, and the link state it publishes.

Link state is event-driven: the driver turns unsolicited result codes
(registration changes, PDP context loss, modem reboot) into a new
:class:`LinkState` and calls every subscriber at once, so the uplink can react
the moment coverage returns instead of on its next poll.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Protocol


class Registration(IntEnum):
    """3GPP TS 27.007 <stat> of +CREG / +CEREG."""

    NOT_REGISTERED = 0
    HOME = 1
    SEARCHING = 2
    DENIED = 3
    UNKNOWN = 4
    ROAMING = 5

    @property
    def registered(self) -> bool:
        return self in (Registration.HOME, Registration.ROAMING)


ACCESS_TECHNOLOGIES = {
    0: "GSM",
    2: "UTRAN",
    3: "GSM/EGPRS",
    4: "UTRAN/HSDPA",
    5: "UTRAN/HSUPA",
    6: "UTRAN/HSPA",
    7: "E-UTRAN",
    8: "EC-GSM-IoT",
    9: "E-UTRAN NB-IoT",
    13: "E-UTRAN/NR",
}


@dataclass(frozen=True)
class LinkState:
    """Everything the uplink needs to know about the cellular link."""

    up: bool
    registration: Registration = Registration.UNKNOWN
    signal_dbm: int | None = None
    operator: str | None = None
    access_technology: str | None = None
    ip_address: str | None = None
    reason: str = ""
    """Why the state changed (the URC or command that caused it)."""


@dataclass(frozen=True)
class ModemIdentity:
    manufacturer: str
    model: str
    revision: str
    imei: str
    imsi: str | None = None


@dataclass(frozen=True)
class GnssFix:
    latitude: float
    longitude: float
    altitude_m: float | None
    hdop: float | None
    satellites: int | None
    utc: datetime | None


LinkListener = Callable[[LinkState], None]


class Modem(Protocol):
    def open(self) -> ModemIdentity:
        """Synchronise, switch echo off and numeric errors on, enable registration URCs."""
        ...

    def sim_status(self) -> str:
        """``READY``, ``SIM PIN``, ``SIM PUK``; SimError when absent or failed."""
        ...

    def unlock_sim(self, pin: str) -> None: ...

    def refresh(self) -> LinkState:
        """Poll signal, registration, operator and data context; publish if changed."""
        ...

    def connect(self, apn: str) -> LinkState:
        """Bring the data context up (when registered) and return the new state."""
        ...

    def gnss_fix(self) -> GnssFix:
        """The current position; NoGnssFix while the receiver has none."""
        ...

    def subscribe(self, listener: LinkListener) -> None: ...

    @property
    def link(self) -> LinkState: ...

    def close(self) -> None: ...
