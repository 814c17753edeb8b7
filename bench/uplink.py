"""``hotspot bench uplink``: the store-and-forward path and the central answer, measured.

Everything is the real system on loopback (``hil.system.System``): Mosquitto
with TLS and the ACL, the central gateway, handhelds with an emulated ATECC608
that signs every record. What is measured, in order:

1. ``record_bytes``: the sealed envelope of a check with ten fingers and a face.
2. ``enqueue_per_s``: checks (two index fingers and a face) signed, encrypted
   and committed to the outbox with a full fsync, with the link down.
3. ``flush_per_s``: that backlog published to the broker once the link comes
   up, counted at the broker's PUBACK (no gateway is listening yet).
4. Per watchlist size (the watchlist's people have two index fingers and a
   face; sizes nest, so a larger one adds people):

   * ``index_ready_s``: gateway processes (``hotspot central run``, sharing
     the subscription as in production, one per core by default) from start
     to connected, which they are once the watchlist is indexed;
   * ``drain_s``: a backlog of checks (one in ten of a person on the
     watchlist, the rest strangers) from link-up to the last answer;
   * ``identification_rate``: the share of the watchlisted people's checks
     answered HIT or POSSIBLE MATCH naming the right person;
   * ``false_hit_rate`` and ``false_possible_rate``: how often a stranger's
     check (two fingers and a face) gets each outcome at this size, estimated
     from the impostor scores measured on real images
     (:mod:`bench.stranger_rates`), not from the synthetic strangers (whose
     wrong outcomes are counted apart, ``false_outcomes``, as a check of the
     pipeline);
   * ``watchlist_update_visible_ms``: from a new person's addition committed to
     the database to the arrival of the first answer naming them (checks of
     them sent every 50 ms; an upper bound: it includes a check's round trip);
   * ``answer_ms_p50``: live checks one at a time, published to answered on
     the device (the search time plus the round trip);
   * ``gateway_peak_mb``: the largest peak resident memory of one instance.

5. ``answer_ms_p50`` / ``answer_ms_p99`` (top level): live checks against the
   smallest watchlist.

``--store postgresql`` runs the central database on a PostgreSQL server started
for the run (Debian's, on a free loopback port) instead of SQLite.

Templates and face embeddings are synthetic (``bench.population``): the drain,
the index and the update figures measure the system, and the identification
rate says that the search finds its people at this size; what real strangers'
scores mean is the stranger-rate estimate's job.
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
from bench import stranger_rates
from central.pgserver import PostgresServer
from central.provision import FleetLayout
from central.watchlist import WatchlistEntry
from firmware.app import Handheld
from hil.device_run import secure_element
from hil.system import System
from wire import face as face_wire
from wire.answer import HIT, POSSIBLE_MATCH, Answer
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
    index_ready_s: dict[str, float] = field(default_factory=dict)
    identification_rate: dict[str, float] = field(default_factory=dict)
    false_hit_rate: dict[str, float] = field(default_factory=dict)
    false_possible_rate: dict[str, float] = field(default_factory=dict)
    false_outcomes: dict[str, int] = field(default_factory=dict)
    watchlist_update_visible_ms: dict[str, float] = field(default_factory=dict)
    search_ms_p50: dict[str, float] = field(default_factory=dict)
    gateway_cpu_ms_per_check: dict[str, float] = field(default_factory=dict)
    """CPU the gateway instances spent per backlogged check (search, storage, crypto): what
    the drain costs whatever else shares the machine."""
    gateway_peak_mb: dict[str, float] = field(default_factory=dict)
    """The most an instance held, while indexing."""
    gateway_serving_mb: dict[str, float] = field(default_factory=dict)
    """What an instance holds while serving, after the drain and the live checks."""
    backlog: int = 0
    gateways: int = 1
    store: str = "sqlite"


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
    # Synthetic embeddings, tagged with the devices' model so that central compares them.
    face = Face(pop.face_capture(pop.face_identity(person), rng), face_wire.VERSION, 80)
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

    def peak_mb(self) -> float:
        """The largest peak resident memory (VmHWM) of the running instances, in MB."""
        return self._memory_mb("VmHWM:")

    def resident_mb(self) -> float:
        """The largest resident memory (VmRSS) of the running instances now, in MB."""
        return self._memory_mb("VmRSS:")

    def _memory_mb(self, field: str) -> float:
        values = []
        for proc in self._procs:
            try:
                for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                    if line.startswith(field):
                        values.append(int(line.split()[1]) / 1024)
            except OSError:
                continue
        return max(values, default=0.0)

    def cpu_s(self) -> float:
        """User and system CPU seconds the running instances have used so far."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for proc in self._procs:
            try:
                fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
        return total

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
    store: str = "sqlite",
) -> Figures:
    figures = Figures(backlog=backlog, gateways=gateways, store=store)
    rng = np.random.default_rng(2026)
    postgres = PostgresServer(root / "postgres").start() if store == "postgresql" else None
    system = System.start(
        root / "fleet", gateways=0, database=postgres.url if postgres is not None else None
    )
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
            key = str(size)
            build_watchlist_delta(system, people_so_far, size, say)
            people_so_far = size
            say(f"starting {gateways} gateway process(es); each indexes {size:,} people")
            central.stop()
            started = time.perf_counter()
            central.start()
            figures.index_ready_s[key] = time.perf_counter() - started
            answers = Answers()
            device = _device(system, f"bench-{size}", answers)
            wanted = rng.choice(size, size=backlog // 10, replace=False).tolist()
            strangers = [20_000_000 + number * backlog + i for i in range(backlog - len(wanted))]
            people = wanted + strangers
            ids, _ = _enqueue(device, people, rng)
            say(f"{len(ids)} checks waiting; link up")
            started = time.perf_counter()
            cpu_before = central.cpu_s()
            device.uplink.link_changed(True)
            if not answers.wait_for(set(ids), timeout=1800):
                raise RuntimeError(f"not every check was answered within 30 minutes ({size})")
            figures.drain_s[key] = max(t for _, t in answers.by_id.values()) - started
            figures.gateway_cpu_ms_per_check[key] = (central.cpu_s() - cpu_before) / len(ids) * 1e3
            expected = {rid: f"WL-{p:06d}" for rid, p in zip(ids, people, strict=True) if p < size}
            found = sum(
                1
                for rid, ref in expected.items()
                if answers.by_id[rid][0].outcome in (HIT, POSSIBLE_MATCH)
                and answers.by_id[rid][0].reference == ref
            )
            figures.identification_rate[key] = found / max(len(expected), 1)
            figures.false_outcomes[key] = sum(
                1
                for rid, (a, _) in answers.by_id.items()
                if a.outcome in (HIT, POSSIBLE_MATCH) and expected.get(rid) != a.reference
            )
            figures.false_hit_rate[key], figures.false_possible_rate[key] = stranger_rates.rates(
                size
            )
            say(f"{size:,} people: drained in {figures.drain_s[key]:.1f} s")
            p50, p99 = _latency(device, answers, live, size, rng)
            figures.search_ms_p50[key] = p50
            if number == 0:
                figures.answer_ms_p50, figures.answer_ms_p99 = p50, p99
            figures.watchlist_update_visible_ms[key] = _update_visible(
                system, device, answers, size, rng
            )
            figures.gateway_peak_mb[key] = central.peak_mb()
            figures.gateway_serving_mb[key] = central.resident_mb()
            device.stop()
    finally:
        central.stop()
        system.stop()
        if postgres is not None:
            postgres.stop()
    return figures


def _update_visible(
    system: System, device: Handheld, answers: Answers, size: int, rng: np.random.Generator
) -> float:
    """Milliseconds from a new person's addition to the first check answered with them."""
    person = 40_000_000 + size
    (left, right), face = _check_parts(person, rng)
    system.watchlist.add(
        WatchlistEntry(
            f"WL-new-{size}",
            "red-notice",
            ((LEFT_INDEX, left.template), (RIGHT_INDEX, right.template)),
            face.embedding,
        )
    )
    added = time.perf_counter()
    sent: set[bytes] = set()
    while time.perf_counter() - added < 30:
        fingers, probe_face = _check_parts(person, rng)
        sent.add(device.check(fingers, probe_face))
        time.sleep(0.05)
        with answers.changed:
            named = [
                answers.by_id[rid][1]
                for rid in sent
                if rid in answers.by_id and answers.by_id[rid][0].reference == f"WL-new-{size}"
            ]
        if named:
            # when the first answer naming them arrived: an upper bound that includes the
            # check's round trip and search, not only the gateway taking in the change
            return (min(named) - added) * 1000
    raise RuntimeError("a new watchlist entry was not found within 30 s")


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
        f"central database             {figures.store}, {figures.gateways} gateway(s)",
    ]
    for size, seconds in figures.drain_s.items():
        lines += [
            f"{int(size):,} people:",
            f"  drain {figures.backlog:,} checks       {seconds:8.1f} s    (target 10 s)",
            f"  index ready              {figures.index_ready_s[size]:8.1f} s    (target 30 s)",
            f"  identification rate      {figures.identification_rate[size]:8.1%}     "
            "(target 99 %; HIT or POSSIBLE naming the person)",
            f"  false HIT rate           {figures.false_hit_rate[size]:8.1e}     "
            "(target 1e-05; estimated from real impostor scores)",
            f"  false POSSIBLE rate      {figures.false_possible_rate[size]:8.1e}",
            f"  synthetic strangers named {figures.false_outcomes[size]}",
            f"  watchlist update visible {figures.watchlist_update_visible_ms[size]:8.0f} ms   "
            "(target 1,000 ms)",
            f"  answer p50 (live)        {figures.search_ms_p50[size]:8.0f} ms",
            f"  gateway CPU per check    {figures.gateway_cpu_ms_per_check[size]:8.1f} ms",
            f"  gateway memory serving   {figures.gateway_serving_mb[size]:8.0f} MB",
            f"  gateway peak memory      {figures.gateway_peak_mb[size]:8.0f} MB",
        ]
    return "\n".join(lines)


def main(
    sizes: list[int], backlog: int, live: int, gateways: int, as_json: bool, store: str = "sqlite"
) -> int:
    with tempfile.TemporaryDirectory(prefix="hotspot-bench-") as tmp:
        figures = run(sizes, backlog, live, progress, Path(tmp), gateways, store)
    if as_json:
        print(json.dumps(figures.__dict__, indent=2))
    else:
        print(report(figures))
    return 0
