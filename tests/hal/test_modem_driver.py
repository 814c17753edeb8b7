"""The AT modem driver against the emulator: both dialects, scenarios, URC events, faults."""

from __future__ import annotations

import contextlib
import queue
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hal.emulators.modem import ModemEmulator
from hal.errors import HalError, ModemError, ModemTimeout, NoGnssFix, SimError
from hal.modem.at import ATChannel
from hal.modem.dialects import DIALECTS
from hal.modem.driver import AtModem
from hal.modem.protocol import LinkState, Registration
from hal.serialport import open_serial


class Rig:
    def __init__(self, dialect: str, scenario: str) -> None:
        self.emu = ModemEmulator(dialect=dialect, scenario=scenario).start()
        self.port = open_serial(self.emu.path, 115200, 0.05)
        self.modem = AtModem(
            self.port, DIALECTS[dialect](), command_timeout_s=0.5, sync_timeout_s=1.5
        )
        self.events: queue.Queue[LinkState] = queue.Queue()
        self.modem.subscribe(self.events.put)

    def close(self) -> None:
        self.modem.close()
        self.port.close()
        self.emu.stop()

    def wait_for(self, predicate: object, timeout: float = 3.0) -> LinkState:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                state = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if predicate(state):  # type: ignore[operator]
                return state
        raise AssertionError("no matching link event")


@pytest.fixture(params=["quectel", "simcom"])
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    r = Rig(request.param, "default")
    yield r
    r.close()


def make(dialect: str, scenario: str) -> Rig:
    return Rig(dialect, scenario)


def test_open_turns_echo_off_and_reads_identity(rig: Rig) -> None:
    identity = rig.modem.open()
    assert identity.imei == "861536030196001"
    assert identity.imsi == "293410123456789"
    assert identity.manufacturer in ("Quectel", "SIMCOM INCORPORATED")
    assert rig.emu.state.echo is False
    assert rig.emu.state.cmee == 1
    assert rig.emu.state.cereg_n == 2


def test_connect_brings_the_link_up_with_an_event(rig: Rig) -> None:
    rig.modem.open()
    rig.wait_for(lambda s: s.registration.registered)
    state = rig.modem.connect("internet")
    assert state.up and state.ip_address == "10.64.12.7"
    assert state.signal_dbm == -73 and state.operator == "HOTSPOT NET"
    assert state.access_technology == "E-UTRAN"
    assert rig.emu.state.apn == "internet"
    rig.wait_for(lambda s: s.up)


def test_registration_loss_is_published_at_once(rig: Rig) -> None:
    rig.modem.open()
    rig.wait_for(lambda s: s.registration.registered)
    rig.modem.connect("internet")
    rig.emu.lose_registration()
    down = rig.wait_for(lambda s: "registration lost" in s.reason)
    assert not down.up
    assert down.registration is Registration.SEARCHING


def test_gnss_fix(rig: Rig) -> None:
    rig.modem.open()
    fix = rig.modem.gnss_fix()
    assert fix.latitude == pytest.approx(46.0569, abs=1e-4)
    assert fix.longitude == pytest.approx(14.5058, abs=1e-4)
    rig.modem.gnss_fix()  # a second start of a running receiver is not an error


@pytest.mark.parametrize("dialect", ["quectel", "simcom"])
def test_no_gnss_fix(dialect: str) -> None:
    r = make(dialect, "no-gnss")
    try:
        r.modem.open()
        with pytest.raises(NoGnssFix):
            r.modem.gnss_fix()
    finally:
        r.close()


def test_sim_pin_scenario() -> None:
    r = make("quectel", "sim-pin")
    try:
        identity = r.modem.open()
        assert identity.imsi is None  # locked SIM: no IMSI yet
        assert r.modem.sim_status() == "SIM PIN"
        with pytest.raises(SimError) as info:
            r.modem.unlock_sim("0000")
        assert info.value.code == 16
        r.modem.unlock_sim("1234")
        assert r.modem.sim_status() == "READY"
        r.wait_for(lambda s: s.registration.registered)
    finally:
        r.close()


def test_no_coverage_keeps_the_link_down() -> None:
    r = make("quectel", "no-coverage")
    try:
        r.modem.open()
        state = r.modem.connect("internet")
        assert not state.up
        assert state.registration is Registration.SEARCHING
        assert state.signal_dbm is None
        assert not r.emu.state.pdp_active  # never tried to activate without a network
    finally:
        r.close()


def test_coverage_returning_is_an_event() -> None:
    r = make("simcom", "coverage-returns")
    try:
        r.modem.open()
        assert not r.modem.refresh().registration.registered
        up = r.wait_for(lambda s: s.registration.registered, timeout=6.0)
        assert "registration home" in up.reason
    finally:
        r.close()


