"""Watchlist matching: the three outcomes on real captures (phantoms, the astronaut), by
position, by either modality, following the watchlist as it changes."""

from __future__ import annotations

import functools
import threading
from pathlib import Path

import numpy as np
import pytest

from bench import population as pop
from central import fingerprint_matcher as fpm
from central.database import Database
from central.fingerprint_index import FingerprintIndex
from central.matching import WatchlistMatcher
from central.watchlist import Watchlist, WatchlistEntry
from firmware.biometrics.face.pipeline import FaceAnalyzer
from firmware.biometrics.fingerprint.pipeline import FingerprintAnalyzer
from hal.phantoms import fingerprint as fp
from hal.phantoms.face import FrameVariation, render
from wire.answer import HIT, NO_HIT, POSSIBLE_MATCH
from wire.record import CheckRecord, Face, Finger, uuid7

FACE_MODEL = "sface-2021dec/tflite-drq/1"


@functools.lru_cache(maxsize=64)
def template(finger: int, impression: int, position: int = 7) -> bytes:
    """A real extractor's template of a phantom finger (the device's chain)."""
    image = fp.impression(fp.identity(finger, seed=31), impression, difficulty=0.3)
    return FingerprintAnalyzer().analyse(image).record(position=position).encode()


@functools.lru_cache(maxsize=8)
def astronaut(variant: int) -> bytes:
    """The device's face embedding of the astronaut, posed and lit differently per variant."""
    variation = [
        FrameVariation(),
        FrameVariation(scale=0.8, dx=20, roll_deg=8, exposure=0.7),
    ][variant]
    result = FaceAnalyzer().analyse(render(variation, seed=variant))
    assert result is not None
    return result.embedding_bytes()


def watchlist(tmp_path: Path) -> Watchlist:
    return Watchlist(Database(f"sqlite:{tmp_path / 'central.db'}"))


def record(fingers: tuple[Finger, ...] = (), face: Face | None = None) -> CheckRecord:
    return CheckRecord(uuid7(), "hh-0001", 1, b"b" * 16, 1, "op", fingers=fingers, face=face)


def test_a_strong_two_finger_match_is_a_hit(tmp_path: Path) -> None:
    store = watchlist(tmp_path)
    store.add(WatchlistEntry("WL-1", "red-notice", ((7, template(1, 0)), (2, template(2, 0, 2)))))
    store.add(WatchlistEntry("WL-2", "yellow-notice", ((7, template(3, 0)),)))
    matcher = WatchlistMatcher(store)
    both = matcher.search(record((Finger(7, 60, template(1, 2)), Finger(2, 60, template(2, 3, 2)))))
    assert both.outcome == HIT and both.reference == "WL-1" and both.notice == "red-notice"
    assert both.modalities == ("fingerprint",)
    assert both.fmr <= both.fmr_upper < 1e-5  # decided on the upper bound
    stranger = matcher.search(record((Finger(7, 60, template(9, 1)),)))
    assert stranger.outcome == NO_HIT and stranger.reference is None


def test_fingers_are_compared_at_their_position_only(tmp_path: Path) -> None:
    store = watchlist(tmp_path)
    store.add(WatchlistEntry("WL-2", "yellow-notice", ((7, template(3, 0)),)))
    matcher = WatchlistMatcher(store)
    assert matcher.search(record((Finger(7, 60, template(3, 2)),))).reference == "WL-2"
    # The same finger presented as a left middle finger is never compared with a left index.
    assert matcher.search(record((Finger(3, 60, template(3, 2, 3)),))).outcome == NO_HIT


