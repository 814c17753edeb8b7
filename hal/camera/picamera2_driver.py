"""Driver for the Raspberry Pi camera through picamera2 (Debian ``python3-picamera2``).

picamera2 exists only on the Pi (it needs libcamera's Python bindings), so it
is imported when the camera is opened, never at module import. We request the
``BGR888`` format, whose bytes are R,G,B in memory — the HAL's RGB order — so
frames need no channel swap.
"""

from __future__ import annotations

import time
from typing import Any

from hal.camera.protocol import CameraInfo, Frame, check_frame
from hal.errors import CameraError, DeviceNotFound

PICAMERA2_FORMAT = "BGR888"
"""libcamera name whose memory order is R,G,B (names read backwards)."""


class Picamera2Camera:
    def __init__(self, index: int = 0, width: int = 640, height: int = 480) -> None:
        self._index = index
        self._width = width
        self._height = height
        self._cam: Any = None

    def open(self) -> CameraInfo:
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise DeviceNotFound(
                "picamera2 is not installed: on the handheld run "
                "'sudo apt install python3-picamera2', elsewhere use the emulated camera"
            ) from exc
        try:
            cam = Picamera2(camera_num=self._index)
            config = cam.create_preview_configuration(
                main={"size": (self._width, self._height), "format": PICAMERA2_FORMAT}
            )
            cam.configure(config)
            cam.start()
        except (RuntimeError, IndexError, OSError) as exc:
            raise DeviceNotFound(
                f"camera {self._index} cannot be opened: {exc}. Check the ribbon cable "
                "and that no other program uses the camera."
            ) from exc
        self._cam = cam
        model = str(getattr(cam, "camera_properties", {}).get("Model", "picamera2"))
        return CameraInfo(model=model, width=self._width, height=self._height)

    def capture(self) -> Frame:
        if self._cam is None:
            raise CameraError("camera is not open: call open() first")
        try:
            pixels = self._cam.capture_array("main")
        except RuntimeError as exc:
            raise CameraError(f"camera capture failed: {exc}") from exc
        return Frame(check_frame(pixels, self._width, self._height), time.monotonic())

    def close(self) -> None:
        if self._cam is not None:
            self._cam.stop()
            self._cam.close()
            self._cam = None