def test_registration_flaps_give_events_both_ways() -> None:
    r = make("quectel", "flaps")
    try:
        r.modem.open()
        seen = set()
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline and len(seen) < 2:
            with contextlib.suppress(queue.Empty):
                seen.add(r.events.get(timeout=0.5).registration.registered)
        assert seen == {True, False}
    finally:
        r.close()


@pytest.mark.parametrize("dialect", ["quectel", "simcom"])
def test_pdp_drop(dialect: str) -> None:
    r = make(dialect, "pdp-drop")
    try:
        r.modem.open()
        r.wait_for(lambda s: s.registration.registered)
        assert r.modem.connect("internet").up
        lost = r.wait_for(lambda s: s.reason == "data context lost")
        assert not lost.up and lost.ip_address is None
        assert r.modem.refresh().up is False
    finally:
        r.close()


def test_modem_reboot_is_an_event(rig: Rig) -> None:
    rig.modem.open()
    rig.wait_for(lambda s: s.registration.registered)
    rig.modem.connect("internet")
    rig.emu.reboot()
    down = rig.wait_for(lambda s: "RDY" in s.reason)
    assert not down.up
    assert rig.modem.rebooted.is_set()


# -- fault knobs ----------------------------------------------------------------------------


def test_sim_error(rig: Rig) -> None:
    rig.modem.open()
    rig.emu.faults.sim_failure = True
    with pytest.raises(SimError) as info:
        rig.modem.sim_status()
    assert info.value.code == 13


def test_silent_modem_times_out(rig: Rig) -> None:
    rig.modem.open()
    rig.emu.faults.silent = True
    started = time.monotonic()
    with pytest.raises(ModemTimeout):
        rig.modem.refresh()
    assert time.monotonic() - started < 2.5


def test_silent_at_open_is_a_clear_timeout() -> None:
    r = make("quectel", "default")
    r.emu.faults.silent = True
    try:
        with pytest.raises(ModemTimeout, match="does not answer AT"):
            r.modem.open()
    finally:
        r.close()


@pytest.mark.parametrize("knob", ["garble", "drop"])
def test_garbled_or_dropped_bytes_give_typed_errors(rig: Rig, knob: str) -> None:
    rig.modem.open()
    setattr(rig.emu.faults, knob, 0.3)
    failures = 0
    for _ in range(4):
        try:
            rig.modem.refresh()
        except ModemError:
            failures += 1
    assert failures > 0
    setattr(rig.emu.faults, knob, 0.0)
    time.sleep(0.3)
    assert rig.modem.refresh().registration is Registration.HOME  # the channel recovers


# -- the AT channel fuzzed with arbitrary modem output ----------------------------------------


class ReplayPort:
    """Answers every command with the given bytes."""

    def __init__(self, reply: bytes) -> None:
        self.baudrate = 115200
        self.timeout: float | None = 0.01
        self._reply = reply
        self._pending = b""

    def write(self, data: bytes) -> int:
        self._pending += self._reply
        return len(data)

    def read(self, size: int = 1) -> bytes:
        if not self._pending:
            time.sleep(0.002)
            return b""
        out, self._pending = self._pending[:size], self._pending[size:]
        return out

    def reset_input_buffer(self) -> None:
        self._pending = b""

    def close(self) -> None:
        pass


replies = st.one_of(
    st.binary(max_size=120),
    st.lists(
        st.sampled_from(
            [
                b"OK",
                b"ERROR",
                b"+CME ERROR: 13",
                b"+CSQ: 99,99",
                b"+CSQ: ab",
                b"+CEREG: 2,1",
                b'+CEREG: 1,"zz"',
                b"RDY",
                b'+QIURC: "pdpdeact",1',
                b"+COPS: 0",
                b"\xff\xfe",
                b"",
            ]
        ),
        max_size=6,
    ).map(lambda parts: b"\r\n".join(parts) + b"\r\n"),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(replies)
def test_arbitrary_modem_output_raises_only_typed_errors(reply: bytes) -> None:
    modem = AtModem(ReplayPort(reply), DIALECTS["quectel"](), command_timeout_s=0.05)  # type: ignore[arg-type]
    try:
        modem.refresh()
        modem.gnss_fix()
    except HalError:
        pass
    finally:
        modem.close()


def test_channel_failure_is_reported() -> None:
    class DeadPort(ReplayPort):
        def read(self, size: int = 1) -> bytes:
            raise OSError(5, "Input/output error")

    channel = ATChannel(DeadPort(b""), (), lambda line: None)  # type: ignore[arg-type]
    time.sleep(0.05)
    with pytest.raises(HalError, match="modem port failed"):
        channel.command("AT", 0.2)
    channel.close()
