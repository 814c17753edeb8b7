"""The officer model without a browser: PIN hashing, lockout, idle lock, sessions, the journal."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware.config import InterfaceSection
from firmware.officer.accounts import Accounts, SignInRefused
from firmware.officer.journal import QUEUED, SENT, CheckDetails, Journal
from firmware.officer.officers import add_officer
from firmware.officer.pin import PinError, hash_pin, is_hash, verify_pin
from firmware.outbox import Outbox
from wire.record import uuid7

KEY = bytes(range(32))


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def journal(tmp_path: Path, clock: Clock) -> tuple[Outbox, Journal]:
    box = Outbox(tmp_path / "outbox.db", KEY, "hh-1")
    return box, Journal(box, lambda _payload: None, clock)


def accounts(tmp_path: Path, clock: Clock, **settings: float) -> Accounts:
    _, j = journal(tmp_path, clock)
    officers = {"o-1": hash_pin("2468"), "o-2": hash_pin("1357")}
    return Accounts(j, officers, InterfaceSection(**settings), lambda: "op-1", clock)  # type: ignore[arg-type]


def test_pins_are_hashed_with_a_salt_and_verified() -> None:
    first, second = hash_pin("2468"), hash_pin("2468")
    assert first != second and is_hash(first) and "2468" not in first
    assert verify_pin("2468", first) and not verify_pin("2469", first)
    with pytest.raises(PinError):
        hash_pin("12")
    with pytest.raises(PinError):
        verify_pin("2468", "md5$abc")


def test_lockout_after_repeated_failures_survives_a_restart(tmp_path: Path) -> None:
    clock = Clock()
    desk = accounts(tmp_path, clock, pin_attempts=3, lockout_s=300)
    for left in (2, 1):
        with pytest.raises(SignInRefused) as refused:
            desk.sign_in("o-1", "0000")
        assert refused.value.attempts_left == left
    with pytest.raises(SignInRefused) as refused:
        desk.sign_in("o-1", "0000")
    assert refused.value.locked_until_ms == int((clock.now + 300) * 1000)
    again = accounts(tmp_path, clock, pin_attempts=3, lockout_s=300)  # the service restarted
    with pytest.raises(SignInRefused):
        again.sign_in("o-1", "2468")  # the right PIN, but locked out
    desk.sign_in("o-2", "1357")  # another officer is not affected
    clock.now += 301
    token, session = again.sign_in("o-1", "2468")
    assert token and session.officer == "o-1" and not session.locked


def test_an_unknown_officer_is_told_the_same_as_a_wrong_pin(tmp_path: Path) -> None:
    desk = accounts(tmp_path, Clock())
    with pytest.raises(SignInRefused) as unknown:
        desk.sign_in("nobody", "2468")
    with pytest.raises(SignInRefused) as wrong:
        desk.sign_in("o-1", "9999")
    assert str(unknown.value) == str(wrong.value)
    with pytest.raises(SignInRefused):
        desk.sign_in("../o-1", "2468")


def test_an_idle_session_locks_and_the_pin_unlocks_it(tmp_path: Path) -> None:
    clock = Clock()
    desk = accounts(tmp_path, clock, idle_lock_s=120)
    token, session = desk.sign_in("o-1", "2468")
    clock.now += 100
    assert desk.current(token) is not None and not desk.current(token).locked  # type: ignore[union-attr]
    clock.now += 100  # used 100 s ago: still open
    assert not desk.current(token, active=False).locked  # type: ignore[union-attr]
    clock.now += 30  # 130 s idle
    locked = desk.current(token)
    assert locked is not None and locked.locked and locked.shift == session.shift
    with pytest.raises(SignInRefused):
        desk.unlock(token, "1357")  # o-2's PIN does not open o-1's session
    assert not desk.unlock(token, "2468").locked
    assert not desk.current(token).locked  # type: ignore[union-attr]


def test_a_restarted_service_keeps_the_session_and_the_shift(tmp_path: Path) -> None:
    clock = Clock()
    token, session = accounts(tmp_path, clock).sign_in("o-1", "2468")
    again = accounts(tmp_path, clock)
    back = again.current(token)
    assert back is not None and back.shift.id == session.shift.id and not back.locked
    again.sign_out(token, end_shift=True)
    assert again.current(token) is None
    _, fresh = again.sign_in("o-1", "2468")
    assert fresh.shift.id != session.shift.id  # a new shift after the end of the last


def test_the_journal_lists_a_shift_s_checks_with_their_state(tmp_path: Path) -> None:
    clock = Clock()
    box, j = journal(tmp_path, clock)
    shift = j.open_shift("o-1", "op-1")
    details = CheckDetails("o-1", "RC-118", (2, 7), True, False)
    first, second = uuid7(), uuid7()
    box.put(first, b"sealed-1", journal=(shift.id, details.encode()))
    box.put(second, b"sealed-2", journal=(shift.id, details.encode()))
    box.sent(first)
    lines = {line.record_id: line for line in j.checks(shift.id)}
    assert lines[first].state == SENT and lines[second].state == QUEUED
    assert lines[first].details == details
    assert j.backlog()[0] == 2
    assert j.checks(j.open_shift("o-2", "op-1").id) == []


def test_an_officer_is_added_to_the_configuration_without_losing_its_comments(
    tmp_path: Path,
) -> None:
    path = tmp_path / "device.toml"
    path.write_text("# the handheld of crossing 7\n[device]\nemulated = true\n")
    assert not add_officer(path, "o-1", "scrypt$1$1$1$YQ==$Yg==")
    assert add_officer(path, "o-1", "scrypt$2$1$1$YQ==$Yg==")  # a new PIN replaces the old
    add_officer(path, "o-2", "scrypt$1$1$1$YQ==$Yg==")
    text = path.read_text()
    assert text.startswith("# the handheld of crossing 7")
    assert text.count("[officers]") == 1 and text.count('"o-1"') == 1
    assert "scrypt$2$" in text


def test_officer_add_from_the_command_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    from firmware import config as config_mod

    path = tmp_path / "device.toml"
    path.write_text("[device]\nemulated = true\n")

    def add(officer: str, pin: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hotspot", "device", "officer", "add", "--config", str(path),
             officer, "--pin-stdin"],
            input=pin + "\n", capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    done = add("o-7", "86420")
    assert done.returncode == 0 and "added officer o-7" in done.stdout
    officers = config_mod.load(path, emulated=True).officers
    assert verify_pin("86420", officers["o-7"])
    refused = add("o 7", "86420")
    assert refused.returncode == 2 and "is not an officer id" in refused.stderr
    short = add("o-8", "12")
    assert short.returncode == 2 and "nothing was changed" in short.stderr
    assert "o-8" not in path.read_text()


@pytest.mark.parametrize(
    ("error", "code"),
    [
        ("NoFinger", "no_finger"),
        ("CaptureFailed", "bad_image"),
        ("SensorTimeout", "sensor_fault"),
        ("SecureElementStatus", "secure_element"),
        ("OutboxFull", "outbox_full"),
        ("FingerprintError", "bad_image"),
        ("ModemTimeout", "sensor_fault"),
        ("RuntimeError", "internal"),
    ],
)
def test_a_capture_error_reaches_the_screen_as_its_code(error: str, code: str) -> None:
    """The most specific kind wins (a sensor timeout is not a generic hardware fault only
    because it is one too); anything unknown is 'internal', never a traceback."""
    from firmware.biometrics.fingerprint.errors import FingerprintError
    from firmware.officer.screen import error_code
    from firmware.outbox import OutboxFull
    from hal import errors

    made = {
        "NoFinger": lambda: errors.NoFinger(2, "no finger"),
        "CaptureFailed": lambda: errors.CaptureFailed(3, "bad image"),
        "SensorTimeout": lambda: errors.SensorTimeout("no answer"),
        "SecureElementStatus": lambda: errors.SecureElementStatus(0x0F, "execution error"),
        "OutboxFull": lambda: OutboxFull("full"),
        "FingerprintError": lambda: FingerprintError("too dark"),
        "ModemTimeout": lambda: errors.ModemTimeout("no answer"),
        "RuntimeError": lambda: RuntimeError("bug"),
    }
    assert error_code(made[error]()) == code