def test_a_face_alone_is_a_possible_match_never_a_hit(tmp_path: Path) -> None:
    store = watchlist(tmp_path)
    store.add(WatchlistEntry("WL-F", "red-notice", (), face=astronaut(0)))
    matcher = WatchlistMatcher(store)
    same = matcher.search(record(face=Face(astronaut(1), FACE_MODEL, 80)))
    assert same.outcome == POSSIBLE_MATCH and same.reference == "WL-F"
    assert same.modalities == ("face",) and same.fmr_upper < 1e-3
    assert same.evidence is not None and same.evidence.face is not None
    assert same.evidence.face > 0.5
    # Another model's embedding is never compared, however alike the bytes.
    other_model = matcher.search(record(face=Face(astronaut(1), "another-model/1", 80)))
    assert other_model.outcome == NO_HIT


def test_the_same_evidence_weighs_less_against_a_larger_watchlist() -> None:
    from central import calibration, decision

    score = calibration.threshold(calibration.FINGERPRINT, 5e-6)
    one_finger = decision.Evidence(0, (score,), None)
    small, large = decision.verdict(one_finger, 1), decision.verdict(one_finger, 1000)
    assert large.fmr_upper == pytest.approx(small.fmr_upper * 1000, rel=1e-6)
    assert (small.outcome, large.outcome) == (HIT, NO_HIT)
    strength = [NO_HIT, POSSIBLE_MATCH, HIT]
    assert strength.index(small.outcome) > strength.index(large.outcome)
    face_only = decision.Evidence(0, (), 0.99)
    assert decision.verdict(face_only, 1).outcome == POSSIBLE_MATCH  # however strong
    weak = decision.Evidence(0, (0.01, 0.02), 0.1)
    assert (
        decision.verdict(weak, 1).outcome == NO_HIT and decision.verdict(weak, 1).modalities == ()
    )


def test_calibration_is_measured_and_monotone() -> None:
    from central import calibration

    for modality in (calibration.FINGERPRINT, calibration.FACE):
        tail = calibration.tails()[modality]
        assert tail.pairs > 100_000 and tail.sources
        scores = np.linspace(0, 1, 200)
        estimates = [calibration.survival(modality, s) for s in scores]
        assert all(e <= u for e, u in estimates)
        assert np.all(np.diff([e for e, _ in estimates]) <= 0)
        assert np.all(np.diff([u for _, u in estimates]) <= 0)
        assert estimates[-1][1] < 1e-6 < estimates[0][0]


def test_the_matcher_follows_the_watchlist(tmp_path: Path) -> None:
    store = watchlist(tmp_path)
    matcher = WatchlistMatcher(store)
    probe = record((Finger(7, 60, template(3, 1)), Finger(2, 60, template(4, 1, 2))))
    assert matcher.search(probe).outcome == NO_HIT
    store.add(WatchlistEntry("WL-3", "red-notice", ((7, template(3, 0)), (2, template(4, 0, 2)))))
    matcher.refresh()
    assert matcher.search(probe).outcome == HIT
    assert store.remove("WL-3")
    matcher.refresh()
    assert matcher.search(probe).outcome == NO_HIT
    store.add(WatchlistEntry("WL-3b", "blue-notice", ((7, template(3, 0)), (2, template(4, 0, 2)))))
    matcher.refresh()
    assert matcher.search(probe).reference == "WL-3b"


def test_a_search_never_waits_for_a_watchlist_change(tmp_path: Path) -> None:
    """The refresher applies changes beside the serving view: while it is stuck applying one,
    searches still answer from the view they have; once it is done the next check sees it."""
    store = watchlist(tmp_path)
    store.add(WatchlistEntry("WL-1", "red-notice", ((7, template(1, 0)),)))
    matcher = WatchlistMatcher(store)
    matcher.refresh()
    applying, release = threading.Event(), threading.Event()
    real_apply = matcher.gallery.apply

    def slow_apply(*args: object, **kwargs: object) -> None:
        applying.set()
        release.wait(30)
        real_apply(*args, **kwargs)  # type: ignore[arg-type]

    matcher.gallery.apply = slow_apply  # type: ignore[method-assign]
    matcher.start(every_s=0.05)
    try:
        store.add(
            WatchlistEntry("WL-new", "red-notice", ((7, template(5, 0)), (2, template(6, 0, 2))))
        )
        assert applying.wait(10)
        old = matcher.search(record((Finger(7, 60, template(1, 2)),)))  # answered meanwhile
        assert old.reference == "WL-1"
        release.set()
        newcomer = record((Finger(7, 60, template(5, 2)), Finger(2, 60, template(6, 2, 2))))
        for _ in range(100):
            if matcher.search(newcomer).reference == "WL-new":
                break
            threading.Event().wait(0.05)
        assert matcher.search(newcomer).outcome == HIT
    finally:
        release.set()
        matcher.stop()


