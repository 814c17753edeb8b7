"""``hotspot demo``: the whole HOTSPOT system on this machine, hardware emulated.

The central side (fleet CA, Mosquitto with TLS and the ACL, one gateway, a
watchlist with one wanted person) and one handheld: the device service
(``hotspot device run``, as on a handheld) on the emulated rig, with its
officer interface on 127.0.0.1. A scripted officer works a patrol through
that interface: three people checked in a valley without coverage (queued,
sealed, in the outbox), coverage returns, the answers come back (one of them
a HIT, acknowledged), and a last check with coverage is answered at once.
Then the handheld stays up for a person to work a shift in a browser, until
Ctrl-C (``--exit`` ends the demo after the patrol).
"""

from __future__ import annotations

import itertools
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import numpy.typing as npt

from central.watchlist import WatchlistEntry
from firmware.biometrics.fingerprint.pipeline import FingerprintAnalyzer
from hal.phantoms import fingerprint as fp
from hil.handheld import HandheldProcess
from hil.officer import Officer
from hil.rig import Rig
from hil.system import System

RIGHT_INDEX, LEFT_INDEX = 2, 7
PEOPLE = {"A": 101, "B": 102, "C": 103, "D": 104}
WANTED = "C"
WANTED_REF = "WL-2026-0042"
OFFICER, PIN = "officer-1", "2468"


def _finger(person: str) -> fp.FingerIdentity:
    return fp.identity(PEOPLE[person], seed=2026, shape=(400, 352))


class Cast:
    """Who is on the emulated sensor: a scripted person, or the people in turn, one person
    for every ``per_person`` captures (a check of both index fingers)."""

    def __init__(self, per_person: int = 2) -> None:
        self.person: str | None = None
        self._order = itertools.cycle(PEOPLE)
        self._per_person = per_person
        self._taken = 0
        self._impressions = itertools.count(1)
        self._current = next(self._order)

    def warm(self) -> Cast:
        """Grow every person's master print now (about 2 s each, cached for the process).

        Why: the emulated sensor asks its image source when the driver sends GenImg, and it
        answers "no finger yet" while a person's first image is still growing
        (``hal.emulators.r30x.PRODUCE_WAIT_S``), so each person's first capture would take
        those seconds longer than a real module's. Warm, every capture takes sensor time."""
        for person in PEOPLE:
            fp.master_print(_finger(person))
        return self

    def image(self) -> npt.NDArray[np.uint8]:
        if self.person is not None:
            who = self.person
        else:
            who = self._current
            self._taken += 1
            if self._taken % self._per_person == 0:
                self._current = next(self._order)
        return fp.impression(_finger(who), next(self._impressions), size=(288, 256))


def run(out: TextIO, realtime: bool = True, stay: Callable[[], None] | None = None) -> int:
    def say(who: str, text: str) -> None:
        print(f"[{who:<7}] {text}", file=out, flush=True)

    with tempfile.TemporaryDirectory(prefix="hotspot-demo-") as tmp:
        root = Path(tmp)
        print("HOTSPOT demo: central service and one handheld on this machine\n", file=out)
        system = System.start(root / "fleet")
        rig = Rig(
            root / "rig", modem_scenario="no-coverage", realtime=realtime, supervisor_out=out
        ).start()
        handheld = HandheldProcess(rig, system, "hh-demo-01", root / "handheld")
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
            cast = Cast().warm()
            rig.fingerprint.set_image_source(cast.image)
            handheld.enrol().start()
            say("device", "hh-demo-01: device service up (training: emulated hardware)")
            say("device", f"officer interface: {handheld.url}")
            status = _patrol(system, rig, handheld, cast, out, say)
            if status == 0 and stay is not None:
                cast.person = None
                print(
                    f"\nThe handheld stays up. Open {handheld.url} in a browser and sign in as "
                    f"{OFFICER} with PIN {PIN}.\nThe emulated sensor presents people "
                    f"{', '.join(PEOPLE)} in turn, one per two fingers; {WANTED} is on the "
                    f"watchlist ({WANTED_REF}).\nPress Ctrl-C to stop.",
                    file=out,
                    flush=True,
                )
                stay()
            return status
        finally:
            handheld.stop()
            rig.stop()
            system.stop()


def _patrol(
    system: System,
    rig: Rig,
    handheld: HandheldProcess,
    cast: Cast,
    out: TextIO,
    say: Callable[[str, str], None],
) -> int:
    officer = Officer(handheld.url)
    officer.sign_in(OFFICER, PIN)
    say("officer", f"{OFFICER} signed in")
    asked: dict[str, str] = {}
    answers: dict[str, dict[str, Any]] = {}
    answered = threading.Event()

    def check(number: int, person: str, face: bool) -> None:
        cast.person = person
        fingers = (RIGHT_INDEX, LEFT_INDEX)
        say("officer", f"check {number}: person {person}, both index fingers on the sensor")
        record_id, state, results = officer.check(fingers, f"DEMO-{number}", face=face)
        asked[record_id] = f"check {number} (person {person})"
        quality = ", ".join(str(r["quality"]) for r in results[:2])
        extra = f", face quality {results[2]['quality']}/100" if face else ""
        text = "queued (no coverage)" if state == "queued" else "sent"
        say("device", f"check {number}: finger quality {quality}{extra}, sealed, {text}")

    link = threading.Event()

    def listen(name: str, data: dict[str, Any]) -> None:
        if name == "status" and data.get("link_up") and not link.is_set():
            link.set()
            say(
                "modem",
                f"link up: {data['operator']}, {data['signal_dbm']} dBm, {data['technology']}",
            )
        if name == "answer":
            line = data["line"]
            label = asked.get(line["id"], "?")
            if line["outcome"] == "hit":
                say(
                    "ANSWER",
                    f"{label}: *** HIT *** {line['reference']} ({line['notice']}) — "
                    f"{line['action_text']}",
                )
            else:
                say("answer", f"{label}: {line['outcome'].replace('_', '-')}")
            answers[line["id"]] = line
            answered.set()

    officer.subscribe(listen)

    print("\n--- Patrol in a valley: no coverage ---", file=out)
    for number, person in enumerate(["A", "B", WANTED], start=1):
        check(number, person, face=number == 1)
    print("\n--- Coverage returns ---", file=out)
    say("modem", "network found: registering")
    rig.set_fault("modem.registration_loss", False)
    if not _wait(answered, answers, 3, 60):
        say("demo", "the queued checks were not all answered in time")
        return 1
    for record_id, line in list(answers.items()):
        if line["outcome"] == "hit":
            officer.acknowledge(record_id)
            say("officer", f"{asked[record_id]}: HIT acknowledged by {OFFICER}")
    print("\n--- A check with coverage ---", file=out)
    check(4, "D", face=False)
    if not _wait(answered, answers, 4, 30):
        say("demo", "the last check was not answered in time")
        return 1
    hits = sum(1 for line in answers.values() if line["outcome"] == "hit")
    left = officer.wait_status(lambda s: s.get("backlog") == 0)["backlog"]
    officer.close()
    print(
        f"\nDemo finished: {len(answers)} checks answered, {hits} HIT raised, "
        f"{left} left in the outbox.",
        file=out,
    )
    return 0 if len(answers) == 4 and hits == 1 else 1


def _wait(event: threading.Event, answers: dict[str, Any], count: int, timeout_s: float) -> bool:
    import time

    deadline = time.monotonic() + timeout_s
    while len(answers) < count and time.monotonic() < deadline:
        event.wait(0.5)
        event.clear()
    return len(answers) >= count
