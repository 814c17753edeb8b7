"""The status bar's facts, and the device's telemetry, kept current by one thread.

Link state comes as the modem's events (published at once); the battery, the
backlog and the GNSS position are polled (the position less often: it costs
an AT command). A ``status`` event goes out whenever the snapshot changes,
so the browser is told, never asks. The same thread sends the telemetry
report every ``telemetry_s``, as soon as the link comes up, and when something
central would want to know at once has changed (:meth:`Status.notable`: the
battery by a tenth, charging, the link, the GNSS fix, the backlog, a fault),
never more often than every ``CHANGE_MIN_S``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from firmware.officer.events import EventHub
from firmware.officer.journal import Journal
from hal.errors import HalError
from hal.modem.protocol import LinkState, Modem
from hal.power.protocol import FuelGauge

log = logging.getLogger(__name__)

LOW_BATTERY_PERCENT = 15.0
CHANGE_MIN_S = 5.0
"""Reports on change at most this often: a flapping link must not flood the uplink."""


@dataclass(frozen=True)
class Status:
    training: bool
    link_up: bool = False
    operator: str | None = None
    signal_dbm: int | None = None
    technology: str | None = None
    battery_percent: float | None = None
    charging: bool = False
    backlog: int = 0
    oldest_ms: int | None = None
    """Creation time of the oldest check waiting for its answer."""
    gnss: tuple[float, float] | None = None
    faults: tuple[str, ...] = field(default_factory=tuple)
    """Devices that do not answer: 'fuel_gauge', 'modem', ..."""

    @property
    def battery_low(self) -> bool:
        return self.battery_percent is not None and self.battery_percent < LOW_BATTERY_PERCENT

    def notable(self) -> tuple[object, ...]:
        """What, when it changes, is worth a telemetry report before the period is up: the
        battery in tenths, charging, the link, whether a GNSS fix is held, the backlog, faults.
        (The signal's every dBm and the fix's every metre are not.)"""
        band = None if self.battery_percent is None else int(self.battery_percent // 10)
        return (
            band,
            self.charging,
            self.link_up,
            self.gnss is not None,
            self.backlog,
            self.faults,
        )

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["battery_low"] = self.battery_low
        data["faults"] = list(self.faults)
        data["gnss"] = list(self.gnss) if self.gnss else None
        return data


Telemetry = Callable[[], bool]
"""Send one telemetry report now; False when offline."""


class StatusMonitor:
    def __init__(
        self,
        hub: EventHub,
        journal: Journal,
        modem: Modem | None,
        fuel_gauge: FuelGauge | None,
        training: bool,
        telemetry: Telemetry | None = None,
        *,
        poll_s: float = 2.0,
        gnss_every_s: float = 15.0,
        telemetry_s: float = 60.0,
    ) -> None:
        self._hub, self._journal = hub, journal
        self._modem, self._gauge = modem, fuel_gauge
        self._telemetry = telemetry
        self._poll_s, self._gnss_every_s, self._telemetry_s = poll_s, gnss_every_s, telemetry_s
        self._lock = threading.Lock()
        self._status = Status(training=training)
        self._gnss: tuple[float, float] | None = None
        self._gnss_at = 0.0
        self._telemetry_at = 0.0
        self._reported: tuple[object, ...] | None = None
        """``Status.notable()`` as of the last report sent."""
        self._stop = threading.Event()
        self._wake = threading.Event()
        self.beat = time.monotonic()
        """When the loop last went round: the service's watchdog reads it."""
        self._thread = threading.Thread(target=self._run, name="status", daemon=True)
        if modem is not None:
            modem.subscribe(self._on_link)

    @property
    def status(self) -> Status:
        with self._lock:
            return self._status

    def start(self) -> StatusMonitor:
        self.refresh()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)

    def kick(self) -> None:
        """Something changed (a check queued, an answer came): look again now."""
        self._wake.set()

    def _on_link(self, state: LinkState) -> None:
        self._wake.set()
        if state.up:
            self._telemetry_at = 0.0  # report as soon as the uplink can

    def _run(self) -> None:
        while not self._stop.is_set():
            self.beat = time.monotonic()
            try:
                self.refresh()
                self._send_telemetry()
            except Exception:  # the status bar must never take the service down
                log.exception("status refresh failed")
            self._wake.wait(self._poll_s)
            self._wake.clear()

    def refresh(self) -> Status:
        faults: list[str] = []
        link = self._modem.link if self._modem is not None else LinkState(up=False)
        battery, charging = None, False
        if self._gauge is not None:
            try:
                reading = self._gauge.read()
                battery, charging = round(reading.soc_percent, 1), reading.charging
            except HalError:
                faults.append("fuel_gauge")
        now = time.monotonic()
        if self._modem is not None and now - self._gnss_at >= self._gnss_every_s:
            self._gnss_at = now
            try:
                fix = self._modem.gnss_fix()
                self._gnss = (round(fix.latitude, 5), round(fix.longitude, 5))
            except HalError:
                self._gnss = None
        count, oldest = self._journal.backlog()
        with self._lock:
            before = self._status
            self._status = Status(
                training=before.training,
                link_up=link.up,
                operator=link.operator,
                signal_dbm=link.signal_dbm,
                technology=link.access_technology,
                battery_percent=battery,
                charging=charging,
                backlog=count,
                oldest_ms=oldest,
                gnss=self._gnss,
                faults=tuple(faults),
            )
            changed = self._status != before
            status = self._status
        if changed:
            self._hub.publish("status", **status.as_dict())
        return status

    def _send_telemetry(self) -> None:
        if self._telemetry is None:
            return
        now = time.monotonic()
        status = self.status
        notable = status.notable()
        due = now - self._telemetry_at >= self._telemetry_s
        changed = (
            status.link_up  # offline, the report on link-up carries the change
            and notable != self._reported
            and now - self._telemetry_at >= CHANGE_MIN_S
        )
        if not (due or changed):
            return
        if self._telemetry():
            self._telemetry_at, self._reported = now, notable
