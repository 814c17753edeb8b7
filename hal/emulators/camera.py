"""Emulated camera: frames of the same shape, dtype and channel order as the driver's.

It stands in for picamera2 itself, so the emulated rig exercises the real
:class:`~hal.camera.picamera2_driver.Picamera2Camera` code: ``install()`` puts a
``picamera2`` module into ``sys.modules`` whose ``Picamera2`` class honours
``create_preview_configuration``/``configure``/``start``/``capture_array`` and
returns the bytes in the order libcamera would for the configured format.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

FrameSource = Callable[[], npt.NDArray[np.uint8]]
"""Returns one RGB frame (height, width, 3) each call."""


class EmulatedPicamera2:
    """The subset of ``picamera2.Picamera2`` that the driver uses."""

    source: FrameSource | None = None
    fail_next: int = 0

    def __init__(self, camera_num: int = 0) -> None:
        if camera_num != 0:
            raise IndexError("list index out of range")  # what picamera2 raises
        self.camera_properties = {"Model": "emulated-imx708", "PixelArraySize": (4608, 2592)}
        self._config: dict[str, Any] | None = None
        self._started = False

    def create_preview_configuration(self, main: dict[str, Any] | None = None) -> dict[str, Any]:
        main = dict(main or {})
        main.setdefault("size", (640, 480))
        main.setdefault("format", "XBGR8888")
        return {"use_case": "preview", "main": main}

    def configure(self, config: dict[str, Any]) -> None:
        self._config = config

    def start(self) -> None:
        if self._config is None:
            raise RuntimeError("Camera has not been configured")
        self._started = True

    def capture_array(self, name: str = "main") -> npt.NDArray[np.uint8]:
        if not self._started or self._config is None:
            raise RuntimeError("Camera not running")
        if EmulatedPicamera2.fail_next > 0:
            EmulatedPicamera2.fail_next -= 1
            raise RuntimeError("Camera frontend has timed out!")
        width, height = self._config["main"]["size"]
        rgb = _frame(width, height)
        fmt = self._config["main"]["format"]
        if fmt == "BGR888":  # memory order R,G,B
            return rgb
        if fmt == "RGB888":  # memory order B,G,R
            return np.ascontiguousarray(rgb[..., ::-1])
        if fmt == "XBGR8888":  # R,G,B,A
            return np.concatenate([rgb, np.full((height, width, 1), 255, np.uint8)], axis=2)
        if fmt == "XRGB8888":  # B,G,R,A
            bgr = rgb[..., ::-1]
            return np.concatenate([bgr, np.full((height, width, 1), 255, np.uint8)], axis=2)
        raise RuntimeError(f"format {fmt} not supported by the emulator")

    def stop(self) -> None:
        self._started = False

    def close(self) -> None:
        self._started = False


def _frame(width: int, height: int) -> npt.NDArray[np.uint8]:
    source = EmulatedPicamera2.source
    if source is None:
        from hal.phantoms.face import PhantomFaceSource

        source = PhantomFaceSource(size=(height, width)).next_frame
        EmulatedPicamera2.source = source
    frame = np.asarray(source(), dtype=np.uint8)
    if frame.shape != (height, width, 3):
        raise RuntimeError(f"frame source gave {frame.shape}, configured {(height, width, 3)}")
    return frame


def install(source: FrameSource | None = None) -> None:
    """Make ``import picamera2`` return the emulator (only if the real one is absent)."""
    existing = sys.modules.get("picamera2")
    if existing is not None and not getattr(existing, "__hotspot_emulated__", False):
        raise RuntimeError("the real picamera2 is loaded; refusing to shadow it")
    module = types.ModuleType("picamera2")
    module.Picamera2 = EmulatedPicamera2  # type: ignore[attr-defined]
    module.__hotspot_emulated__ = True  # type: ignore[attr-defined]
    sys.modules["picamera2"] = module
    EmulatedPicamera2.source = source
