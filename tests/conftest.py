"""Fixtures shared by the test suite: emulators started on real transports."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from hal.emulators.r30x import R30xEmulator
from hal.fingerprint.r30x import R30xSensor
from hal.serialport import SerialPort, open_serial
from wire.record import CheckRecord, Face, Finger, Gnss, uuid7

if TYPE_CHECKING:
    from central.pgserver import PostgresServer

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # the labgrid environment runs tests/hil only, without Hypothesis
    pass
else:
    # Property tests assert what the parsers do, not how fast the machine is: a CI runner
    # busy with something else must not fail them on Hypothesis's timing health checks.
    settings.register_profile(
        "hotspot", deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
    settings.load_profile("hotspot")


CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (which cannot download a browser here), one per
    test module: the officer interface's and the console's browser tests share it."""
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is not installed: './dev test' installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        yield chromium
        chromium.close()


def _ramp() -> np.ndarray:
    return np.tile(np.arange(256, dtype=np.uint8), (288, 1))


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A real PostgreSQL (Debian's), made in a temporary folder and started on a free
    loopback port once per test session; tests take databases of their own on it
    (``new_database``)."""
    from central.pgserver import PostgresServer

    server = PostgresServer(tmp_path_factory.mktemp("postgres")).start()
    yield server
    server.stop()


@pytest.fixture
def r30x_emu() -> Iterator[R30xEmulator]:
    """A module serving a cheap test image (tests of the phantom source make their own)."""
    emu = R30xEmulator(image_source=_ramp).start()
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


@pytest.fixture
def make_record() -> Callable[..., CheckRecord]:
    """A factory of plausible check records (templates are placeholder bytes)."""

    def sample(fingers: int = 2, face: bool = True) -> CheckRecord:
        return CheckRecord(
            record_id=uuid7(),
            device_id="hh-0001",
            captured_ms=1_790_000_000_000,
            boot_id=b"B" * 16,
            monotonic_ms=123_456,
            operator_id="officer-17",
            fingers=tuple(
                Finger(position=i + 1, quality=70, template=bytes(270)) for i in range(fingers)
            ),
            face=Face(embedding=bytes(128), model_version="sface-int8-1", quality=88)
            if face
            else None,
            gnss=Gnss(46.05, 14.5, 295.0, 1.1),
            firmware_version="0.1.0",
            model_versions={"leader": "1"},
        )

    return sample
