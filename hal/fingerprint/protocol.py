"""What a fingerprint sensor can do, whatever its wire.

Two very different families sit behind this protocol: the R30x/AS608 UART
modules (4-bit 256x288 images that trickle in over 3.5-7 s) and the FAP 20/30
USB sensors behind closed vendor SDKs (8-bit frames delivered at once). The
common shape is an :class:`ImageStream` that yields rows as they arrive, so the
biometric pipeline can start before the last byte; a sensor that delivers a
whole frame simply yields all rows at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

ProgressCallback = Callable[[int, int], None]
"""Called with (rows received, rows expected) while an image streams in."""


@dataclass(frozen=True)
class SensorInfo:
    """What the sensor reports about itself."""

    model: str
    width: int
    height: int
    ppi: int
    bits_per_pixel: int
    details: dict[str, int | str] = field(default_factory=dict)


@dataclass(frozen=True)
class FingerImage:
    """A whole 8-bit grey fingerprint image (row-major, shape (height, width))."""

    pixels: npt.NDArray[np.uint8]
    ppi: int

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


class ImageStream:
    """Rows of one capture, in order, as they arrive from the sensor.

    Iterate to receive ``(row_index, row)`` pairs; or call :meth:`collect` to
    wait for the whole image. A stream can be consumed once.
    """

    def __init__(
        self,
        width: int,
        height: int,
        ppi: int,
        rows: Iterator[npt.NDArray[np.uint8]],
    ) -> None:
        self.width = width
        self.height = height
        self.ppi = ppi
        self._rows = rows
        self._consumed = False

    def __iter__(self) -> Iterator[tuple[int, npt.NDArray[np.uint8]]]:
        if self._consumed:
            raise RuntimeError("an ImageStream can be consumed only once")
        self._consumed = True
        yield from enumerate(self._rows)

    def collect(self, progress: ProgressCallback | None = None) -> FingerImage:
        """Wait for every row and return the whole image."""
        pixels = np.zeros((self.height, self.width), dtype=np.uint8)
        for index, row in self:
            pixels[index] = row
            if progress is not None:
                progress(index + 1, self.height)
        return FingerImage(pixels=pixels, ppi=self.ppi)


class FingerprintSensor(Protocol):
    """A fingerprint capture device."""

    def open(self) -> SensorInfo:
        """Connect, authenticate if the part needs it, and describe the sensor."""
        ...

    def wait_finger(self, timeout_s: float) -> None:
        """Block until a finger is imaged; raise NoFinger at the deadline."""
        ...

    def stream_image(self) -> ImageStream:
        """Start sending the last imaged finger; rows arrive as they are read."""
        ...

    def set_led(self, state: str) -> None:
        """Signal the officer: ``"ready"``, ``"busy"``, ``"ok"``, ``"error"`` or ``"off"``.

        Sensors without a light ignore the call.
        """
        ...

    def close(self) -> None:
        """Release the transport."""
        ...
