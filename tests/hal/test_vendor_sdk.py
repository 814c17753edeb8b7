"""The USB-sensor seam: a vendor SDK behind the FingerprintSensor protocol (FAP 20/30)."""

from __future__ import annotations

import numpy as np
import pytest

from hal.emulators.fap_sdk import FapSdkEmulator
from hal.errors import NoFinger, SensorProtocolError, SensorTimeout
from hal.fingerprint.vendor_sdk import VendorSdkSensor


@pytest.mark.parametrize(("level", "size"), [("FAP20", (400, 300)), ("FAP30", (500, 400))])
def test_frames_are_8_bit_with_their_resolution(level: str, size: tuple[int, int]) -> None:
    sensor = VendorSdkSensor(FapSdkEmulator(level))
    info = sensor.open()
    assert (info.height, info.width, info.ppi, info.bits_per_pixel) == (*size, 500, 8)
    sensor.wait_finger(1.0)
    rows = []
    image = sensor.stream_image().collect(lambda done, total: rows.append((done, total)))
    assert image.pixels.shape == size and image.pixels.dtype == np.uint8
    assert image.pixels.std() > 30
    assert rows[-1] == (size[0], size[0])


def test_no_finger_and_sdk_timeout() -> None:
    sdk = FapSdkEmulator()
    sensor = VendorSdkSensor(sdk, poll_interval_s=0.01)
    sensor.open()
    sdk.finger = False
    with pytest.raises(NoFinger):
        sensor.wait_finger(0.1)
    sdk.finger = True
    sdk.fail_capture = True
    with pytest.raises(SensorTimeout):
        sensor.wait_finger(0.1)
    with pytest.raises(NoFinger, match="wait_finger"):
        sensor.stream_image()


def test_wrong_frame_from_the_sdk_is_rejected() -> None:
    sdk = FapSdkEmulator("FAP20", source=lambda: np.zeros((10, 10), dtype=np.uint8))
    sensor = VendorSdkSensor(sdk)
    sensor.open()
    with pytest.raises(SensorProtocolError, match="not"):
        sensor.wait_finger(1.0)


def test_led_and_unopened_sensor() -> None:
    sdk = FapSdkEmulator()
    sensor = VendorSdkSensor(sdk)
    with pytest.raises(SensorProtocolError, match="open"):
        sensor.wait_finger(0.1)
    sensor.set_led("ready")
    assert sdk.led == "ready"
    with pytest.raises(ValueError):
        FapSdkEmulator("FAP99")
