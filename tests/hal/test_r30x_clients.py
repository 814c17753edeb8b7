"""Independent client libraries work unchanged against the fingerprint emulator.

adafruit-circuitpython-fingerprint and pyfingerprint were written against real
modules; if they accept the emulator, image upload included, the emulator is
faithful to the wire protocol and not merely to our own driver.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import serial

from hal.emulators.r30x import R30xEmulator

adafruit_fingerprint = pytest.importorskip("adafruit_fingerprint")
pyfingerprint_mod = pytest.importorskip("pyfingerprint.pyfingerprint")


def stripes() -> np.ndarray:
    image = np.zeros((288, 256), dtype=np.uint8)
    image[:, ::4] = 255
    image[100:110, :] = 128
    return image


def test_adafruit_library_reads_parameters_and_the_image() -> None:
    emu = R30xEmulator(image_source=stripes).start()
    uart = serial.Serial(emu.path, baudrate=57600, timeout=1)
    try:
        finger = adafruit_fingerprint.Adafruit_Fingerprint(uart)  # verifies password, sysparam
        assert finger.library_size == 200
        assert finger.data_packet_size == 2  # the size code: 128 bytes
        assert finger.get_image() == adafruit_fingerprint.OK
        data = finger.get_fpdata("image")
        emu.faults.no_finger = True
        assert finger.get_image() == adafruit_fingerprint.NOFINGER
    finally:
        uart.close()
        emu.stop()
    assert len(data) == 36864
    # The example decoder of the library: high nibble first.
    pixels = np.empty(73728, dtype=np.uint8)
    raw = np.array(data, dtype=np.uint8)
    pixels[0::2] = raw & 0xF0
    pixels[1::2] = (raw & 0x0F) << 4
    assert np.array_equal(pixels.reshape(288, 256), stripes() & 0xF0)


def test_pyfingerprint_downloads_a_bitmap(tmp_path: Path) -> None:
    from PIL import Image

    emu = R30xEmulator(image_source=stripes).start()
    try:
        sensor = pyfingerprint_mod.PyFingerprint(emu.path, 57600, 0xFFFFFFFF, 0x00000000)
        assert sensor.verifyPassword()
        assert sensor.getStorageCapacity() == 200
        assert sensor.readImage()
        target = tmp_path / "finger.bmp"
        sensor.downloadImage(str(target))
        emu.faults.no_finger = True
        assert not sensor.readImage()
        sensor.__del__()
    finally:
        emu.stop()
    image = np.asarray(Image.open(target))
    assert image.shape == (288, 256)
    assert np.array_equal(image, (stripes() >> 4) * 17)
