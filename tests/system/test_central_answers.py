"""Central's answers over the real system: the three outcomes, an examiner's late answer,
two gateway hosts sharing PostgreSQL, and watchlist changes during a flush."""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from paho.mqtt.enums import CallbackAPIVersion

from central.pgserver import PostgresServer
from central.provision import FleetLayout
from central.watchlist import WatchlistEntry
from firmware.biometrics.face.pipeline import FaceAnalyzer
from firmware.biometrics.fingerprint.pipeline import FingerprintAnalyzer
from hal.phantoms import fingerprint as fp
from hal.phantoms.face import FrameVariation, render
from hil.device_run import secure_element
from hil.system import System
from hotspot.cli import main
from wire import envelope, topics
from wire import face as face_wire
from wire.answer import HIT, POSSIBLE_MATCH, Answer
from wire.record import CheckRecord, Face, Finger, uuid7

NewDevice = Callable[..., Any]


@functools.lru_cache(maxsize=32)
def template(finger: int, impression: int, position: int) -> bytes:
    image = fp.impression(fp.identity(finger, seed=23), impression, difficulty=0.3)
    return FingerprintAnalyzer().analyse(image).record(position=position).encode()


def two_fingers(person: int, impression: int) -> tuple[Finger, ...]:
    return (
        Finger(7, 60, template(2 * person, impression, 7)),
        Finger(2, 60, template(2 * person + 1, impression, 2)),
    )


@functools.lru_cache(maxsize=4)
def astronaut(variant: int) -> bytes:
    variation = [FrameVariation(), FrameVariation(scale=0.8, dx=20, roll_deg=8, exposure=0.7)]
    result = FaceAnalyzer().analyse(render(variation[variant], seed=variant))
    assert result is not None
    return result.embedding_bytes()


def test_hit_possible_match_and_an_examiners_late_answer(
    system: System, new_device: NewDevice, capsys: pytest.CaptureFixture[str]
) -> None:
    system.watchlist.add(
        WatchlistEntry(
            "WL-A", "red-notice", tuple((f.position, f.template) for f in two_fingers(40, 0))
        )
    )
    system.watchlist.add(WatchlistEntry("WL-F", "yellow-notice", (), face=astronaut(0)))
    system.processor.matcher.refresh()
    device = new_device()
    device.app.start()
    device.app.uplink.link_changed(True)
    hit = device.app.check(two_fingers(40, 2))
    face = Face(astronaut(1), face_wire.VERSION, 80, token_image=b"\xff\xd8 a jpeg")
    possible = device.app.check(two_fingers(41, 1), face)  # a stranger's fingers, WL-F's face
    assert device.wait_answers(2, timeout=30), device.report(system)
    first = {a.record_id: a for a in device.answers}
    assert first[hit].outcome == HIT and first[hit].reference == "WL-A" and first[hit].final
    assert first[hit].fmr_upper is not None and first[hit].fmr_upper < 1e-5
    assert first[possible].outcome == POSSIBLE_MATCH and not first[possible].final
    assert first[possible].reference == "WL-F" and first[possible].modalities == ("face",)

    # The examiner sees it in the queue, with both sides' evidence, and confirms it.
    [item] = system.verification.items()
    assert item.record_id == possible and item.device_id == device.app.config.device_id
    evidence = system.verification.evidence(possible)
    assert evidence is not None and evidence.probe.face_image == b"\xff\xd8 a jpeg"
    assert evidence.face_similarity is not None and evidence.face_similarity > 0.5
    fleet = str(system.root)
    assert main(["central", "verify", "list", "--dir", fleet]) == 0
    assert possible.hex()[:16] in capsys.readouterr().out
    assert main(["central", "verify", "confirm", "--dir", fleet, possible.hex()[:10],
                 "--examiner", "examiner-7", "--note", "same person"]) == 0  # fmt: skip
    assert device.wait_answers(3, timeout=30), device.report(system)
    late = device.answers[-1]
    assert late.record_id == possible and late.outcome == HIT and late.final
    assert late.revision == 1 and late.reference == "WL-F"
    # Dropped once sent: the gateway purges it right after handing the answer to the broker,
    # and under load the handheld can have the answer a moment before that (seen once in 14
    # soak runs of the system tests and once in a selection run beside two other suites).
    deadline = time.monotonic() + 10
    while system.verification.evidence(possible) is not None:
        assert time.monotonic() < deadline, "the evidence outlived its late answer"
        time.sleep(0.05)
    audit = system.store.db.query(
        "SELECT event, actor, outcome FROM audit WHERE event IN ('verified', 'late answer')"
    )
    assert ("verified", "examiner-7", "confirmed") in audit
    assert ("late answer", "examiner-7", HIT) in audit
    # A second decision on the same item is refused, with who took the first.
    assert main(["central", "verify", "reject", "--dir", fleet, possible.hex()[:10],
                 "--examiner", "examiner-8"]) == 2  # fmt: skip
    assert "already confirmed by examiner-7" in capsys.readouterr().err