def test_garbage_in_a_check_does_not_break_matching(tmp_path: Path) -> None:
    store = watchlist(tmp_path)
    store.add(WatchlistEntry("WL-1", "red-notice", ((7, template(1, 0)),)))
    matcher = WatchlistMatcher(store)
    outcome = matcher.search(
        record((Finger(7, 60, b"FMR\x00garbage"),), Face(b"\x00" * 128, FACE_MODEL, 1))
    )
    assert outcome.outcome == NO_HIT


def _population_store(tmp_path: Path, people: int) -> tuple[Watchlist, list[object]]:
    rng = np.random.default_rng(5)
    store = watchlist(tmp_path)
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
    own_face = Face(pop.face_capture(pop.face_identity(target), rng), FACE_MODEL, 80)
    stranger_face = Face(pop.face_capture(pop.face_identity(10_000), rng), FACE_MODEL, 80)
    stranger = pop.master_finger(10_001, 7)
    stranger_fingers = (Finger(7, 60, pop.template(stranger, rng, 7)),)

    both = matcher.search(record(fingers, own_face))
    assert both.hit and both.reference == f"WL-{target}" and both.modality == "fingerprint+face"
    assert both.candidates <= 2 * 3 + 3  # the full matcher saw a short list, not 400 people
    by_finger = matcher.search(record(fingers, stranger_face))
    assert by_finger.hit and by_finger.reference == f"WL-{target}"
    assert by_finger.modality == "fingerprint"
    by_face = matcher.search(record((), own_face))
    assert by_face.outcome == POSSIBLE_MATCH and by_face.reference == f"WL-{target}"
    assert by_face.modality == "face"
    nobody = matcher.search(record(stranger_fingers, stranger_face))
    assert nobody.outcome == NO_HIT and nobody.modality == "none"


def test_the_gallery_keeps_neither_keys_nor_cylinders_for_every_finger(tmp_path: Path) -> None:
    """What a gateway holds per person stays small at any watchlist size and over any
    number of searches: index keys only for fingers the large index lacks, cylinders only
    in a bounded cache of recently met fingers (kept for every finger, the two made a
    100,000-person gallery 2.4 GB and growing, and a million people would not fit)."""
    store, masters = _population_store(tmp_path, 300)
    matcher = WatchlistMatcher(store)
    matcher.refresh()
    gallery = matcher.gallery
    gallery._cylinders.capacity = 10
    assert gallery._recent_keys == []  # the load built the large index, keys not kept
    rng = np.random.default_rng(12)
    for person in range(0, 300, 20):
        left, right = masters[person]  # type: ignore[misc]
        fingers = (
            Finger(7, 60, pop.template(left, rng, 7)),
            Finger(2, 60, pop.template(right, rng, 2)),
        )
        assert matcher.search(record(fingers)).reference == f"WL-{person}"
    assert len(gallery._cylinders) == 10
    assert not any("_cylinders" in vars(finger) for finger in gallery.view.fingers)
    # A live addition is keyed until the next large index, then its keys go too.
    left, right = pop.master_finger(5000, 7), pop.master_finger(5000, 2)
    store.add(WatchlistEntry("WL-new", "red-notice", ((7, pop.template(left, rng, 7)),)))
    matcher.refresh()
    assert len(gallery._recent_keys) == 1
    probe = (Finger(7, 60, pop.template(left, rng, 7)),)
    assert matcher.search(record(probe)).reference == "WL-new"
    gallery.compact()
    assert gallery._recent_keys == []
    assert matcher.search(record(probe)).reference == "WL-new"


