"""Fixtures shared by the test suite: emulators started on real transports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hal.emulators.r30x import R30xEmulator
from hal.fingerprint.r30x import R30xSensor
from hal.serialport import SerialPort, open_serial


@pytest.fixture
def r30x_emu() -> Iterator[R30xEmulator]:
    emu = R30xEmulator().start()
    yield emu
    emu.stop()


@pytest.fixture
def r30x_port(r30x_emu: R30xEmulator) -> Iterator[SerialPort]:
    port = open_serial(r30x_emu.path, 57600, 0.05)
    yield port
    port.close()


@pytest.fixture
def sensor(r30x_port: SerialPort) -> R30xSensor:
    return R30xSensor(r30x_port, reply_timeout_s=0.5)
