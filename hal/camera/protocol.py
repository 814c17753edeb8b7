"""What a camera can do for the capture chain.

Frames are always ``(height, width, 3)`` uint8 arrays in **RGB** byte order.
The trap this avoids: libcamera's format names read backwards, so picamera2's
``"RGB888"`` delivers B,G,R bytes and ``"BGR888"`` delivers R,G,B. Drivers
own that conversion; nothing above the HAL ever guesses channel order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class CameraInfo:
    model: str
    width: int
    height: int


@dataclass(frozen=True)
class Frame:
    """One RGB frame and when it was taken (monotonic seconds)."""

    pixels: npt.NDArray[np.uint8]
    timestamp: float


class Camera(Protocol):
    def open(self) -> CameraInfo:
        """Configure the preview stream and start it."""
        ...

    def capture(self) -> Frame:
        """The newest frame of the preview stream."""
        ...

    def close(self) -> None: ...


def check_frame(pixels: object, width: int, height: int) -> npt.NDArray[np.uint8]:
    """Validate a frame from a backend; raise CameraError with the reason if it is wrong."""
    from hal.errors import CameraError

    if not isinstance(pixels, np.ndarray):
        raise CameraError(f"camera returned {type(pixels).__name__}, not an image array")
    if pixels.dtype != np.uint8:
        raise CameraError(f"camera returned dtype {pixels.dtype}, expected uint8")
    if pixels.shape != (height, width, 3):
        raise CameraError(f"camera returned shape {pixels.shape}, expected {(height, width, 3)}")
    return pixels
