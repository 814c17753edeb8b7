"""What the supervisor does when the main board or the battery fails, the case is opened, or
the officer presses the button: the real logic, driven through the driver, on a manual clock."""

from __future__ import annotations

import zlib

import pytest
from supervisor_fixtures import wired

from hal.errors import BusError, SupervisorRefused
from hal.i2c import I2CTransport
from hal.supervisor import regmap as rm
from hal.supervisor.rp2040 import Rp2040Supervisor
from supervisor import image
from supervisor.logic import BOOT_TIMEOUT_S, LONG_PRESS_MS, OFF_BEFORE_RESTART_MS


def test_a_main_board_that_stops_its_heartbeat_is_shut_down_and_power_cycled() -> None:
    emulator, driver, _bus = wired()
    driver.configure(heartbeat_timeout_s=10, shutdown_grace_s=3)
    driver.heartbeat()
    emulator.advance(9_000)
    assert emulator.board.host_power and not driver.status().shutdown_requested
    driver.heartbeat()  # still alive
    emulator.advance(10_500)  # then silent for longer than the timeout
    assert driver.status().shutdown_requested
    assert "heartbeat_missed" in driver.events(clear=False)
    assert emulator.board.host_power  # the grace period: a clean shutdown is still possible
    emulator.advance(3_000)
    assert not emulator.board.host_power  # cut
    emulator.advance(OFF_BEFORE_RESTART_MS)
    assert emulator.board.host_power  # and on again
    assert driver.wake_reason() == rm.WAKE_REASONS[rm.WAKE_WATCHDOG]


def test_a_main_board_that_never_comes_up_is_power_cycled_too() -> None:
    emulator, driver, _bus = wired()
    emulator.advance(BOOT_TIMEOUT_S * 1000 + 100)
    assert driver.status().shutdown_requested


def test_a_stuck_heartbeat_line_fires_the_watchdog_although_the_host_pets_it() -> None:
    emulator, driver, _bus = wired()
    driver.configure(heartbeat_timeout_s=10, shutdown_grace_s=1)
    driver.heartbeat()
    emulator.deaf_heartbeat = True
    for _ in range(12):
        driver.heartbeat()  # answered OK, never arrives
        emulator.advance(1_000)
    assert "heartbeat_missed" in driver.events(clear=False)
    assert not emulator.board.host_power  # asked to shut down, then cut after the grace


def test_tamper_while_running_raises_an_event_and_latches() -> None:
    emulator, driver, _bus = wired()
    emulator.board.tamper = True
    emulator.advance(20)
    assert "tamper" in driver.events()
    state = driver.tamper()
    assert state.latched and state.count == 1 and state.last_unix_s > 0
    with pytest.raises(SupervisorRefused, match="refused the value"):
        driver.clear_tamper()  # the case is still open
    emulator.board.tamper = False
    emulator.advance(20)
    driver.clear_tamper()
    assert not driver.tamper().latched and driver.tamper().count == 1


def test_tamper_while_the_main_board_is_off_is_reported_at_the_next_boot() -> None:
    emulator, driver, _bus = wired()
    driver.configure(heartbeat_timeout_s=60, shutdown_grace_s=1)
    driver.power("shutdown")
    emulator.advance(1_100)
    assert not emulator.board.host_power
    emulator.board.tamper = True  # opened on the shelf, closed again
    emulator.advance(20)
    emulator.board.tamper = False
    emulator.advance(20)
    emulator.board.button = True  # the next officer switches it on
    emulator.advance(100)
    emulator.board.button = False
    emulator.advance(100)
    assert emulator.board.host_power
    assert driver.wake_reason() == rm.WAKE_REASONS[rm.WAKE_BUTTON]
    assert driver.status().tamper_latched and "tamper" not in driver.events()


def test_the_hit_alert_plays_red_buzzer_and_vibration_then_stops() -> None:
    emulator, driver, _bus = wired()
    driver.alert("hit", repeats=2)
    emulator.advance(10_000)
    lit = [outputs for outputs in emulator.board.played if any(outputs)]
    expected = [step[1:] for step in rm.PATTERNS[rm.ALERT_HIT] if any(step[1:])]
    assert lit == expected * 2  # (red, green, buzzer, vibration), twice
    assert emulator.board.outputs == (0, 0, 0, 0)


def test_the_button_short_long_and_debounced() -> None:
    emulator, driver, _bus = wired()
    driver.configure(heartbeat_timeout_s=60, shutdown_grace_s=2)
    emulator.board.button = True
    emulator.advance(20)  # a bounce shorter than the debounce
    emulator.board.button = False
    emulator.advance(100)
    assert driver.events() == frozenset()
    emulator.board.button = True
    emulator.advance(300)
    emulator.board.button = False
    emulator.advance(100)
    assert driver.events() == frozenset({"button_short"})
    emulator.board.button = True
    emulator.advance(LONG_PRESS_MS + 100)
    assert driver.events() == frozenset({"button_long"})
    assert driver.status().shutdown_requested
    emulator.board.button = False
    emulator.advance(2_100)
    assert not emulator.board.host_power


