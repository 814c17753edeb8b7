"""What a fuel gauge tells the firmware."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class BatteryStatus:
    soc_percent: float
    voltage_v: float
    rate_percent_per_h: float
    """Positive while charging, negative while discharging."""
    low: bool
    """The gauge's state-of-charge alert has fired."""

    @property
    def charging(self) -> bool:
        return self.rate_percent_per_h > 0.1


class FuelGauge(Protocol):
    def open(self) -> str:
        """Check the part answers and is what we expect; return its description."""
        ...

    def read(self) -> BatteryStatus: ...

    def set_low_alert(self, percent: int) -> None:
        """Raise the alert when the charge falls below ``percent`` (1-32)."""
        ...
