"""The device service's side of the supervisor microcontroller: heartbeat, events, alerts.

A thread pets the supervisor's heartbeat while the service is healthy (the
same verdict that pets systemd's watchdog), so a main board whose Linux or
service hangs is power-cycled by the supervisor, which records why. It reads
the supervisor's events each round and acts on them:

* **tamper** (the case opened while the device runs): the outbox key is wiped
  at once (its wrapping is deleted, so nothing sealed under it can be opened
  again), the service stops taking checks, and the officer is told;
* **button held** or a **shutdown request** (low battery, the watchdog): the
  service shuts down cleanly and tells the supervisor, which cuts the power
  after its grace period;
* a **low battery** is shown on the status bar.

At start, a tamper latched while the device was off keeps the outbox sealed:
the service does not open it until an administrator clears the latch
(``hotspot device supervisor-clear-tamper``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from hal.errors import HalError
from hal.supervisor.protocol import Supervisor

log = logging.getLogger(__name__)


class SupervisorWatch:
    def __init__(
        self,
        supervisor: Supervisor,
        *,
        healthy: Callable[[], bool],
        on_tamper: Callable[[], None],
        on_shutdown: Callable[[str], None],
        heartbeat_timeout_s: int = 60,
        shutdown_grace_s: int = 30,
    ) -> None:
        self._supervisor = supervisor
        self._healthy = healthy
        self._on_tamper = on_tamper
        self._on_shutdown = on_shutdown
        self._timeout_s = heartbeat_timeout_s
        self._grace_s = shutdown_grace_s
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="supervisor", daemon=True)
        self.beat = time.monotonic()
        self.low_battery = False
        self.shutting_down = False
        self.error: str | None = None
        """The last error talking to the supervisor, for the status bar (None when fine)."""

    def start(self) -> SupervisorWatch:
        with self._lock:
            self._supervisor.configure(self._timeout_s, self._grace_s)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    @property
    def period_s(self) -> float:
        return max(1.0, self._timeout_s / 6)

    def _run(self) -> None:
        # The first round at once, not a period later: a service restarted after a crash (the
        # supervisor still counting from the last heartbeat before it) must not spend ten of
        # the watchdog's sixty seconds waiting to say it is back.
        while True:
            self.beat = time.monotonic()
            try:
                self.round()
            except HalError as exc:
                self.error = type(exc).__name__
                log.warning("supervisor: %s", exc)
            if self._stop.wait(self.period_s):
                return

    def round(self) -> None:
        """One round: heartbeat (while healthy), then the events."""
        with self._lock:
            if self._healthy():
                self._supervisor.heartbeat()
            events = self._supervisor.events()
            status = self._supervisor.status()
        self.error = None
        self.low_battery = status.low_battery
        if "tamper" in events:
            log.error("supervisor: the case was opened; wiping the outbox key")
            self._on_tamper()
        reason = None
        if "button_long" in events:
            reason = "the officer held the power button"
        elif status.shutdown_requested:
            reason = "low battery" if status.low_battery else "the supervisor asked"
        if reason and not self.shutting_down:
            self.shutting_down = True
            self._on_shutdown(reason)

    def alert(self, pattern: str, repeats: int = 1) -> None:
        """Play an alert (a HIT: red light, buzzer and vibration); errors are only logged."""
        try:
            with self._lock:
                self._supervisor.alert(pattern, repeats)
        except HalError as exc:
            log.warning("supervisor alert %s: %s", pattern, exc)

    def power_off(self, restart: bool = False) -> None:
        """The service is down: the supervisor may cut the power after its grace period."""
        with self._lock:
            self._supervisor.power("restart" if restart else "shutdown")