def test_low_battery_cuts_and_restores_with_hysteresis() -> None:
    emulator, driver, _bus = wired()
    driver.configure(heartbeat_timeout_s=60, shutdown_grace_s=2)
    emulator.board.battery = 3300
    emulator.advance(6_000)  # five samples below the cut-off
    assert "low_battery" in driver.events() and driver.status().shutdown_requested
    emulator.advance(2_100)
    assert not emulator.board.host_power
    emulator.board.battery = 3600  # above the cut-off, below the restore level
    emulator.advance(3_000)
    assert not emulator.board.host_power
    emulator.board.button = True  # and the button cannot wake it on an empty battery
    emulator.advance(200)
    emulator.board.button = False
    emulator.advance(200)
    assert not emulator.board.host_power
    emulator.board.battery = 3750
    emulator.advance(1_100)
    assert emulator.board.host_power
    assert driver.wake_reason() == rm.WAKE_REASONS[rm.WAKE_BATTERY_RESTORED]


class CutAfter:
    """A bus that dies after ``writes`` writes to the supervisor (the cable is pulled)."""

    def __init__(self, bus: object, writes: int) -> None:
        self._bus, self._left = bus, writes

    def i2c_rdwr(self, *messages: object) -> None:
        if not getattr(messages[0], "flags", 1) & 1:
            self._left -= 1
            if self._left < 0:
                raise OSError(121, "Remote I/O error")
        self._bus.i2c_rdwr(*messages)  # type: ignore[attr-defined]

    def close(self) -> None:
        pass


def test_an_update_cut_halfway_resumes_and_completes() -> None:
    emulator, driver, bus = wired(realtime=True)  # the install happens on the board's own clock
    payload = image.pack(
        {"main.py": b"print('new')\n", "logic.mpy": bytes(range(256)) * 9}, (1, 1, 0)
    )
    cut = Rp2040Supervisor(I2CTransport(CutAfter(bus, 40)))  # type: ignore[arg-type]
    with pytest.raises(BusError):
        cut.update(payload)
    state = driver._call("update_status")
    halfway = int.from_bytes(state[1:5], "little")
    assert 0 < halfway < len(payload) and driver.open().firmware == "1.0.0"  # the old one runs
    sent: list[int] = []
    assert driver.update(payload, lambda done, total: sent.append(done)) == "1.1.0"
    assert sent[0] == halfway + rm.UPDATE_CHUNK  # resumed, not restarted
    emulator.stop()


def test_a_damaged_update_is_refused_and_the_old_firmware_stays() -> None:
    _emulator, driver, _bus = wired()
    payload = image.pack({"main.py": b"x = 1\n"}, (2, 0, 0))
    crc = zlib.crc32(payload)
    driver._call("update_begin", len(payload).to_bytes(4, "little") + crc.to_bytes(4, "little"))
    damaged = bytes((payload[0] ^ 0xFF,)) + payload[1:]
    for offset in range(0, len(damaged), rm.UPDATE_CHUNK):
        chunk = damaged[offset : offset + rm.UPDATE_CHUNK]
        frame = offset.to_bytes(4, "little") + bytes((len(chunk),))
        driver._call("update_data", frame + chunk.ljust(rm.UPDATE_CHUNK, b"\x00"))
    with pytest.raises(SupervisorRefused, match="does not match its CRC-32"):
        driver._call("update_commit", crc.to_bytes(4, "little"))
    assert driver.open().firmware == "1.0.0"


def test_an_install_cut_by_a_power_loss_is_finished_at_the_next_start(tmp_path: object) -> None:
    import os
    from pathlib import Path

    folder = Path(str(tmp_path))
    (folder / "logic.mpy").write_bytes(b"old logic")
    (folder / "main.py").write_bytes(b"old main")
    staged = folder / "update.bin"
    staged.write_bytes(image.pack({"logic.mpy": b"new logic", "main.py": b"new main"}, (1, 2, 0)))
    here = os.getcwd()
    os.chdir(folder)
    try:
        real_rename = os.rename
        calls = 0

        def cut(src: str, dst: str) -> None:
            nonlocal calls
            calls += 1
            if calls == 2:
                raise SystemExit("power cut")
            real_rename(src, dst)

        os.rename = cut  # type: ignore[assignment]
        with pytest.raises(SystemExit):
            image.install(str(staged))
        os.rename = real_rename
        assert (folder / image.JOURNAL).exists()  # half installed
        image.resume()  # what main.py does first at the next start
        assert (folder / "logic.mpy").read_bytes() == b"new logic"
        assert (folder / "main.py").read_bytes() == b"new main"
        assert not (folder / image.JOURNAL).exists()
    finally:
        os.chdir(here)


def test_images_that_are_not_images_are_refused() -> None:
    with pytest.raises(image.ImageError):
        image.read(b"HSUP\x09" + bytes(10))
    good = image.pack({"a.py": b"1"}, (1, 0, 0))
    with pytest.raises(image.ImageError):
        image.read(good[:-1])
    assert image.read(good) == ((1, 0, 0), {"a.py": b"1"})