def test_the_face_search_reads_int8_rows_and_scores_as_the_wire_says() -> None:
    """The gallery keeps the embeddings as they travel (int8, a quarter of the bytes a
    search must read); the similarity it computes is the wire's cosine, and a removed
    person's face scores 0."""
    from central import gallery_kernel
    from central.gallery import Gallery
    from wire import face as face_wire

    rng = np.random.default_rng(21)
    faces = [pop.face_capture(pop.face_identity(person), rng) for person in range(40)]
    gallery = Gallery()
    gallery.apply(WatchlistEntry(f"WL-{i}", "red-notice", face=f) for i, f in enumerate(faces))
    gallery.apply((), ["WL-3"])
    view = gallery.view
    probe = pop.face_capture(pop.face_identity(7), rng)
    vector, inverse_norm = face_wire.decode_int8(probe)
    scores = gallery_kernel.face_scores(view.faces, view.face_scale, view.face_count, vector)
    scores *= inverse_norm
    expected = [face_wire.similarity(probe, f) for f in faces]
    expected[3] = 0.0
    assert np.allclose(scores, expected, atol=1e-6)
    assert int(np.argmax(scores)) == 7


def test_the_face_search_products_are_the_exact_integer_dot_products() -> None:
    """The compiled face search sums in float32 lanes in any order (fast): that is exact
    only because every partial sum is an integer below 2**24. Extreme rows included, it
    must equal numpy's integer dot product bit for bit."""
    from central import gallery_kernel

    rng = np.random.default_rng(5)
    rows = rng.integers(-128, 128, size=(3000, 128)).astype(np.int8)
    rows[0] = 127
    rows[1] = -128
    probe = rng.integers(-128, 128, size=128).astype(np.int8)
    probe[:64] = -128
    exact = rows.astype(np.int64) @ probe.astype(np.int64)
    scores = gallery_kernel.face_scores(rows, np.ones(len(rows)), len(rows), probe)
    assert np.array_equal(scores, exact.astype(np.float64))
    assert abs(exact).max() > 2**20  # the extremes were exercised


def _reference_vote(
    postings: np.ndarray,
    lo: np.ndarray,
    lengths: np.ndarray,
    probe_angles: np.ndarray,
    norm: np.ndarray,
    shortlist: int,
    rotation_bins: int,
    limit: int,
) -> tuple[list[int], list[float]]:
    """What the index's vote means, written plainly (sorts over every finger)."""
    meets = [(int(postings[j]) >> 8, int(postings[j]) & 0xFF, int(probe_angles[i]))
             for i in range(len(lo)) for j in range(lo[i], lo[i] + lengths[i])]  # fmt: skip
    counts = np.bincount([m[0] for m in meets], minlength=len(norm))
    touched = [f for f in range(len(norm)) if counts[f]]
    ranked = sorted(touched, key=lambda f: (-(counts[f] * norm[f]), f))
    chosen = sorted(ranked[:shortlist])
    shift = 8 - int(np.log2(rotation_bins))
    consistent = []
    for f in chosen:
        bins = np.zeros(rotation_bins, np.int64)
        for owner, angle, probe in meets:
            if owner == f:
                bins[((angle - probe) & 0xFF) >> shift] += 1
        consistent.append(max(bins[k] + bins[k - 1] for k in range(rotation_bins)) * norm[f])
    order = sorted(range(len(chosen)), key=lambda r: -consistent[r])[:limit]
    return [chosen[r] for r in order if consistent[r] > 0], [
        consistent[r] for r in order if consistent[r] > 0
    ]


