"""Telemetry goes out on the period, on link-up, and when something notable changes."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from firmware.officer import status as status_mod
from firmware.officer.events import EventHub
from firmware.officer.status import StatusMonitor
from hal.errors import HalError
from hal.modem.protocol import LinkState
from hal.power.protocol import BatteryStatus


class Gauge:
    """The fuel gauge (hardware: a stand-in that reads what the test sets)."""

    def __init__(self) -> None:
        self.percent, self.rate = 86.0, -5.0

    def read(self) -> BatteryStatus:
        return BatteryStatus(self.percent, 3.9, self.rate, False)


class Modem:
    """The modem (hardware): a link the test raises and drops, no GNSS fix."""

    def __init__(self) -> None:
        self.link = LinkState(up=True, signal_dbm=-80)
        self.listeners: list[Callable[[LinkState], None]] = []

    def subscribe(self, listener: Callable[[LinkState], None]) -> None:
        self.listeners.append(listener)

    def gnss_fix(self) -> None:
        raise HalError("no fix")

    def set(self, link: LinkState) -> None:
        self.link = link
        for listener in self.listeners:
            listener(link)


class Backlog:
    """The journal's backlog count (the outbox's, in the service)."""

    def __init__(self) -> None:
        self.count = 0

    def backlog(self) -> tuple[int, int | None]:
        return self.count, None


def monitor_for(
    gauge: Gauge, modem: Modem, journal: Backlog, telemetry: Callable[[], bool]
) -> StatusMonitor:
    return StatusMonitor(
        EventHub(),
        journal,  # type: ignore[arg-type]
        modem,  # type: ignore[arg-type]
        gauge,  # type: ignore[arg-type]
        training=True,
        telemetry=telemetry,
        telemetry_s=3600.0,  # the period never comes due in these tests
    )


def tick(monitor: StatusMonitor) -> None:
    """One round of the status loop, without its thread."""
    monitor.refresh()
    monitor._send_telemetry()


def test_reports_on_the_period_on_link_up_and_on_notable_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(status_mod, "CHANGE_MIN_S", 0.0)
    gauge, modem, journal = Gauge(), Modem(), Backlog()
    sent: list[tuple[object, ...]] = []
    monitor: StatusMonitor

    def telemetry() -> bool:
        if not modem.link.up:
            return False
        sent.append(monitor.status.notable())
        return True

    monitor = monitor_for(gauge, modem, journal, telemetry)

    def reports() -> int:
        tick(monitor)
        return len(sent)

    assert reports() == 1  # the first report, at start
    assert reports() == 1  # nothing changed, the period is an hour
    gauge.percent = 82.0
    modem.link = LinkState(up=True, signal_dbm=-95)
    assert reports() == 1  # a little battery and a few dBm are not news
    gauge.percent = 69.0
    assert reports() == 2  # a tenth of the battery is
    gauge.rate = 20.0
    assert reports() == 3  # plugged in
    journal.count = 1
    assert reports() == 4  # a check waits for its answer
    modem.set(LinkState(up=False))
    journal.count = 2
    assert reports() == 4  # offline: nothing can go, nothing is tried
    modem.set(LinkState(up=True, signal_dbm=-90))
    assert reports() == 5  # link-up: at once, carrying what changed meanwhile
    assert sent[-1][4] == 2


def test_changes_are_reported_no_more_often_than_the_minimum_spacing() -> None:
    gauge, modem, journal = Gauge(), Modem(), Backlog()
    sent: list[int] = []
    monitor = monitor_for(gauge, modem, journal, lambda: sent.append(1) is None)
    tick(monitor)
    for count in range(1, 6):  # a backlog that changes every tick, within the spacing
        journal.count = count
        tick(monitor)
    assert len(sent) == 1