def test_a_watchlist_add_during_a_flush_holds_no_record_back(
    system: System, new_device: NewDevice
) -> None:
    """1,000 backlogged checks flow while a person is added; the refresher is held inside the
    change the whole time, and records are still answered; then the next check finds them."""
    device = new_device()
    device.app.start()
    for _ in range(1000):
        device.app.check(two_fingers(50, 1))
    matcher = system.processor.matcher
    applying, release = threading.Event(), threading.Event()
    real_apply = matcher.gallery.apply

    def held_apply(*args: Any, **kwargs: Any) -> None:
        applying.set()
        release.wait(120)
        real_apply(*args, **kwargs)

    matcher.gallery.apply = held_apply  # type: ignore[method-assign]
    try:
        device.app.uplink.link_changed(True)
        assert device.wait_answers(50, timeout=60), device.report(system)
        system.watchlist.add(
            WatchlistEntry(
                "WL-NEW", "red-notice", tuple((f.position, f.template) for f in two_fingers(51, 0))
            )
        )
        assert applying.wait(10)
        assert device.wait_answers(1000, timeout=180), device.report(system)
        assert not release.is_set()  # every record was answered while the change was held
    finally:
        release.set()
        matcher.gallery.apply = real_apply  # type: ignore[method-assign]
    deadline = time.monotonic() + 10
    while matcher.gallery.view.people < len(system.watchlist) and time.monotonic() < deadline:
        time.sleep(0.05)
    newcomer = device.app.check(two_fingers(51, 2))
    assert device.wait_answers(1001, timeout=30), device.report(system)
    answer = next(a for a in device.answers if a.record_id == newcomer)
    assert answer.outcome == HIT and answer.reference == "WL-NEW"


# -- two gateway hosts sharing PostgreSQL ----------------------------------------------------


@pytest.fixture
def shared_system(
    tmp_path: Path, postgres: PostgresServer
) -> Iterator[tuple[System, list[subprocess.Popen[str]]]]:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.fail("two host names need 'unshare --uts' as root (CI runs as root)")
    system = System.start(tmp_path / "fleet", gateways=0, database=postgres.new_database())
    system.ca.issue("central", FleetLayout(system.root).central_tls)
    processes = []
    for host in ("host-a", "host-b"):
        command = (
            f"hostname {host} && exec {sys.executable} -m hotspot central run "
            f"--dir {system.root} --port {system.broker.port} --instance 1"
        )
        processes.append(
            subprocess.Popen(
                ["unshare", "--uts", "--fork", "--kill-child", "sh", "-c", command],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        )
    for process in processes:
        assert process.stdout is not None
        said = []
        for line in process.stdout:
            said.append(line)
            if "connected to" in line:
                break
        else:
            pytest.fail(f"a gateway did not start: exit {process.wait()}: {''.join(said)[-800:]}")
    try:
        yield system, processes
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        system.stop()


def test_two_hosts_match_a_record_delivered_to_both_once(
    shared_system: tuple[System, list[subprocess.Popen[str]]],
) -> None:
    system, _ = shared_system
    se = secure_element()
    system.registry.add("hh-0900", se.public_key(0))
    layout = FleetLayout(system.root)
    creds = system.ca.issue("hh-0900", layout.device_dir("hh-0900") / "tls")
    answers: list[bytes] = []
    subscribed = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="hh-0900", protocol=mqtt.MQTTv5)
    client.tls_set(ca_certs=str(creds.ca), certfile=str(creds.cert), keyfile=str(creds.key))
    client.on_message = lambda _c, _u, msg: answers.append(bytes(msg.payload))
    client.on_subscribe = lambda *_a: subscribed.set()
    client.connect("127.0.0.1", system.broker.port)
    client.loop_start()
    client.subscribe(topics.results("hh-0900"), qos=1)
    assert subscribed.wait(10)
    records = []
    for _ in range(4):
        record = CheckRecord(uuid7(), "hh-0900", 1, b"b" * 16, 1, "officer-1",
                             fingers=two_fingers(60, 1))  # fmt: skip
        sealed = envelope.seal(
            record.encode(), "hh-0900", lambda d: se.sign_digest(0, d),
            layout.records_public.read_bytes(), "central",
        )  # fmt: skip
        # The same message twice in a row: the shared subscription hands one to each host.
        client.publish(topics.records("hh-0900"), sealed, qos=1)
        client.publish(topics.records("hh-0900"), sealed, qos=1)
        records.append(record.record_id)
    deadline = time.monotonic() + 60
    while len(answers) < 8 and time.monotonic() < deadline:
        time.sleep(0.05)
    client.loop_stop()
    client.disconnect()
    audit = system.store.db.query(
        "SELECT event, record_id, detail FROM audit WHERE event IN ('answered', 'duplicate')"
    )
    assert len(answers) == 8, f"{audit}\n{system.broker.log_tail()}"
    central_key = serialization.load_pem_public_key(layout.answers_public.read_bytes())
    assert isinstance(central_key, ec.EllipticCurvePublicKey)
    by_record: dict[bytes, set[bytes]] = {}
    for signed in answers:
        answer = Answer.decode(envelope.verify_sign1(signed, "central", central_key))
        by_record.setdefault(answer.record_id, set()).add(signed)
    assert sorted(by_record) == sorted(records)
    assert all(len(same) == 1 for same in by_record.values())  # identical bytes
    audit = system.store.db.query(
        "SELECT event, detail FROM audit WHERE event IN ('answered', 'duplicate')"
    )
    assert [e for e, _ in audit].count("answered") == 4  # matched once each
    assert [e for e, _ in audit].count("duplicate") == 4
    hosts = {("host-a" in d, "host-b" in d) for _e, d in audit}
    assert hosts == {(True, False), (False, True)}  # both hosts took deliveries
