"""The R30x driver against the pty emulator: capture, streaming, baud switch, every fault knob."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hal.emulators.r30x import R30xEmulator
from hal.errors import (
    CaptureFailed,
    HalError,
    NoFinger,
    SensorChecksumError,
    SensorError,
    SensorProtocolError,
    SensorTimeout,
)
from hal.fingerprint import r30x_packet as pkt
from hal.fingerprint.r30x import R30xSensor
from hal.serialport import SerialPort, open_serial


def gradient_image() -> np.ndarray:
    return np.tile(np.arange(256, dtype=np.uint8), (288, 1))


def test_open_reports_the_module_parameters(sensor: R30xSensor) -> None:
    info = sensor.open()
    assert (info.width, info.height, info.ppi, info.bits_per_pixel) == (256, 288, 508, 4)
    assert info.details["capacity"] == 200
    assert info.details["packet_size"] == 128
    assert info.details["baudrate"] == 57600


def test_capture_returns_the_served_image(sensor: R30xSensor, r30x_emu: R30xEmulator) -> None:
    r30x_emu.set_image_source(gradient_image)
    sensor.open()
    sensor.wait_finger(1.0)
    image = sensor.stream_image().collect()
    assert image.pixels.shape == (288, 256)
    assert np.array_equal(image.pixels, (gradient_image() >> 4) * 17)


def test_default_source_serves_a_fingerprint_without_setup() -> None:
    emu = R30xEmulator().start()
    port = open_serial(emu.path, 57600, 0.05)
    try:
        sensor = R30xSensor(port)
        sensor.open()
        sensor.wait_finger(30.0)  # "no finger" while the phantoms grow, then a finger
        pixels = sensor.stream_image().collect().pixels
        sensor.wait_finger(5.0)  # the next finger is ready at once
    finally:
        port.close()
        emu.stop()
    assert pixels.std() > 30  # ridges, not a blank frame


def test_stop_leaves_no_thread_behind_even_while_the_print_grows() -> None:
    """A process that stops its emulator and exits must not leave the warm-up computing in
    numpy during interpreter shutdown (a crash there fails a health check that passed)."""
    before = set(threading.enumerate())
    emu = R30xEmulator().start()
    emu.stop()  # at once: the default print is still growing
    assert [t for t in threading.enumerate() if t not in before] == []


def test_a_slow_image_source_is_no_finger_yet_not_a_silent_module(
    sensor: R30xSensor, r30x_emu: R30xEmulator
) -> None:
    """A source that takes longer than the driver's wait for a reply (a rig's phantom person
    grows a print the first time) must not make the module miss its GenImg reply: it says
    "no finger" until the image is ready, as a real module before the finger is down."""
    calls: list[None] = []

    def slow_gradient() -> np.ndarray:
        calls.append(None)
        time.sleep(1.5)  # past the driver's 1 s wait for a reply
        return gradient_image()

    r30x_emu.set_image_source(slow_gradient)
    sensor.open()
    sensor.wait_finger(10.0)
    pixels = sensor.stream_image().collect().pixels
    assert np.array_equal(pixels, (gradient_image() >> 4) * 17)
    assert len(calls) == 1  # the polls waited for the one image in production


def test_rows_arrive_before_the_last_byte() -> None:
    emu = R30xEmulator(realtime=True, baudrate=115200, image_source=gradient_image).start()
    port = open_serial(emu.path, 115200, 0.05)
    try:
        sensor = R30xSensor(port)
        sensor.open()
        sensor.wait_finger(1.0)
        started = time.monotonic()
        arrivals = [time.monotonic() - started for _ in sensor.stream_image()]
    finally:
        port.close()
        emu.stop()
    assert len(arrivals) == 288
    # The image takes ~3.5 s at 115200 baud; the first row is usable long before that.
    assert arrivals[0] < arrivals[-1] / 4
    assert arrivals[-1] > 2.0


@pytest.mark.parametrize("packet_size", [32, 64, 256])
def test_any_data_packet_size_reassembles_rows(packet_size: int) -> None:
    emu = R30xEmulator(packet_size=packet_size, image_source=gradient_image).start()
    port = open_serial(emu.path, 57600, 0.05)
    try:
        sensor = R30xSensor(port)
        assert sensor.open().details["packet_size"] == packet_size
        sensor.wait_finger(1.0)
        pixels = sensor.stream_image().collect().pixels
    finally:
        port.close()
        emu.stop()
    assert np.array_equal(pixels, (gradient_image() >> 4) * 17)


def test_baud_switch_to_115200(sensor: R30xSensor, r30x_emu: R30xEmulator) -> None:
    sensor.open()
    sensor.set_baudrate(115200)
    assert r30x_emu.baudrate == 115200
    assert sensor.read_sys_params().details["baudrate"] == 115200
    sensor.wait_finger(1.0)
    assert sensor.stream_image().collect().pixels.shape == (288, 256)


def test_baud_mismatch_is_a_timeout_not_a_hang(r30x_emu: R30xEmulator) -> None:
    port = open_serial(r30x_emu.path, 115200, 0.05)  # module still at 57600
    try:
        sensor = R30xSensor(port, reply_timeout_s=0.3)
        started = time.monotonic()
        with pytest.raises(SensorTimeout, match="baud rate"):
            sensor.open()
        assert time.monotonic() - started < 2.0
    finally:
        port.close()


def test_wrong_password_is_reported(r30x_port: SerialPort) -> None:
    with pytest.raises(SensorError, match="password") as info:
        R30xSensor(r30x_port, password=1234).open()
    assert info.value.code == 0x13


def test_led_on_r503_and_ignored_on_as608(sensor: R30xSensor, r30x_emu: R30xEmulator) -> None:
    sensor.set_led("error")
    assert r30x_emu.led_state == (0x02, 0x10, 0x01, 0x03)
    emu = R30xEmulator(model="AS608").start()
    port = open_serial(emu.path, 57600, 0.05)
    try:
        plain = R30xSensor(port)
        plain.set_led("ready")  # refused by the module, ignored by the driver
        plain.set_led("ok")
        assert plain.open().width == 256
    finally:
        port.close()
        emu.stop()
    with pytest.raises(ValueError):
        sensor.set_led("disco")


# -- fault knobs: each gives a typed error, quickly -----------------------------------------


def timed(fn: object) -> float:
    started = time.monotonic()
    fn()  # type: ignore[operator]
    return time.monotonic() - started


def test_no_finger_ends_at_the_deadline(sensor: R30xSensor, r30x_emu: R30xEmulator) -> None:
    r30x_emu.faults.no_finger = True
    started = time.monotonic()
    with pytest.raises(NoFinger, match=r"no finger placed within 0\.3 s"):
        sensor.wait_finger(0.3)
    assert 0.3 <= time.monotonic() - started < 1.5


def test_capture_failure(sensor: R30xSensor, r30x_emu: R30xEmulator) -> None:
    r30x_emu.faults.capture_fails = True
    with pytest.raises(CaptureFailed):
        sensor.wait_finger(1.0)


def test_silent_sensor_times_out(sensor: R30xSensor, r30x_emu: R30xEmulator) -> None:
    r30x_emu.faults.silent = True
    started = time.monotonic()
    with pytest.raises(SensorTimeout):
        sensor.open()
    assert time.monotonic() - started < 1.5


def test_bad_checksum(sensor: R30xSensor, r30x_emu: R30xEmulator) -> None:
    r30x_emu.faults.bad_checksum = True
    with pytest.raises(SensorChecksumError):
        sensor.open()


def test_garbled_reply(sensor: R30xSensor, r30x_emu: R30xEmulator) -> None:
    r30x_emu.faults.garble = True
    with pytest.raises(SensorChecksumError):
        sensor.open()


def test_dropped_bytes(sensor: R30xSensor, r30x_emu: R30xEmulator) -> None:
    r30x_emu.faults.drop_bytes = 3
    with pytest.raises((SensorTimeout, SensorProtocolError)):
        sensor.open()


def test_line_noise_is_survived(sensor: R30xSensor, r30x_emu: R30xEmulator) -> None:
    r30x_emu.faults.line_noise = 17
    assert sensor.open().width == 256
    sensor.wait_finger(1.0)
    assert sensor.stream_image().collect().pixels.shape == (288, 256)


def test_truncated_image_stream(sensor: R30xSensor, r30x_emu: R30xEmulator) -> None:
    r30x_emu.faults.truncate_image_after = 100
    sensor.open()
    sensor.wait_finger(1.0)
    stream = sensor.stream_image()
    rows = 0
    with pytest.raises((SensorTimeout, SensorProtocolError)):
        for _ in stream:
            rows += 1
    assert rows == 100  # what arrived was delivered before the error


def test_driver_recovers_after_a_fault_clears(sensor: R30xSensor, r30x_emu: R30xEmulator) -> None:
    r30x_emu.faults.truncate_image_after = 10
    sensor.open()
    sensor.wait_finger(1.0)
    with pytest.raises(HalError):
        sensor.stream_image().collect()
    r30x_emu.faults.truncate_image_after = None
    sensor.wait_finger(1.0)
    assert sensor.stream_image().collect().pixels.shape == (288, 256)


def test_a_new_host_process_opens_while_an_abandoned_upload_still_streams(
    r30x_emu: R30xEmulator,
) -> None:
    # The device service killed in the middle of an image upload, and started again: the
    # module is still sending the old image when the new process opens the port.
    first = open_serial(r30x_emu.path, 57600, 0.05)
    try:
        old = R30xSensor(first, reply_timeout_s=0.5)
        old.open()
        old.wait_finger(1.0)
        rows = iter(old.stream_image())
        for _ in range(20):
            next(rows)  # 20 of 288 rows read, then the host dies
    finally:
        first.close()
    second = open_serial(r30x_emu.path, 57600, 0.05)
    try:
        sensor = R30xSensor(second, reply_timeout_s=0.5)
        info = sensor.open()
        assert info.width == 256
        sensor.wait_finger(1.0)
        assert sensor.stream_image().collect().pixels.shape == (288, 256)
    finally:
        second.close()


def test_upimage_without_a_capture(sensor: R30xSensor) -> None:
    with pytest.raises(SensorError, match="capture a finger first"):
        sensor.stream_image()


# -- the driver's reader fuzzed with arbitrary bytes -------------------------------------------


class ScriptedPort:
    """A serial port that answers every write with fixed bytes (no timing)."""

    def __init__(self, reply: bytes) -> None:
        self.baudrate = 57600
        self.timeout: float | None = 0.0
        self._reply = reply
        self._buffer = b""

    def write(self, data: bytes) -> int:
        self._buffer = self._reply
        return len(data)

    def read(self, size: int = 1) -> bytes:
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out

    def reset_input_buffer(self) -> None:
        self._buffer = b""

    def close(self) -> None:
        pass


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.one_of(
        st.binary(max_size=400),
        st.binary(max_size=40).map(lambda b: pkt.HEADER + b"\xff\xff\xff\xff" + b),
        st.binary(min_size=1, max_size=30).map(lambda b: pkt.encode(pkt.Pid.ACK, b)),
    )
)
def test_arbitrary_replies_raise_only_typed_errors(reply: bytes) -> None:
    sensor = R30xSensor(ScriptedPort(reply), reply_timeout_s=0.01)
    try:
        sensor.open()
        sensor.wait_finger(0.0)
        sensor.stream_image().collect()
    except HalError:
        pass
