"""Emulated vendor SDK of a USB FAP 20 (300x400) or FAP 30 (400x500) sensor at 500 ppi."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from hal.fingerprint.vendor_sdk import SdkDevice

FAP_SIZES = {"FAP20": (300, 400), "FAP30": (400, 500)}


class FapSdkEmulator:
    def __init__(
        self,
        level: str = "FAP30",
        source: Callable[[], npt.NDArray[np.uint8]] | None = None,
    ) -> None:
        if level not in FAP_SIZES:
            raise ValueError(f"unknown FAP level {level!r}; use one of {sorted(FAP_SIZES)}")
        self.width, self.height = FAP_SIZES[level]
        self.level = level
        self.finger = True
        self.fail_capture = False
        self.led = "off"
        self._source = source

    def open(self) -> SdkDevice:
        return SdkDevice(f"emulated-{self.level}", self.width, self.height, 500)

    def finger_present(self) -> bool:
        return self.finger

    def capture(self, timeout_s: float) -> npt.NDArray[np.uint8] | None:
        if self.fail_capture:
            return None
        if self._source is None:
            from hal.phantoms.fingerprint import PhantomFingerSource

            self._source = PhantomFingerSource(size=(self.height, self.width)).next_image
        return np.asarray(self._source(), dtype=np.uint8)

    def set_led(self, state: str) -> None:
        self.led = state

    def close(self) -> None:
        pass
