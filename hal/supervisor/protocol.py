"""What the supervisor microcontroller does for the main board.

It keeps working when Linux hangs or the battery is nearly empty: it power-cycles
a main board that stops its heartbeat, cuts the power on a low battery and
restores it with hysteresis, latches the case's tamper switch even with the
main board off, and drives the alerts an officer notices in the field. The
register map and framing are in :mod:`hal.supervisor.regmap`, shared with the
supervisor's own firmware (``supervisor/``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

EVENTS = ("button_short", "button_long", "tamper", "low_battery", "heartbeat_missed", "charger")
ALERTS = ("off", "ok", "warn", "error", "hit", "capture")
POWER_ACTIONS = ("shutdown", "restart")


@dataclass(frozen=True)
class SupervisorInfo:
    protocol: tuple[int, int]
    firmware: str
    board: int


@dataclass(frozen=True)
class SupervisorStatus:
    host_alive: bool
    shutdown_requested: bool
    on_battery: bool
    charging: bool
    low_battery: bool
    tamper_latched: bool
    update_ready: bool


@dataclass(frozen=True)
class TamperState:
    latched: bool
    count: int
    """How often the case has been opened (saturates at 255)."""
    last_unix_s: int
    """When it was last opened, by the supervisor's clock (0: never)."""


@dataclass(frozen=True)
class SupervisorBattery:
    millivolts: int
    percent: int
    charger: str
    """``none``, ``charging`` or ``full``."""


UpdateProgress = Callable[[int, int], None]


class Supervisor(Protocol):
    def open(self) -> SupervisorInfo:
        """Read the version; SupervisorVersionError for another major protocol version."""
        ...

    def status(self) -> SupervisorStatus: ...

    def events(self, clear: bool = True) -> frozenset[str]:
        """Pending events (names of :data:`EVENTS`); ``clear`` acknowledges them."""
        ...

    def heartbeat(self) -> None:
        """The main board is alive: the supervisor's watchdog starts counting again."""
        ...

    def configure(self, heartbeat_timeout_s: int, shutdown_grace_s: int) -> None: ...

    def wake_reason(self) -> str:
        """Why the main board was last powered on, in words."""
        ...

    def tamper(self) -> TamperState: ...

    def clear_tamper(self) -> None:
        """An administrator clears the latch (refused while the case is still open)."""
        ...

    def battery(self) -> SupervisorBattery: ...

    def power(self, action: str) -> None:
        """The main board is going down: ``shutdown`` (stay off) or ``restart``."""
        ...

    def alert(self, pattern: str, repeats: int = 1) -> None:
        """Play an alert pattern (:data:`ALERTS`); 0 repeats plays until ``off``."""
        ...

    def update(self, image: bytes, progress: UpdateProgress | None = None) -> str:
        """Send a firmware image, resuming an interrupted transfer; the new version."""
        ...
