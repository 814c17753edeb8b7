"""MAX17048 driver and emulator: register conformance, discharge model, alerts, NACK."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hal.emulators.i2cbus import EmulatedI2CBus, I2CBusServer
from hal.emulators.max17048 import Max17048Emulator, ocv
from hal.errors import BusError, FuelGaugeError
from hal.i2c import I2CTransport, SocketI2CBus
from hal.power.max17048 import REG_SOC, REG_VERSION, Max17048


@pytest.fixture
def gauge_emu() -> Max17048Emulator:
    return Max17048Emulator(soc_percent=50.0, load_ma=0.0)


@pytest.fixture
def bus(gauge_emu: Max17048Emulator) -> EmulatedI2CBus:
    bus = EmulatedI2CBus()
    bus.attach(0x36, gauge_emu)
    return bus


@pytest.fixture
def gauge(bus: EmulatedI2CBus) -> Max17048:
    return Max17048(I2CTransport(bus))


def test_registers_are_big_endian(bus: EmulatedI2CBus, gauge: Max17048) -> None:
    assert gauge.read_register(REG_VERSION) == 0x0012
    assert gauge.read_register(REG_SOC) == 50 * 256
    # The classic trap: an SMBus word read swaps the bytes of this chip's registers.
    assert bus.read_word_data(0x36, REG_SOC) == 0x0032
    assert bus.read_i2c_block_data(0x36, REG_SOC, 2) == [50, 0]


def test_read_reports_charge_voltage_and_rate(gauge: Max17048, gauge_emu: Max17048Emulator) -> None:
    assert gauge.open().startswith("MAX17048")
    status = gauge.read()
    assert status.soc_percent == pytest.approx(50.0, abs=0.01)
    assert status.voltage_v == pytest.approx(ocv(50.0), abs=0.001)
    assert status.rate_percent_per_h == 0.0
    assert not status.low and not status.charging


def test_discharge_model_drains_the_battery() -> None:
    emu = Max17048Emulator(soc_percent=40.0, capacity_mah=1000.0, load_ma=1000.0, time_scale=3600.0)
    bus = EmulatedI2CBus()
    bus.attach(0x36, emu)
    gauge = Max17048(I2CTransport(bus))
    first = gauge.read()
    assert first.rate_percent_per_h == pytest.approx(-100.0, abs=0.3)
    emu.set_soc(emu.soc)  # advance the clock
    import time

    time.sleep(0.1)  # 0.1 s at 3600x = 6 minutes at 1 C: about 10 %
    later = gauge.read()
    assert first.soc_percent - later.soc_percent == pytest.approx(10.0, abs=4.0)
    assert later.voltage_v < first.voltage_v


def test_low_battery_alert(gauge: Max17048, gauge_emu: Max17048Emulator) -> None:
    gauge.open()
    gauge.set_low_alert(20)
    gauge_emu.set_soc(25.0)
    assert not gauge.read().low
    gauge_emu.set_soc(15.0)
    assert gauge.read().low
    gauge.clear_alert()
    gauge_emu.set_soc(25.0)
    assert not gauge.read().low
    with pytest.raises(ValueError):
        gauge.set_low_alert(40)


def test_power_on_reset_is_nacked_and_succeeds(gauge: Max17048) -> None:
    gauge.power_on_reset()  # the chip NACKs the command by design
    assert gauge.read_register(REG_VERSION) == 0x0012


def test_nack_fault_is_a_bus_error(gauge: Max17048, gauge_emu: Max17048Emulator) -> None:
    gauge_emu.nack = True
    with pytest.raises(BusError, match="no acknowledge from device 0x36"):
        gauge.read()


def test_wrong_part_is_reported(bus: EmulatedI2CBus) -> None:
    class Other(Max17048Emulator):
        def _value(self, address: int) -> int:
            return 0x0042 if address == REG_VERSION else super()._value(address)

    bus.attach(0x37, Other())
    with pytest.raises(FuelGaugeError, match="not a MAX17048"):
        Max17048(I2CTransport(bus), 0x37).open()


def test_absent_device_nacks(bus: EmulatedI2CBus) -> None:
    with pytest.raises(BusError):
        Max17048(I2CTransport(bus), 0x40).read()


@pytest.fixture
def served(bus: EmulatedI2CBus, tmp_path: Path) -> Iterator[str]:
    server = I2CBusServer(bus, str(tmp_path / "i2c.sock")).start()
    yield server.path
    server.stop()


def test_gauge_over_the_rig_socket(served: str, gauge_emu: Max17048Emulator) -> None:
    gauge = Max17048(I2CTransport(SocketI2CBus(served)))
    assert gauge.read().soc_percent == pytest.approx(50.0, abs=0.01)
    gauge_emu.nack = True
    with pytest.raises(BusError):
        gauge.read()


def test_smbus2_messages_work_on_the_emulated_bus(bus: EmulatedI2CBus) -> None:
    smbus2 = pytest.importorskip("smbus2")
    write = smbus2.i2c_msg.write(0x36, [REG_VERSION])
    read = smbus2.i2c_msg.read(0x36, 2)
    bus.i2c_rdwr(write, read)
    assert list(read) == [0x00, 0x12]
