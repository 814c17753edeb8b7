"""The picamera2 driver against the emulated picamera2: shape, dtype and channel order."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import numpy as np
import pytest

from hal.camera.picamera2_driver import PICAMERA2_FORMAT, Picamera2Camera
from hal.camera.protocol import check_frame
from hal.emulators import camera as emulated
from hal.errors import CameraError, DeviceNotFound


def red() -> np.ndarray:
    frame = np.zeros((480, 640, 3), dtype=np.uint8)
    frame[..., 0] = 255
    return frame


@pytest.fixture
def fake_picamera2() -> Iterator[None]:
    saved = sys.modules.get("picamera2")
    emulated.install(red)
    yield
    emulated.EmulatedPicamera2.source = None
    emulated.EmulatedPicamera2.fail_next = 0
    if saved is None:
        sys.modules.pop("picamera2", None)
    else:
        sys.modules["picamera2"] = saved


def test_frames_are_rgb_with_the_configured_shape(fake_picamera2: None) -> None:
    camera = Picamera2Camera(0, 640, 480)
    info = camera.open()
    frame = camera.capture()
    camera.close()
    assert info.model == "emulated-imx708"
    assert frame.pixels.shape == (480, 640, 3) and frame.pixels.dtype == np.uint8
    assert frame.pixels[..., 0].min() == 255 and frame.pixels[..., 2].max() == 0


def test_libcamera_names_read_backwards(fake_picamera2: None) -> None:
    from picamera2 import Picamera2

    cam = Picamera2()
    cam.configure(cam.create_preview_configuration(main={"size": (640, 480), "format": "RGB888"}))
    cam.start()
    assert cam.capture_array()[0, 0].tolist() == [0, 0, 255]  # "RGB888" is B,G,R in memory
    assert PICAMERA2_FORMAT == "BGR888"


def test_default_source_renders_a_face(fake_picamera2: None) -> None:
    emulated.EmulatedPicamera2.source = None
    camera = Picamera2Camera(0, 640, 480)
    camera.open()
    pixels = camera.capture().pixels
    assert 60 < pixels.mean() < 200 and pixels.std() > 30


def test_capture_failure_and_missing_camera(fake_picamera2: None) -> None:
    camera = Picamera2Camera(0, 640, 480)
    with pytest.raises(CameraError, match="not open"):
        camera.capture()
    camera.open()
    emulated.EmulatedPicamera2.fail_next = 1
    with pytest.raises(CameraError, match="timed out"):
        camera.capture()
    with pytest.raises(DeviceNotFound, match="camera 3"):
        Picamera2Camera(3).open()


def test_missing_picamera2_says_how_to_install() -> None:
    saved = sys.modules.pop("picamera2", None)
    sys.modules["picamera2"] = None  # type: ignore[assignment]  # makes the import fail
    try:
        with pytest.raises(DeviceNotFound, match="python3-picamera2"):
            Picamera2Camera().open()
    finally:
        del sys.modules["picamera2"]
        if saved is not None:
            sys.modules["picamera2"] = saved


@pytest.mark.parametrize(
    ("pixels", "reason"),
    [
        (np.zeros((480, 640, 3), dtype=np.float32), "dtype"),
        (np.zeros((480, 640), dtype=np.uint8), "shape"),
        (np.zeros((0, 0, 3), dtype=np.uint8), "shape"),
        ([1, 2, 3], "not an image"),
    ],
)
def test_malformed_frames_are_rejected(pixels: object, reason: str) -> None:
    with pytest.raises(CameraError, match=reason):
        check_frame(pixels, 640, 480)