def test_the_index_vote_is_what_its_plain_definition_says() -> None:
    """The compiled vote (counters, a bound that leaves few votes to partition, ties to the
    lower finger) shortlists and ranks exactly as the plain sorted definition, with the
    many ties that integer counts and few distinct norms make."""
    from central import gallery_kernel

    rng = np.random.default_rng(17)
    for trial in range(30):
        size = int(rng.integers(5, 400))
        norm = 1.0 / np.sqrt(rng.choice([30, 40, 41, 60], size=size) + 1.0)
        buckets = int(rng.integers(1, 60))
        owners = rng.integers(0, size, size=int(rng.integers(1, 3000))).astype(np.uint32)
        angles = rng.integers(0, 256, size=owners.size).astype(np.uint32)
        postings = (owners << np.uint32(8)) | angles
        cuts = np.sort(rng.integers(0, postings.size + 1, size=buckets))
        lo = cuts.astype(np.int64)
        lengths = (np.append(cuts[1:], postings.size) - cuts).astype(np.int64)
        probe = rng.integers(0, 256, size=buckets).astype(np.uint8)
        shortlist = int(rng.choice([1, 3, 20, 300]))
        fingers, scores = gallery_kernel.vote(postings, lo, lengths, probe, norm, shortlist, 16, 6)
        want_fingers, want_scores = _reference_vote(
            postings, lo, lengths, probe, norm, shortlist, 16, 6
        )
        assert fingers.tolist() == want_fingers, trial
        assert np.allclose(scores, want_scores), trial


def test_a_finger_the_index_did_not_name_is_compared_only_once_something_agrees() -> None:
    """A candidate named by one probe finger: that finger is compared in full first; the
    other (its cylinders built on first contact, the search's largest cost) only when
    the first agrees. A stranger's nominating finger does not, so the other is never
    built; a mate's does, so the mate's evidence holds both fingers."""
    from central import calibration, decision
    from central.gallery import Gallery
    from central.matching import _evidence, _probes

    gallery = Gallery()
    gallery.apply(
        [WatchlistEntry("WL-1", "red-notice", ((7, template(1, 0)), (2, template(2, 0, 2))))]
    )
    view = gallery.view
    stranger = record((Finger(7, 60, template(9, 1)), Finger(2, 60, template(2, 3, 2))))
    evidence = _evidence(view, 0, _probes(stranger), None, None, {0})
    assert not decision.agrees(calibration.FINGERPRINT, evidence.fingers[0])
    assert evidence.fingers[1] == 0.0
    assert len(view.cylinders) == 1  # the second finger was never built

    mate = record((Finger(7, 60, template(1, 2)), Finger(2, 60, template(2, 3, 2))))
    evidence = _evidence(view, 0, _probes(mate), None, None, {0})
    assert all(decision.agrees(calibration.FINGERPRINT, s) for s in evidence.fingers)
    assert len(view.cylinders) == 2
    assert decision.verdict(evidence, view.people).outcome == HIT


def test_the_compiled_keys_are_the_documented_ones_bit_for_bit() -> None:
    """The gallery files fingers under compiled keys and searches with compiled probe keys;
    both must be exactly what the index's numpy definitions give, or mates stop meeting
    (real extractor templates and synthetic ones, which have many near-boundary bins)."""
    from central.fingerprint_index import enrolled_keys, keyed, probe_keys, probed
    from central.gallery import prepared_views

    rng = np.random.default_rng(3)
    templates = [template(f, i) for f in (1, 2) for i in (0, 1)]
    templates += [pop.template(pop.master_finger(p, 7), rng, 7) for p in range(30)]
    for data in templates:
        for _position, finger in prepared_views(data):
            for compiled, defined in ((keyed, enrolled_keys), (probed, probe_keys)):
                keys, angles = compiled(finger)
                want_keys, want_angles = defined(finger)
                assert np.array_equal(keys, want_keys)
                assert np.array_equal(angles, want_angles)
