"""The seam for USB 500-ppi sensors (FAP 20/30) behind closed vendor SDKs.

Such sensors (Integrated Biometrics Columbo, SecuGen U20, HID U.are.U) speak
no documented wire protocol: their vendor's shared library is the interface.
A thin binding for each SDK implements :class:`VendorSdk`, and
:class:`VendorSdkSensor` makes it a :class:`~hal.fingerprint.FingerprintSensor`
that delivers 8-bit frames with their resolution in ppi. The emulator of this
seam is ``hal.emulators.fap_sdk``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from hal.errors import NoFinger, SensorProtocolError, SensorTimeout
from hal.fingerprint.protocol import ImageStream, SensorInfo


@dataclass(frozen=True)
class SdkDevice:
    model: str
    width: int
    height: int
    ppi: int


class VendorSdk(Protocol):
    def open(self) -> SdkDevice: ...

    def finger_present(self) -> bool: ...

    def capture(self, timeout_s: float) -> npt.NDArray[np.uint8] | None:
        """One 8-bit frame (height, width), or None when the SDK times out."""
        ...

    def set_led(self, state: str) -> None: ...

    def close(self) -> None: ...


class VendorSdkSensor:
    def __init__(self, sdk: VendorSdk, poll_interval_s: float = 0.05) -> None:
        self._sdk = sdk
        self._poll = poll_interval_s
        self._device: SdkDevice | None = None
        self._frame: npt.NDArray[np.uint8] | None = None

    def open(self) -> SensorInfo:
        self._device = self._sdk.open()
        d = self._device
        return SensorInfo(
            model=d.model, width=d.width, height=d.height, ppi=d.ppi, bits_per_pixel=8
        )

    def wait_finger(self, timeout_s: float) -> None:
        device = self._require()
        deadline = time.monotonic() + timeout_s
        while not self._sdk.finger_present():
            if time.monotonic() >= deadline:
                raise NoFinger(0x02, f"no finger placed within {timeout_s:.1f} s")
            time.sleep(self._poll)
        frame = self._sdk.capture(max(0.1, deadline - time.monotonic()))
        if frame is None:
            raise SensorTimeout("the sensor SDK did not deliver a frame in time")
        if frame.dtype != np.uint8 or frame.shape != (device.height, device.width):
            raise SensorProtocolError(
                f"SDK frame {frame.shape}/{frame.dtype} is not "
                f"{(device.height, device.width)}/uint8"
            )
        self._frame = frame

    def stream_image(self) -> ImageStream:
        device = self._require()
        if self._frame is None:
            raise NoFinger(0x15, "no image captured yet: call wait_finger first")
        frame, self._frame = self._frame, None
        rows: Iterator[npt.NDArray[np.uint8]] = iter(frame)
        return ImageStream(device.width, device.height, device.ppi, rows)

    def set_led(self, state: str) -> None:
        self._sdk.set_led(state)

    def close(self) -> None:
        self._sdk.close()

    def _require(self) -> SdkDevice:
        if self._device is None:
            raise SensorProtocolError("sensor not opened: call open() first")
        return self._device
