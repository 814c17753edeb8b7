"""``hotspot demo``: the whole HOTSPOT loop on this machine, hardware emulated.

A scripted patrol: the central side (fleet CA, Mosquitto with TLS and the ACL,
one gateway, a watchlist with one wanted person) and one handheld running the
real firmware against its emulated peripherals. Three people are checked in a
valley without coverage — the checks are queued, sealed, on the outbox; then
coverage returns, the queued checks leave, and the answers come back, one of
them a HIT. A last check, taken with coverage, is answered at once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from central.watchlist import WatchlistEntry
from firmware import capture, selftest
from firmware import config as config_mod
from firmware.biometrics.fingerprint.pipeline import FingerprintAnalyzer
from firmware.link import LinkSupervisor
from firmware.outbox import OutboxFull
from firmware.wiring import Devices
from hal.modem.protocol import LinkState
from hal.phantoms import fingerprint as fp
from hil.system import System
from wire.answer import HIT, Answer

RIGHT_INDEX = 2
PEOPLE = {"A": 101, "B": 102, "C": 103, "D": 104}
WANTED = "C"
WANTED_REF = "WL-2026-0042"


def _finger(person: str) -> fp.FingerIdentity:
    return fp.identity(PEOPLE[person], seed=2026, shape=(400, 352))


def _progress(out: TextIO) -> Callable[[int, int], None]:
    tty = out.isatty()

    def show(done: int, total: int) -> None:
        if tty:
            if done % 16 == 0 or done == total:
                bar = "#" * (24 * done // total)
                out.write(f"\r          receiving [{bar:<24}] {done}/{total} rows")
                if done == total:
                    out.write("\n")
                out.flush()
        elif done == total:
            out.write(f"          received {total} rows\n")

    return show


def run(out: TextIO, realtime: bool = True) -> int:
    def say(who: str, text: str) -> None:
        print(f"[{who:<7}] {text}", file=out, flush=True)

    with tempfile.TemporaryDirectory(prefix="hotspot-demo-") as tmp:
        root = Path(tmp)
        print("HOTSPOT demo: central service and one handheld on this machine\n", file=out)
        system = System.start(root / "fleet")
        try:
            say(
                "central",
                f"Mosquitto on 127.0.0.1:{system.broker.port} (TLS 1.2, client certificates, "
                "per-device ACL); gateway connected",
            )
            wanted = fp.impression(_finger(WANTED), 0, difficulty=0.1)
            template = FingerprintAnalyzer().analyse(wanted).record(RIGHT_INDEX).encode()
            system.watchlist.add(
                WatchlistEntry(WANTED_REF, "red-notice", ((RIGHT_INDEX, template),))
            )
            say("central", f"watchlist: {WANTED_REF} (red-notice), right index finger enrolled")
            return _patrol(system, root, out, say, realtime)
        finally:
            system.stop()


def _patrol(
    system: System,
    root: Path,
    out: TextIO,
    say: Callable[[str, str], None],
    realtime: bool,
) -> int:
    cfg = config_mod.load()
    cfg = dataclasses.replace(cfg, modem=dataclasses.replace(cfg.modem, scenario="no-coverage"))
    asked: dict[bytes, tuple[str, float]] = {}
    answered = threading.Event()
    results: list[Answer] = []

    def on_answer(answer: Answer) -> None:
        label, queued = asked.get(answer.record_id, ("?", time.monotonic()))
        waited = time.monotonic() - queued
        if answer.outcome == HIT:
            say(
                "ANSWER",
                f"{label}: *** HIT *** {answer.reference} ({answer.notice}), score "
                f"{answer.score:.2f} — detain and follow the notice procedure",
            )
        else:
            outcome = answer.outcome.replace("_", "-")
            say("answer", f"{label}: {outcome} ({waited * 1000:.0f} ms after it was queued)")
        results.append(answer)
        answered.set()

    with Devices(cfg, realtime_emulation=realtime) as devices:
        report = selftest.run(devices, registration_wait_s=0.5)
        for device in report.devices:
            state = "ok" if device.ok else f"FAILED: {device.error}"
            say("device", f"{device.name:<15} {state}")
        if not all(d.ok for d in report.devices if d.name != "modem"):
            return 1
        se = devices.secure_element
        app = system.handheld("hh-demo-01", se, on_answer)
        key_id = hashlib.sha256(se.public_key(0)).hexdigest()[:16]
        say("device", f"hh-demo-01 registered with the central service (identity key {key_id})")
        devices.modem.subscribe(app.link_changed)

        def on_link(state: LinkState) -> None:
            if state.up:
                say(
                    "modem",
                    f"link up: {state.operator}, {state.signal_dbm} dBm, "
                    f"{state.access_technology}, address {state.ip_address}",
                )

        devices.modem.subscribe(on_link)
        link = LinkSupervisor(devices.modem, cfg.modem.apn, poll_s=1.0).start()
        app.start()
        sensor_emulator = devices.emulators["fingerprint"]
        modem_emulator = devices.emulators["modem"]
        try:
            print("\n--- Patrol in a valley: no coverage ---", file=out)
            for number, person in enumerate(["A", "B", WANTED], start=1):
                _check(app, devices, sensor_emulator, person, number, asked, out, say)
            say("outbox", f"{len(app.outbox)} checks sealed and waiting for coverage")

            print("\n--- Coverage returns ---", file=out)
            say("modem", "network found: registering")
            modem_emulator.state.rssi = 17
            modem_emulator.set_registration(1)
            deadline = time.monotonic() + 30
            while len(results) < 3 and time.monotonic() < deadline:
                answered.wait(0.5)
                answered.clear()
            if len(results) < 3:
                say("demo", "the queued checks were not all answered in time")
                return 1

            print("\n--- A check with coverage ---", file=out)
            _check(app, devices, sensor_emulator, "D", 4, asked, out, say)
            deadline = time.monotonic() + 15
            while len(results) < 4 and time.monotonic() < deadline:
                answered.wait(0.5)
                answered.clear()
            left = len(app.outbox)
        finally:
            app.stop()
            link.stop()
    hits = sum(1 for a in results if a.outcome == HIT)
    print(
        f"\nDemo finished: {len(results)} checks answered, {hits} HIT raised, "
        f"{left} left in the outbox.",
        file=out,
    )
    return 0 if len(results) == 4 and hits == 1 else 1


def _check(
    app: object,
    devices: Devices,
    sensor_emulator: object,
    person: str,
    number: int,
    asked: dict[bytes, tuple[str, float]],
    out: TextIO,
    say: Callable[[str, str], None],
) -> None:
    from firmware.app import Handheld

    assert isinstance(app, Handheld)
    impressions = iter(range(1, 100))
    sensor_emulator.set_image_source(  # type: ignore[attr-defined]
        lambda: fp.impression(_finger(person), next(impressions), size=(288, 256))
    )
    say("officer", f"check {number}: person {person}, right index finger on the sensor")
    result = capture.capture_finger(devices.fingerprint, 10.0, _progress(out))
    fingers = app.templates([(RIGHT_INDEX, result.result)])
    face = None
    if number == 1:  # the face chain once: detect, quality, embedding, from the camera
        say("officer", f"check {number}: and the face, camera on the person")
        shot = capture.capture_face(devices.camera, frames=5)
        face = shot.face
        advice = "; ".join(shot.guidance) or "good shot"
        say(
            "device",
            f"check {number}: face quality {shot.quality}/100 ({advice}), "
            f"embedding {len(face.embedding) if face else 0} bytes",
        )
    try:
        record_id = app.check(fingers, face)
    except OutboxFull as exc:
        say("officer", f"check {number} refused: {exc}")
        return
    asked[record_id] = (f"check {number} (person {person})", time.monotonic())
    state = "sent" if app.uplink.connected.is_set() else "queued (no coverage)"
    say(
        "device",
        f"check {number}: template {len(fingers[0].template)} bytes, quality "
        f"{fingers[0].quality}, sealed by the secure element, {state}",
    )
