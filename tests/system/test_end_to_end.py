"""End to end over a real Mosquitto: offline backlog, flapping links, restarts, hits, bad input."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any

import cbor2
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from central.watchlist import WatchlistEntry
from firmware.biometrics.fingerprint.pipeline import FingerprintAnalyzer
from hal.phantoms import fingerprint as fp
from hil.system import System
from wire import envelope, topics
from wire.answer import HIT, NO_HIT, POSSIBLE_MATCH, REJECTED
from wire.record import Finger

NewDevice = Callable[..., Any]


@functools.lru_cache(maxsize=32)
def template(finger: int, impression: int) -> bytes:
    image = fp.impression(fp.identity(finger, seed=11), impression, difficulty=0.3)
    return FingerprintAnalyzer().analyse(image).record(position=2).encode()


def finger(finger_id: int, impression: int) -> tuple[Finger, ...]:
    return (Finger(position=2, quality=60, template=template(finger_id, impression)),)


def test_offline_backlog_is_answered_when_the_link_comes_up(
    system: System, new_device: NewDevice
) -> None:
    device = new_device()
    device.app.start()
    ids = {device.app.check(finger(1, 1)) for _ in range(200)}  # link down: all queued
    time.sleep(0.5)
    assert len(device.app.outbox) == 200 and device.answers == []
    device.app.uplink.link_changed(True)
    assert device.wait_answers(200, timeout=90), device.report(system)
    assert {a.record_id for a in device.answers} == ids
    assert len(device.app.outbox) == 0


def test_a_watchlisted_finger_raises_a_hit(system: System, new_device: NewDevice) -> None:
    system.watchlist.add(WatchlistEntry("WL-0007", "red-notice", ((2, template(7, 0)),)))
    device = new_device()
    device.app.start()
    device.app.uplink.link_changed(True)
    wanted = device.app.check(finger(7, 3))
    other = device.app.check(finger(8, 3))
    assert device.wait_answers(2, timeout=30), device.report(system)
    by_id = {a.record_id: a for a in device.answers}
    assert by_id[wanted].outcome == HIT and by_id[wanted].reference == "WL-0007"
    assert by_id[wanted].notice == "red-notice"
    assert by_id[other].outcome == NO_HIT and by_id[other].reference is None


def test_flapping_link_answers_every_record_exactly_once(
    system: System, new_device: NewDevice
) -> None:
    device = new_device(resend_after_s=1.0)
    device.app.start()
    ids = {device.app.check(finger(2, 1)) for _ in range(60)}
    before = system.ledger.answered_count()
    stop = threading.Event()

    def flap() -> None:
        up = False
        while not stop.is_set():
            up = not up
            device.app.uplink.link_changed(up)
            stop.wait(0.3)
        device.app.uplink.link_changed(True)

    flapper = threading.Thread(target=flap)
    flapper.start()
    try:
        assert device.wait_answers(60, timeout=90), device.report(system)
    finally:
        stop.set()
        flapper.join()
    assert [a.record_id for a in device.answers].count(next(iter(ids))) == 1
    assert sorted(a.record_id for a in device.answers) == sorted(ids)
    assert system.ledger.answered_count() - before == 60  # matched once each
    assert len(device.app.outbox) == 0


def test_broker_and_central_restarts_mid_flush(system: System, new_device: NewDevice) -> None:
    device = new_device(resend_after_s=2.0, backoff_min_s=0.2, backoff_max_s=1.0)
    device.app.start()
    ids = {device.app.check(finger(3, 1)) for _ in range(80)}
    device.app.uplink.link_changed(True)
    time.sleep(0.3)
    system.broker.kill()
    system.stop_gateways()
    time.sleep(0.5)
    system.broker.start()
    system.start_gateway("restarted")
    assert device.wait_answers(80, timeout=90), device.report(system)
    assert {a.record_id for a in device.answers} == ids
    assert len(device.app.outbox) == 0


def raw_client(system: System, name: str) -> mqtt.Client:
    creds = system.ca.issue(name, system.root / "raw" / name)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"raw-{name}", protocol=mqtt.MQTTv5)
    client.tls_set(ca_certs=str(creds.ca), certfile=str(creds.cert), keyfile=str(creds.key))
    client.connect("127.0.0.1", system.broker.port)
    client.loop_start()
    return client


def test_hostile_payloads_are_dropped_and_audited(system: System, new_device: NewDevice) -> None:
    device = new_device()
    device.app.start()
    device_id = device.app.config.device_id
    good = device.app.check(finger(4, 1))
    sealed = device.app.outbox.due(1)[0].envelope
    tampered = bytearray(sealed)
    tampered[len(tampered) // 2] ^= 0x01
    forged = envelope.seal(
        b"\xa0",
        device_id,
        lambda d: b"\x01" * 64,
        (system.root / "central" / "keys" / "records.pub").read_bytes(),
        "central",
    )
    impostor = raw_client(system, device_id)  # a clone of the device's certificate
    for payload in (b"", b"garbage", bytes(tampered), forged, b"\x00" * 200_000):
        impostor.publish(topics.records(device_id), payload, qos=1).wait_for_publish(5)
    unregistered = raw_client(system, "hh-ghost")
    unregistered.publish(topics.records("hh-ghost"), sealed, qos=1).wait_for_publish(5)
    device.app.uplink.link_changed(True)
    assert device.wait_answers(1, timeout=30), device.report(system)
    assert device.answers[0].record_id == good
    time.sleep(0.5)
    events = system.ledger.audit_events()
    dropped = [e for e in events if e[2] == "dropped" and e[0] in (device_id, "hh-ghost")]
    assert len(dropped) >= 5
    assert any("not registered" in (e[4] or "") for e in dropped)
    for c in (impostor, unregistered):
        c.loop_stop()
        c.disconnect()


def test_unknown_schema_version_is_answered_rejected(system: System, new_device: NewDevice) -> None:
    device = new_device()
    app = device.app
    app.start()
    record_id = app.check(finger(5, 1))
    # Re-seal the queued record as a version-3 record, as a newer firmware would.
    chip = app._se
    data = {"v": 3, "id": record_id, "dev": app.config.device_id}
    newer = envelope.seal(
        cbor2.dumps(data),
        app.config.device_id,
        lambda d: chip.sign_digest(0, d),
        (system.root / "central" / "keys" / "records.pub").read_bytes(),
        "central",
    )
    app.outbox.answered(record_id, b"placeholder")  # take the v1 copy out of the queue
    app.outbox.put(record_id, newer)
    app.uplink.link_changed(True)
    assert device.wait_answers(1, timeout=20), device.report(system)
    answer = device.answers[0]
    assert (answer.record_id, answer.outcome) == (record_id, REJECTED)
    assert "version 3 is not supported" in (answer.reason or "")
    assert len(app.outbox) == 0  # the device stops re-sending it


def test_no_biometric_byte_in_logs_audit_or_outbox(
    system: System, new_device: NewDevice, caplog: Any
) -> None:
    caplog.set_level("DEBUG")
    device = new_device()
    device.app.start()
    marker = template(6, 1)
    device.app.check(finger(6, 1))
    device.app.uplink.link_changed(True)
    assert device.wait_answers(1, timeout=30), device.report(system)
    # A stranger; phantom fingers score closer to one another than real ones (FVC), so a
    # phantom stranger is now and then a possible match against the module's watchlist.
    assert device.answers[0].outcome in (NO_HIT, POSSIBLE_MATCH), device.answers[0]
    probe = marker[30:62]  # minutiae bytes, past the generic header
    assert probe not in caplog.text.encode("latin-1", "replace")
    for path in device.app.config.data_dir.glob("outbox.db*"):
        assert probe not in path.read_bytes(), path
    assert probe not in (system.root / "broker" / "mosquitto.log").read_bytes()
    # Central's database holds the watchlist's templates (and a possible match's evidence
    # until it is decided); its audit trail holds none.
    audit = system.store.db.query("SELECT * FROM audit")
    assert probe not in repr(audit).encode() and audit
    assert not any(probe in bytes(v) for row in audit for v in row if isinstance(v, bytes))
    answered = {e[3] for e in system.ledger.audit_events() if e[2] == "answered"}
    assert answered <= {HIT, POSSIBLE_MATCH, NO_HIT}


def test_telemetry_reaches_the_central_service(system: System, new_device: NewDevice) -> None:
    from hal.emulators.i2cbus import EmulatedI2CBus
    from hal.emulators.max17048 import Max17048Emulator
    from hal.i2c import I2CTransport
    from hal.power.max17048 import Max17048

    bus = EmulatedI2CBus()
    bus.attach(0x36, Max17048Emulator(soc_percent=64.0, load_ma=0.0))
    gauge = Max17048(I2CTransport(bus))
    device = new_device()
    device.app.start()
    device.app.check(finger(1, 2))
    assert not device.app.send_telemetry(gauge)  # offline: nothing sent
    device.app.uplink.link_changed(True)
    assert device.app.uplink.connected.wait(10)
    assert device.app.send_telemetry(gauge)
    device_id = device.app.config.device_id
    deadline = time.monotonic() + 10
    while system.ledger.telemetry(device_id) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    stored = system.ledger.telemetry(device_id)
    assert stored is not None
    report = cbor2.loads(stored)
    assert report["battery"]["soc"] == 64.0
    assert report["fw"] == "0.1.0" and "backlog" in report


def test_full_disk_refuses_the_capture_and_keeps_the_queue(
    system: System, new_device: NewDevice
) -> None:
    import pytest

    from firmware.outbox import OutboxFull

    device = new_device(outbox_max_bytes=80 * 1024)
    kept = []
    with pytest.raises(OutboxFull, match="NOT stored") as refused:
        for _ in range(500):
            kept.append(device.app.check(finger(1, 3)))
    assert "coverage" in str(refused.value)
    assert device.app.outbox.ids() == set(kept)
    device.app.start()
    device.app.uplink.link_changed(True)
    assert device.wait_answers(len(kept), timeout=60), device.report(system)
    assert len(device.app.outbox) == 0
    device.app.check(finger(1, 3))  # room again once the queue has drained


def test_two_gateway_instances_share_the_records(system: System, new_device: NewDevice) -> None:
    second = system.start_gateway("second")
    try:
        before = [g.processed for g in system.gateways]
        device = new_device()
        device.app.start()
        ids = {device.app.check(finger(2, 2)) for _ in range(40)}
        device.app.uplink.link_changed(True)
        assert device.wait_answers(40, timeout=60), device.report(system)
        assert {a.record_id for a in device.answers} == ids
        shares = [g.processed - b for g, b in zip(system.gateways, before, strict=True)]
        assert all(share > 0 for share in shares), shares  # both instances took records
    finally:
        second.stop()
        system.gateways.remove(second)


def test_a_stopped_gateway_instance_does_not_hold_back_records(
    system: System, new_device: NewDevice
) -> None:
    # A persistent session left behind by a stopped instance would keep receiving its share
    # of the shared subscription (Mosquitto queues for it); those records would wait for the
    # device's re-send. Instances stopped at once after connecting used to leave one about
    # once in 30 stops: Mosquitto failed to write their SUBACK, logged "out of memory" and
    # never read the DISCONNECT that ended the session.
    for number in range(5):
        leaving = system.start_gateway(f"leaving-{number}")
        leaving.stop()
        system.gateways.remove(leaving)
    device = new_device(resend_after_s=120.0)
    device.app.start()
    device.app.uplink.link_changed(True)
    ids = {device.app.check(finger(2, 2)) for _ in range(12)}
    assert device.wait_answers(12, timeout=20), device.report(system)
    assert {a.record_id for a in device.answers} == ids


def test_an_answer_stored_but_never_shown_is_shown_at_the_next_start(
    system: System, new_device: NewDevice
) -> None:
    first = new_device()
    first.app.start()
    first.app.uplink.link_changed(True)
    record_id = first.app.check(finger(3, 2))
    assert first.wait_answers(1, timeout=30), first.report(system)
    # The device dies after storing the answer and before the officer saw it.
    first.app.outbox.answered(record_id, first.app.outbox.answer(record_id) or b"")
    first.app.outbox._db.execute("UPDATE answers SET shown = 0 WHERE id = ?", (record_id,))
    seen = []
    from firmware.uplink import Uplink

    again = Uplink(first.app.uplink.config, first.app.outbox, seen.append)
    assert again.replay_unshown() == 1
    assert seen[0].record_id == record_id and seen[0].outcome in (HIT, NO_HIT)
    assert again.replay_unshown() == 0  # shown once


def test_a_gateway_instance_that_dies_holds_back_no_records(
    system: System, new_device: NewDevice
) -> None:
    """An instance killed without a word (SIGKILL: no DISCONNECT) leaves no session behind
    that would take a share of the records until it expired."""
    import os
    import signal
    import subprocess
    import sys

    env = dict(os.environ, PYTHONUNBUFFERED="1")
    crashing = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hotspot",
            "central",
            "run",
            "--dir",
            str(system.root),
            "--port",
            str(system.broker.port),
            "--instance",
            "crashing",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert crashing.stdout is not None
        lines = []
        for line in crashing.stdout:
            lines.append(line)
            if "connected to" in line:
                break
        else:
            raise AssertionError("the gateway did not connect: " + "".join(lines))
        os.kill(crashing.pid, signal.SIGKILL)
        crashing.wait(10)
    finally:
        if crashing.poll() is None:
            crashing.kill()
            crashing.wait()
    device = new_device(resend_after_s=120.0)
    device.app.start()
    device.app.uplink.link_changed(True)
    ids = {device.app.check(finger(2, 3)) for _ in range(12)}
    assert device.wait_answers(12, timeout=20), device.report(system)
    assert {a.record_id for a in device.answers} == ids
