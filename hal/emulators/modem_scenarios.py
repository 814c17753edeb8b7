"""Scripted scenarios for the modem emulator: what the network and the SIM do, and when.

A scenario sets the emulator's initial state and schedules timed events on it
(registration found or lost, a PDP context torn down by the network).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hal.emulators.modem import ModemEmulator

Scenario = Callable[["ModemEmulator"], None]
"""Sets up the state and the timed events of a scenario."""


def scenario_default(emu: ModemEmulator) -> None:
    """Boots, SIM ready, registers on LTE after 0.2 s, GNSS has a fix."""
    emu.state.stat = 2
    emu.boot_urcs()
    emu.schedule(0.2, lambda e: e.set_registration(1))


def scenario_sim_pin(emu: ModemEmulator) -> None:
    """The SIM asks for its PIN (1234); registration follows the unlock."""
    emu.state.sim = "SIM PIN"
    emu.state.stat = 0
    emu.state.rssi = 18
    emu.boot_urcs()


def scenario_no_coverage(emu: ModemEmulator) -> None:
    """Searching for ever, no signal."""
    emu.state.stat = 2
    emu.state.rssi = 99
    emu.boot_urcs()


def scenario_coverage_returns(emu: ModemEmulator, after_s: float = 3.0) -> None:
    """No coverage at first (a valley), then the network is found."""
    scenario_no_coverage(emu)

    def found(e: ModemEmulator) -> None:
        e.state.rssi = 17
        e.set_registration(1)

    emu.schedule(after_s, found)


def scenario_flaps(emu: ModemEmulator, period_s: float = 0.3, count: int = 20) -> None:
    """Registration flaps between home and searching every ``period_s``."""
    scenario_default(emu)

    def flap_to(stat: int) -> Callable[[ModemEmulator], None]:
        return lambda e: e.set_registration(stat)

    for i in range(count):
        emu.schedule(0.4 + i * period_s, flap_to(2 if i % 2 == 0 else 1))


def scenario_pdp_drop(emu: ModemEmulator, after_s: float = 0.5) -> None:
    """The data context is dropped by the network shortly after each activation."""
    scenario_default(emu)
    emu.pdp_drop_after = after_s


def scenario_no_gnss(emu: ModemEmulator) -> None:
    """Indoors: the GNSS receiver never gets a fix."""
    scenario_default(emu)
    emu.state.fix = None


SCENARIOS: dict[str, Scenario] = {
    "default": scenario_default,
    "sim-pin": scenario_sim_pin,
    "no-coverage": scenario_no_coverage,
    "coverage-returns": scenario_coverage_returns,
    "flaps": scenario_flaps,
    "pdp-drop": scenario_pdp_drop,
    "no-gnss": scenario_no_gnss,
}
