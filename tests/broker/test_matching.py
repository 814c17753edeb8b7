"""Watchlist matching: fingerprints by position, faces by cosine similarity, no false hits."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from central.matching import FACE_THRESHOLD, WatchlistMatcher, finger_fmr
from central.watchlist import SQLiteWatchlist, WatchlistEntry
from firmware.biometrics.minutiae import extract
from hal.phantoms import fingerprint as fp
from wire.record import CheckRecord, Face, Finger, uuid7


def template(finger: int, impression: int) -> bytes:
    image = fp.impression(fp.identity(finger, seed=31), impression, difficulty=0.3)
    return extract(image).record(position=7, quality=60).encode()


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
    assert finger_fmr(0.05) < 1e-2 < finger_fmr(0.03)
    assert finger_fmr(0.12) <= 1.2e-4
