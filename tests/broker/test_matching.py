"""Watchlist matching: fingerprints by position, faces by cosine similarity, no false hits."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench import population as pop
from central import fingerprint_matcher as fpm
from central.fingerprint_index import FingerprintIndex
from central.matching import FACE_THRESHOLD, FINGER_THRESHOLD, WatchlistMatcher, finger_fmr
from central.watchlist import SQLiteWatchlist, WatchlistEntry
from firmware.biometrics.fingerprint.pipeline import FingerprintAnalyzer
from hal.phantoms import fingerprint as fp
from wire.record import CheckRecord, Face, Finger, uuid7


def template(finger: int, impression: int) -> bytes:
    image = fp.impression(fp.identity(finger, seed=31), impression, difficulty=0.3)
    return FingerprintAnalyzer().analyse(image).record(position=7).encode()


def record(fingers: tuple[Finger, ...] = (), face: Face | None = None) -> CheckRecord:
    return CheckRecord(uuid7(), "hh-0001", 1, b"b" * 16, 1, "op", fingers=fingers, face=face)


def embedding(seed: int, noise: float = 0.0, base: int | None = None) -> bytes:
    rng = np.random.default_rng(seed)
    vector = np.random.default_rng(base if base is not None else seed).normal(0, 1, 128)
    vector = vector + rng.normal(0, noise, 128)
    return np.clip(vector / np.abs(vector).max() * 127, -127, 127).astype(np.int8).tobytes()


def test_fingerprint_hit_respects_positions(tmp_path: Path) -> None:
    store = SQLiteWatchlist(tmp_path / "wl.db")
    store.add(WatchlistEntry("WL-1", "red-notice", ((7, template(1, 0)),)))
    store.add(WatchlistEntry("WL-2", "missing-person", ((7, template(2, 0)),)))
    matcher = WatchlistMatcher(store)
    outcome = matcher.search(record((Finger(7, 60, template(2, 2)),)))
    assert outcome.hit and outcome.reference == "WL-2" and outcome.notice == "missing-person"
    assert outcome.fmr < 1e-3
    other_position = matcher.search(record((Finger(3, 60, template(2, 2)),)))
    assert not other_position.hit  # a left middle finger is not compared with a left index
    stranger = matcher.search(record((Finger(7, 60, template(9, 1)),)))
    assert not stranger.hit and stranger.reference is None


def test_face_hit_and_no_face_confusion(tmp_path: Path) -> None:
    store = SQLiteWatchlist(tmp_path / "wl.db")
    store.add(WatchlistEntry("WL-F", "red-notice", (), face=embedding(5)))
    matcher = WatchlistMatcher(store)
    same = matcher.search(record(face=Face(embedding(6, noise=0.3, base=5), "m-1", 80)))
    assert same.hit and same.reference == "WL-F" and same.modality == "face"
    assert same.score >= FACE_THRESHOLD
    other = matcher.search(record(face=Face(embedding(77), "m-1", 80)))
    assert not other.hit


def test_index_follows_the_store(tmp_path: Path) -> None:
    store = SQLiteWatchlist(tmp_path / "wl.db")
    matcher = WatchlistMatcher(store)
    probe = record((Finger(7, 60, template(3, 1)),))
    assert not matcher.search(probe).hit
    store.add(WatchlistEntry("WL-3", "red-notice", ((7, template(3, 0)),)))
    assert matcher.search(probe).hit
    assert store.remove("WL-3")
    assert not matcher.search(probe).hit


def test_broken_templates_do_not_break_matching(tmp_path: Path) -> None:
    store = SQLiteWatchlist(tmp_path / "wl.db")
    store.add(WatchlistEntry("WL-bad", "red-notice", ((7, b"FMR\x00garbage"),)))
    matcher = WatchlistMatcher(store)
    outcome = matcher.search(record((Finger(7, 60, b"also garbage"),)))
    assert not outcome.hit


def test_fmr_estimate_falls_with_the_score() -> None:
    assert finger_fmr(0.0) == 1.0
    assert finger_fmr(0.03) < 1e-2 < finger_fmr(0.02)
    assert finger_fmr(0.045) < 1e-4
    assert finger_fmr(FINGER_THRESHOLD) <= 1e-6
    scores = np.linspace(0, 0.1, 50)
    assert np.all(np.diff([finger_fmr(s) for s in scores]) <= 0)


def _population_store(tmp_path: Path, people: int) -> tuple[SQLiteWatchlist, list[object]]:
    rng = np.random.default_rng(5)
    store = SQLiteWatchlist(tmp_path / "wl.db")
    masters = []
    entries = []
    for person in range(people):
        left, right = pop.master_finger(person, 7), pop.master_finger(person, 2)
        masters.append((left, right))
        entries.append(
            WatchlistEntry(
                f"WL-{person}",
                "red-notice",
                ((7, pop.template(left, rng, 7)), (2, pop.template(right, rng, 2))),
                face=pop.face_capture(pop.face_identity(person), rng),
            )
        )
    store.add_many(entries)
    return store, masters


def test_index_puts_the_mate_on_the_short_list_among_thousands() -> None:
    rng = np.random.default_rng(8)
    masters = [pop.master_finger(person, 7) for person in range(3000)]
    enrolled = [fpm.prepare(pop.impression(m, rng)) for m in masters]
    index = FingerprintIndex(enrolled, [7] * len(enrolled))
    found = 0
    for person in range(0, 3000, 60):
        probe = fpm.prepare(pop.impression(masters[person], rng))
        shortlist = [c.finger for c in index.search(probe, 7, limit=4)]
        found += person in shortlist
        assert len(shortlist) <= 4
    assert found >= 40  # of 50; about 90 % measured
    # A probe at another finger position finds nothing enrolled at position 7.
    assert index.search(fpm.prepare(pop.impression(masters[0], rng)), 2) == []


def test_search_finds_a_person_by_either_modality(tmp_path: Path) -> None:
    store, masters = _population_store(tmp_path, 400)
    matcher = WatchlistMatcher(store)
    assert matcher.refresh() == 400
    rng = np.random.default_rng(9)
    target = 123
    left, right = masters[target]  # type: ignore[misc]
    fingers = (
        Finger(7, 60, pop.template(left, rng, 7)),
        Finger(2, 60, pop.template(right, rng, 2)),
    )
    own_face = Face(pop.face_capture(pop.face_identity(target), rng), "m-1", 80)
    stranger_face = Face(pop.face_capture(pop.face_identity(10_000), rng), "m-1", 80)
    stranger = pop.master_finger(10_001, 7)
    stranger_fingers = (Finger(7, 60, pop.template(stranger, rng, 7)),)

    both = matcher.search(record(fingers, own_face))
    assert both.hit and both.reference == f"WL-{target}" and both.modality == "fingerprint+face"
    assert both.candidates <= 2 * 3 + 3  # the full matcher saw a short list, not 400 people
    by_finger = matcher.search(record(fingers, stranger_face))
    assert by_finger.hit and by_finger.reference == f"WL-{target}"
    assert by_finger.modality == "fingerprint"
    by_face = matcher.search(record(stranger_fingers, own_face))
    assert by_face.hit and by_face.reference == f"WL-{target}" and by_face.modality == "face"
    nobody = matcher.search(record(stranger_fingers, stranger_face))
    assert not nobody.hit and nobody.modality == "none"
