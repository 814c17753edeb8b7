"""The supervisor's register protocol, spoken by the real driver to the real firmware logic."""

from __future__ import annotations

import contextlib
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from supervisor_fixtures import wired

from hal.errors import (
    BusError,
    HalError,
    SupervisorCrcError,
    SupervisorError,
    SupervisorVersionError,
)
from hal.i2c import I2CTransport
from hal.supervisor import regmap as rm
from hal.supervisor.rp2040 import Rp2040Supervisor
from supervisor.emulator import SupervisorEmulator
from supervisor.logic import Supervisor


def test_every_register_reads_back_what_was_written() -> None:
    emulator, driver, _bus = wired()
    info = driver.open()
    assert info.protocol == (rm.PROTOCOL_MAJOR, rm.PROTOCOL_MINOR) and info.firmware == "1.0.0"
    driver.configure(heartbeat_timeout_s=45, shutdown_grace_s=12)
    assert driver._u16("heartbeat_timeout") == 45 and driver._u16("shutdown_grace") == 12
    driver.set_clock(1_800_000_000)
    assert int.from_bytes(driver._call("rtc"), "little") in (1_800_000_000, 1_800_000_001)
    driver._call("low_battery", (3450).to_bytes(2, "little") + (3800).to_bytes(2, "little"))
    assert driver._call("low_battery") == (3450).to_bytes(2, "little") + (3800).to_bytes(
        2, "little"
    )
    battery = driver.battery()
    assert battery.millivolts == 3950 and 0 < battery.percent <= 100 and battery.charger == "none"
    status = driver.status()
    assert status.on_battery and not status.host_alive and not status.tamper_latched
    driver.heartbeat()
    assert driver.status().host_alive
    assert driver.wake_reason() == rm.WAKE_REASONS[rm.WAKE_COLD]
    assert driver.tamper().latched is False
    emulator.board.charging = rm.CHARGER_CHARGING
    emulator.advance(1100)
    assert driver.events() == frozenset({"charger"})
    assert driver.events() == frozenset()  # read once, cleared
    driver.alert("ok", 1)
    state = driver._call("update_status")
    assert state[0] == rm.UPDATE_IDLE


@pytest.mark.parametrize(
    ("register", "payload", "reason"),
    [
        (0x7E, b"", "register"),  # no such register
        (rm.REGISTERS["heartbeat"][0], b"", "access"),  # read of a write-only register
        (rm.REGISTERS["status"][0] | rm.WRITE, b"\x00\x00", "access"),  # write of a read-only one
        (rm.REGISTERS["heartbeat_timeout"][0] | rm.WRITE, b"\x05", "length"),
        (rm.REGISTERS["heartbeat_timeout"][0] | rm.WRITE, (5).to_bytes(2, "little"), "value"),
        (rm.REGISTERS["tamper_clear"][0] | rm.WRITE, b"\x00\x00\x00\x00", "code"),
        (rm.REGISTERS["alert"][0] | rm.WRITE, b"\x09\x01", "value"),
        (rm.REGISTERS["update_data"][0] | rm.WRITE, bytes(37), "order"),
    ],
)
def test_bad_commands_are_refused_with_their_reason(
    register: int, payload: bytes, reason: str
) -> None:
    emulator, _driver, bus = wired()
    transport = I2CTransport(bus)
    transport.write(emulator.address, rm.command(emulator.address, register, payload))
    answer = transport.read(emulator.address, 2)
    assert rm.RESULTS[answer[0]] == reason
    assert answer[1] == rm.crc8(bytes(((emulator.address << 1) | 1, register & 0x7F, answer[0])))


def test_a_command_with_a_bad_crc_is_not_applied() -> None:
    emulator, driver, bus = wired()
    frame = bytearray(
        rm.command(emulator.address, rm.REGISTERS["heartbeat_timeout"][0] | rm.WRITE, b"\x2c\x01")
    )
    frame[-1] ^= 0x01
    transport = I2CTransport(bus)
    transport.write(emulator.address, bytes(frame))
    assert rm.RESULTS[transport.read(emulator.address, 2)[0]] == "crc"
    assert driver._u16("heartbeat_timeout") == 60  # unchanged


def test_a_corrupted_response_is_a_typed_error() -> None:
    emulator, driver, _bus = wired()
    emulator.corrupt = True
    with pytest.raises(SupervisorCrcError, match="fails its CRC"):
        driver.status()
    emulator.corrupt = False
    emulator.nack = True
    with pytest.raises(BusError):
        driver.status()


def test_another_major_protocol_version_is_reported() -> None:
    emulator, driver, _bus = wired()
    real = emulator.logic._read

    def older(name: str, now_ms: int) -> bytes:
        data = real(name, now_ms)
        return bytes((rm.PROTOCOL_MAJOR + 1, *data[1:])) if name == "version" else data

    emulator.logic._read = older  # type: ignore[method-assign]
    with pytest.raises(SupervisorVersionError, match="supervisor-update"):
        driver.open()


@given(st.binary(max_size=64))
def test_any_bytes_sent_to_the_firmware_get_a_checked_answer(data: bytes) -> None:
    emulator = SupervisorEmulator(realtime=False)
    emulator.on_write(data)
    reply = emulator.on_read(64)
    assert reply[0] in (rm.RESULT_OK, *rm.RESULTS)


@given(st.binary(min_size=2, max_size=40))
def test_any_bytes_from_the_bus_raise_only_typed_errors(reply: bytes) -> None:
    class Garbage:
        def i2c_rdwr(self, *messages: object) -> None:
            for message in messages:
                if getattr(message, "flags", 0) & 1:
                    buf = message.buf  # type: ignore[attr-defined]
                    buf[:] = (reply * 8)[: len(buf)]

        def close(self) -> None:
            pass

    driver = Rp2040Supervisor(I2CTransport(Garbage()))  # type: ignore[arg-type]
    for call in (driver.open, driver.status, driver.battery, driver.tamper, driver.events):
        with contextlib.suppress(SupervisorError):
            call()


def test_the_fuzzed_driver_never_raises_anything_but_hal_errors() -> None:
    emulator, driver, _bus = wired()
    rng = random.Random(7)
    for _ in range(300):
        emulator.corrupt = rng.random() < 0.3
        emulator.nack = rng.random() < 0.1
        try:
            rng.choice([driver.status, driver.heartbeat, driver.battery, driver.events])()
        except HalError:
            continue


def test_the_logic_keeps_its_tamper_latch_across_its_own_restart() -> None:
    emulator, _driver, _bus = wired()
    emulator.board.tamper = True
    emulator.advance(50)
    emulator.board.tamper = False
    again = Supervisor(emulator.board, 0)  # the RP2040 restarts; flash keeps the state
    assert again.tamper_latched == 1 and again.tamper_count == 1
    emulator.board.state = emulator.board.state[:-1] + bytes((emulator.board.state[-1] ^ 1,))
    damaged = Supervisor(emulator.board, 0)  # a damaged record fails closed: latched
    assert damaged.tamper_latched == 1
