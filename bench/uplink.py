"""``hotspot bench uplink``: the store-and-forward path and the central answer, measured.

Everything is the real system on loopback (``hil.system.System``): Mosquitto
with TLS and the ACL, the central gateway, handhelds with an emulated ATECC608
that signs every record. What is measured, in order:

1. ``record_bytes``: the sealed envelope of a check with ten fingers and a face.
2. ``enqueue_per_s``: checks (two index fingers and a face) signed, encrypted
   and committed to the outbox with a full fsync, with the link down.
3. ``flush_per_s``: that backlog published to the broker once the link comes
   up, counted at the broker's PUBACK (no gateway is listening yet).
4. ``drain_s``: for each watchlist size, a backlog of checks (one in ten of a
   person on the watchlist, the rest strangers) from link-up to the last
   answer. Every watchlist entry has two index fingers and a face. The
   gateways are ``hotspot central run`` processes sharing the subscription, as
   in production (one per core by default); each indexes the watchlist before
   it connects, and that time is reported apart (``index_build_s``).
   ``hits_found`` and ``false_hits`` say whether the answers were right.
5. ``answer_ms_p50`` / ``answer_ms_p99``: live checks taken one at a time with
   the link up, from the moment ``check()`` has queued the record (it is
   published at once) to the answer on the device, against the smallest
   watchlist.

Templates and face embeddings are synthetic (``bench.population``): this
measures throughput, not recognition accuracy (see ``hotspot bench
fingerprint`` and ``face`` for that).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench import population as pop
from central.provision import FleetLayout
from central.watchlist import WatchlistEntry
from firmware.app import Handheld
from hil.device_run import secure_element
from hil.system import System
from wire.answer import HIT, Answer
from wire.record import Face, Finger

LEFT_INDEX, RIGHT_INDEX = 7, 2


@dataclass
class Figures:
    record_bytes: int = 0
    enqueue_per_s: float = 0.0
    flush_per_s: float = 0.0
    answer_ms_p50: float = 0.0
    answer_ms_p99: float = 0.0
    drain_s: dict[str, float] = field(default_factory=dict)
    index_build_s: dict[str, float] = field(default_factory=dict)
    hits_found: dict[str, str] = field(default_factory=dict)
    false_hits: dict[str, int] = field(default_factory=dict)
    backlog: int = 0
    gateways: int = 1


class Answers:
    """The device's display: every answer, with when it arrived."""

    def __init__(self) -> None:
        self.by_id: dict[bytes, tuple[Answer, float]] = {}
        self.changed = threading.Condition()

    def __call__(self, answer: Answer) -> None:
        with self.changed:
            self.by_id.setdefault(answer.record_id, (answer, time.perf_counter()))
            self.changed.notify_all()

    def wait_for(self, ids: set[bytes], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.changed:
            while not ids <= self.by_id.keys():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.changed.wait(left)
        return True


def progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def _check_parts(
    person: int, rng: np.random.Generator, fingers: tuple[int, ...] = (LEFT_INDEX, RIGHT_INDEX)
) -> tuple[tuple[Finger, ...], Face]:
    parts = tuple(
        Finger(position, 60, pop.template(pop.master_finger(person, position), rng, position))
        for position in fingers
    )
    face = Face(pop.face_capture(pop.face_identity(person), rng), "synthetic", 80)
    return parts, face


def _device(system: System, name: str, answers: Answers) -> Handheld:
    return system.handheld(name, secure_element(), answers, window=20).start()


def _enqueue(
    device: Handheld, people: list[int], rng: np.random.Generator
) -> tuple[list[bytes], float]:
    parts = [_check_parts(person, rng) for person in people]
    started = time.perf_counter()
    ids = [device.check(fingers, face) for fingers, face in parts]
    return ids, time.perf_counter() - started


def default_gateways() -> int:
    return max(1, min(os.cpu_count() or 1, 4))


class Gateways:
    """``hotspot central run`` processes on the system's fleet directory."""

    def __init__(self, system: System, count: int) -> None:
        self._system = system
        self._count = count
        self._procs: list[subprocess.Popen[str]] = []
        system.ca.issue("central", FleetLayout(system.root).central_tls)

    def start(self) -> None:
        for number in range(self._count):
            command = [sys.executable, "-m", "hotspot", "central", "run"]
            command += ["--dir", str(self._system.root), "--port", str(self._system.broker.port)]
            command += ["--instance", f"bench-{number + 1}"]
            self._procs.append(
                # 'hotspot' gives each instance one BLAS thread (see hotspot.cli).
                subprocess.Popen(command, stdout=subprocess.PIPE, text=True, bufsize=1)
            )
        for proc in self._procs:
            assert proc.stdout is not None
            for line in proc.stdout:
                if "connected" in line:
                    break
            else:
                raise RuntimeError(f"a gateway exited before it connected (rc {proc.wait()})")

    def stop(self) -> None:
        for proc in self._procs:
            proc.terminate()
        for proc in self._procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        self._procs.clear()


def run(
    sizes: list[int],
    backlog: int,
    live: int,
    say: Callable[[str], None],
    root: Path,
    gateways: int = 1,
) -> Figures:
    figures = Figures(backlog=backlog, gateways=gateways)
    rng = np.random.default_rng(2026)
    system = System.start(root, gateways=0)
    central = Gateways(system, gateways)
    try:
        answers = Answers()
        device = _device(system, "bench-flush", answers)
        ten = _check_parts(1, rng, fingers=tuple(range(1, 11)))
        figures.record_bytes = len(device.seal(*ten)[1])
        say(f"record with ten fingers and a face: {figures.record_bytes} bytes")
        ids, took = _enqueue(device, [10_000_000 + i for i in range(backlog)], rng)
        figures.enqueue_per_s = len(ids) / took
        say(f"enqueued {len(ids)} checks offline: {figures.enqueue_per_s:.0f}/s")
        started = time.perf_counter()
        device.uplink.link_changed(True)
        while device.uplink.acked < len(ids):
            if time.perf_counter() - started > 120:
                raise RuntimeError("the broker acknowledged too few records in 120 s")
            time.sleep(0.005)
        figures.flush_per_s = len(ids) / (time.perf_counter() - started)
        say(f"flushed to the broker: {figures.flush_per_s:.0f}/s")
        device.stop()

        people_so_far = 0
        for number, size in enumerate(sorted(sizes)):
            build_watchlist_delta(system, people_so_far, size, say)
            people_so_far = size
            say(f"starting {gateways} gateway process(es); each indexes {size:,} people")
            central.stop()
            started = time.perf_counter()
            central.start()
            figures.index_build_s[str(size)] = time.perf_counter() - started
            answers = Answers()
            device = _device(system, f"bench-{size}", answers)
            wanted = rng.choice(size, size=backlog // 10, replace=False).tolist()
            strangers = [20_000_000 + number * backlog + i for i in range(backlog - len(wanted))]
            people = wanted + strangers
            ids, _ = _enqueue(device, people, rng)
            say(f"{len(ids)} checks waiting; link up")
            started = time.perf_counter()
            device.uplink.link_changed(True)
            if not answers.wait_for(set(ids), timeout=1800):
                raise RuntimeError(f"not every check was answered within 30 minutes ({size})")
            figures.drain_s[str(size)] = max(t for _, t in answers.by_id.values()) - started
            expected = {rid: f"WL-{p:06d}" for rid, p in zip(ids, people, strict=True) if p < size}
            found = sum(
                1
                for rid, ref in expected.items()
                if answers.by_id[rid][0].outcome == HIT and answers.by_id[rid][0].reference == ref
            )
            figures.hits_found[str(size)] = f"{found}/{len(expected)}"
            figures.false_hits[str(size)] = sum(
                1
                for rid, (a, _) in answers.by_id.items()
                if a.outcome == HIT and expected.get(rid) != a.reference
            )
            say(f"{size:,} people: drained in {figures.drain_s[str(size)]:.1f} s")
            if number == 0:
                figures.answer_ms_p50, figures.answer_ms_p99 = _latency(
                    device, answers, live, size, rng
                )
            device.stop()
    finally:
        central.stop()
        system.stop()
    return figures


def build_watchlist_delta(
    system: System, start: int, stop: int, say: Callable[[str], None]
) -> None:
    """Add people ``start``..``stop`` (the same people at every size: sizes nest)."""
    rng = np.random.default_rng([start, stop, 0xB1])
    batch: list[WatchlistEntry] = []
    for person in range(start, stop):
        (left, right), face = _check_parts(person, rng)
        batch.append(
            WatchlistEntry(
                f"WL-{person:06d}",
                "red-notice",
                ((LEFT_INDEX, left.template), (RIGHT_INDEX, right.template)),
                face.embedding,
            )
        )
        if len(batch) == 5000 or person == stop - 1:
            system.watchlist.add_many(batch)
            batch.clear()
            say(f"watchlist: {person + 1:,} of {stop:,} people")


def _latency(
    device: Handheld, answers: Answers, count: int, size: int, rng: np.random.Generator
) -> tuple[float, float]:
    times = []
    for i in range(count):
        person = int(rng.integers(0, size)) if i % 10 == 0 else 30_000_000 + i
        fingers, face = _check_parts(person, rng)
        record_id = device.check(fingers, face)
        started = time.perf_counter()
        if not answers.wait_for({record_id}, timeout=60):
            raise RuntimeError("a live check was not answered within 60 s")
        times.append((answers.by_id[record_id][1] - started) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 99))


def report(figures: Figures) -> str:
    lines = [
        f"record (10 fingers + face)   {figures.record_bytes:>10,} bytes   (target < 4,096)",
        f"durable enqueue              {figures.enqueue_per_s:>10.0f} records/s",
        f"flush to broker (loopback)   {figures.flush_per_s:>10.0f} records/s",
        f"publish -> answer            p50 {figures.answer_ms_p50:.0f} ms, "
        f"p99 {figures.answer_ms_p99:.0f} ms",
    ]
    for size, seconds in figures.drain_s.items():
        lines.append(
            f"drain {figures.backlog:,} checks vs {int(size):>7,} people: {seconds:6.1f} s "
            f"(target 10 s; {figures.gateways} gateway(s) indexed it in "
            f"{figures.index_build_s[size]:.0f} s; "
            f"hits {figures.hits_found[size]}, false hits {figures.false_hits[size]})"
        )
    return "\n".join(lines)


def main(sizes: list[int], backlog: int, live: int, gateways: int, as_json: bool) -> int:
    with tempfile.TemporaryDirectory(prefix="hotspot-bench-") as tmp:
        figures = run(sizes, backlog, live, progress, Path(tmp), gateways)
    if as_json:
        print(json.dumps(figures.__dict__, indent=2))
    else:
        print(report(figures))
    return 0
