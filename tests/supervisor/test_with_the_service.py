"""The device service with its supervisor, on the emulated rig: the HIT alert, the tamper
response, the heartbeat watchdog and the power button, end to end."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from central.watchlist import WatchlistEntry
from firmware.biometrics.fingerprint.pipeline import FingerprintAnalyzer
from hal.phantoms import fingerprint as fp
from hal.supervisor import regmap as rm
from hil.demo import PIN, RIGHT_INDEX, Cast, _finger
from hil.handheld import HandheldProcess
from hil.officer import Officer
from hil.rig import Rig
from hil.system import System
from supervisor.logic import HOST_ON


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        pytest.fail("mosquitto is not installed: './dev test' installs it")
    s = System.start(tmp_path_factory.mktemp("supervised"))
    wanted = fp.impression(_finger("C"), 0, difficulty=0.1)
    template = FingerprintAnalyzer().analyse(wanted).record(RIGHT_INDEX).encode()
    s.watchlist.add(WatchlistEntry("WL-SUP-1", "red-notice", ((RIGHT_INDEX, template),)))
    yield s
    s.stop()


Handheld = Callable[..., tuple[Rig, HandheldProcess, io.StringIO]]


@pytest.fixture
def handheld(system: System, tmp_path: Path) -> Iterator[Handheld]:
    made: list[tuple[Rig, HandheldProcess]] = []

    def make(**options: int) -> tuple[Rig, HandheldProcess, io.StringIO]:
        said = io.StringIO()
        rig = Rig(tmp_path / f"rig{len(made)}", supervisor_out=said).start()
        cast = Cast().warm()
        cast.person = "C"
        rig.fingerprint.set_image_source(cast.image)
        device = HandheldProcess(
            rig, system, f"hh-sup-{len(made)}", tmp_path / f"hh{len(made)}", **options
        )
        made.append((rig, device))
        device.enrol().start()
        return rig, device, said

    yield make
    for rig, device in made:
        device.stop()
        rig.stop()


def wait(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout_s:.0f} s"
        time.sleep(0.1)


def test_a_hit_plays_the_alert_on_the_supervisor(handheld: Handheld) -> None:
    rig, device, said = handheld()
    officer = Officer(device.url)
    officer.sign_in("officer-1", PIN)
    officer.check((RIGHT_INDEX,), "SUP-HIT")
    answer = officer.wait_for("answer", timeout_s=60)
    assert answer["line"]["outcome"] == "hit"
    hit = next(step[1:] for step in rm.PATTERNS[rm.ALERT_HIT] if any(step[1:]))
    wait(lambda: hit in rig.supervisor.board.played, 10, "the HIT alert")
    assert "[supervisor] HIT alert: red light, buzzer, vibration, 3 time(s)" in said.getvalue()
    officer.close()


def test_opening_the_case_wipes_the_key_and_seals_the_device(handheld: Handheld) -> None:
    rig, device, _said = handheld(heartbeat_timeout_s=12)
    officer = Officer(device.url)
    officer.sign_in("officer-1", PIN)
    rig.set_fault("modem.registration_loss", True)
    officer.check((RIGHT_INDEX,), "SUP-QUEUED")  # a queued check: sealed on the card
    officer.close()
    rig.set_fault("supervisor.tamper", True)
    assert device.process is not None
    assert device.process.wait(30) == 0  # the service wiped the key and stopped
    assert any("outbox key is wiped" in line for line in device.output)
    rig.set_fault("supervisor.tamper", False)
    device.start()  # systemd starts it again: sealed
    assert any("sealed: tamper" in line for line in device.output)
    import urllib.request

    with urllib.request.urlopen(device.url) as page:
        assert "This device was opened" in page.read().decode()
    device.stop()
    cleared = subprocess.run(
        [sys.executable, "-m", "hotspot", "device", "supervisor-clear-tamper", "--config",
         str(device.config_path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert cleared.returncode == 0 and "tamper latch cleared" in cleared.stdout
    device.start()
    again = Officer(device.url)
    again.sign_in("officer-1", PIN)
    assert again.status["backlog"] == 0  # the queued check went with the key
    again.close()


def test_a_main_board_whose_heartbeat_stops_is_power_cycled(handheld: Handheld) -> None:
    rig, device, _said = handheld(heartbeat_timeout_s=10, shutdown_grace_s=1)
    device.follow_power()
    wait(lambda: rig.supervisor.logic.first_heartbeat, 15, "the service's first heartbeat")
    rig.set_fault("supervisor.stuck_heartbeat", True)
    wait(lambda: device.power_cycles[:1] == [False], 30, "the power cut")
    rig.set_fault("supervisor.stuck_heartbeat", False)
    wait(lambda: device.power_cycles == [False, True], 15, "the power-on")
    assert rig.supervisor.logic.wake_reason == rm.WAKE_WATCHDOG

    def back() -> bool:
        return device.process is not None and any(x.startswith("ready:") for x in device.output)

    wait(back, 90, "the service's restart")


def test_a_service_restarted_after_a_crash_says_it_is_back_at_once(handheld: Handheld) -> None:
    """The supervisor counts from the last heartbeat before the crash, so the restarted
    service's first heartbeat must not wait a period (10 s of the watchdog's 60)."""
    rig, device, _said = handheld()
    logic = rig.supervisor.logic
    wait(lambda: logic.first_heartbeat, 15, "the service's first heartbeat")
    device.kill()
    before = logic.last_heartbeat
    device.start()
    wait(lambda: logic.last_heartbeat != before, 3, "the restarted service's first heartbeat")
    assert logic.host == HOST_ON and rig.supervisor.board.host_power  # not shutting down


def test_holding_the_power_button_shuts_the_service_down_cleanly(handheld: Handheld) -> None:
    rig, device, _said = handheld(heartbeat_timeout_s=12, shutdown_grace_s=2)
    rig.set_fault("supervisor.button", True)
    assert device.process is not None
    assert device.process.wait(30) == 0
    rig.set_fault("supervisor.button", False)
    assert any("shutting down: the officer held the power button" in x for x in device.output)
    wait(lambda: not rig.supervisor.board.host_power, 10, "the power cut after the grace")
