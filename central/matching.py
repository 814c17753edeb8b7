"""Matching a check against the watchlist: fingerprints and face, fused.

A search looks at every person on the watchlist, in two stages:

1. **Pre-selection.** Each probe finger goes through the triplet index
   (:mod:`central.fingerprint_index`) over every enrolled finger at the same
   position (position 0, unknown, is compared with all); the face embedding,
   when present, is compared by cosine similarity with every enrolled face in
   one matrix product (1.7 ms for 100,000 faces, so the face needs no coarser
   index). The few best of each become candidates.
2. **Decision.** Every candidate is compared with the full minutiae matcher on
   all the check's fingers and by cosine on the face. A person is a HIT when
   any finger or the face passes its threshold; the answer carries the score,
   its estimated false-match rate and the modalities that agreed.

A person can therefore be found by either modality: one whose face changed is
still found by the fingers, one whose fingers were not enrolled by the face.

The fingerprint score-to-FMR table was measured with the device's chain
(LEADER minutiae, MCC matcher) on the eight FVC2000/2002 B sets (23,040
impostor pairs, ``hotspot bench fingerprint``): measured down to 1e-4, and
extrapolated below along the impostor tail's exponential slope (a decade per
0.009 of score). The face threshold comes from ``wire.face``'s calibration.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from central import fingerprint_matcher as fpm
from central.fingerprint_index import FingerprintIndex
from central.watchlist import WatchlistEntry, WatchlistStore
from wire import face as face_wire
from wire.iso19794_2 import MinutiaeRecord, TemplateError
from wire.record import CheckRecord

FINGER_THRESHOLD = 0.06
"""Estimated FMR below 1e-6 per comparison (extrapolated). The full matcher sees only the index's
shortlist (3 candidates a finger), so a stranger's check makes a handful of comparisons and
raises a false finger hit about once in 100,000 checks. Same-finger FVC pairs pass it in
92 % of cases (the sets hold deliberately hard impressions; the face can still find them)."""
FACE_THRESHOLD = round(face_wire.threshold(1e-6), 2)
"""0.60: one comparison's estimated false-match rate is 1e-6 (wire.face's calibration), so a
stranger searched against 10,000 faces raises a false face hit about once in 100 checks."""
# (score, estimated FMR): measured on the FVC sets above down to 1e-4, then extrapolated.
FINGER_FMR_TABLE = (
    (0.0, 1.0),
    (0.0176, 1e-1),
    (0.0230, 1e-2),
    (0.0288, 1e-3),
    (0.0400, 1e-4),
    (0.058, 1e-6),
    (0.076, 1e-8),
)


def finger_fmr(score: float) -> float:
    scores = [s for s, _ in FINGER_FMR_TABLE]
    rates = [np.log10(r) for _, r in FINGER_FMR_TABLE]
    return float(10 ** np.interp(score, scores, rates))


FINGER_SHORTLIST = 3
"""Candidates each probe finger takes from the index to the full matcher."""
FACE_SHORTLIST = 3
FACE_SUGGESTS = 0.75 * FACE_THRESHOLD
"""A face candidate's fingers are also fully matched only when its face is at least this
close: strangers' best faces stay well below it, and each full match of a finger not seen
before costs milliseconds (its cylinders are built on first use)."""


@dataclass(frozen=True)
class MatchOutcome:
    hit: bool
    reference: str | None
    notice: str | None
    score: float
    fmr: float
    modality: str
    """'fingerprint', 'face', 'fingerprint+face' (both passed), or 'none'."""
    candidates: int = 0
    """How many people the pre-selection handed to the full comparison."""


@dataclass
class _Snapshot:
    """Everything a search needs, rebuilt when the watchlist changes."""

    entries: list[WatchlistEntry]
    fingers: list[fpm.Prepared]
    finger_position: list[int]
    finger_owner: npt.NDArray[np.int64]
    fingers_of: list[list[int]]
    index: FingerprintIndex
    faces: npt.NDArray[np.float32]
    """(n_faces, dims) unit rows."""
    face_owner: npt.NDArray[np.int64]
    face_of: dict[int, int]


def _snapshot(store: WatchlistStore) -> _Snapshot:
    entries: list[WatchlistEntry] = []
    fingers: list[fpm.Prepared] = []
    positions: list[int] = []
    owners: list[int] = []
    fingers_of: list[list[int]] = []
    faces: list[npt.NDArray[np.float32]] = []
    face_owner: list[int] = []
    for entry in store.entries():
        number = len(entries)
        mine: list[int] = []
        for position, template in entry.fingers:
            try:
                record = MinutiaeRecord.decode(template)
            except TemplateError:
                continue  # a broken watchlist template is skipped, not fatal
            ppi = record.resolution_ppcm * 2.54
            for view in record.views:
                mine.append(len(fingers))
                fingers.append(fpm.prepare(view.minutiae, ppi))
                positions.append(position or view.position)
                owners.append(number)
        if entry.face is not None:
            faces.append(_unit(entry.face))
            face_owner.append(number)
        entries.append(entry)
        fingers_of.append(mine)
    width = max((f.size for f in faces), default=1)
    matrix = (
        np.stack([np.pad(f, (0, width - f.size)) for f in faces])
        if faces
        else np.zeros((0, width), dtype=np.float32)
    )
    return _Snapshot(
        entries,
        fingers,
        positions,
        np.array(owners, dtype=np.int64),
        fingers_of,
        FingerprintIndex(fingers, positions),
        matrix.astype(np.float32),
        np.array(face_owner, dtype=np.int64),
        {owner: row for row, owner in enumerate(face_owner)},
    )


class WatchlistMatcher:
    def __init__(self, store: WatchlistStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._version = -1
        self._snap: _Snapshot | None = None
        fpm.warm_up()

    def refresh(self) -> int:
        """Rebuild the index if the watchlist changed; the number of people indexed."""
        with self._lock:
            return len(self._current().entries)

    def _current(self) -> _Snapshot:
        version = self._store.version()
        if self._snap is None or version != self._version:
            self._snap = _snapshot(self._store)
            self._version = version
        return self._snap

    def search(self, record: CheckRecord) -> MatchOutcome:
        with self._lock:
            snap = self._current()
        probes = _probes(record)
        # (probe, person) pairs for the full matcher: a finger's own candidates, and
        # every finger of the face's candidates (so both modalities can agree).
        nominated: set[tuple[int, int]] = set()
        face_candidates: set[int] = set()
        for number, (position, probe) in enumerate(probes):
            for found in snap.index.search(probe, position, FINGER_SHORTLIST):
                nominated.add((number, int(snap.finger_owner[found.finger])))
        probe_face = None
        if record.face is not None and snap.faces.shape[0]:
            width = snap.faces.shape[1]
            probe_face = _unit(record.face.embedding)
            probe_face = np.pad(probe_face, (0, max(0, width - probe_face.size)))[:width]
            sims = snap.faces @ probe_face
            top = min(FACE_SHORTLIST, sims.size)
            for row in np.argpartition(sims, -top)[-top:]:
                person = int(snap.face_owner[row])
                face_candidates.add(person)
                if sims[row] >= FACE_SUGGESTS:
                    nominated.update((number, person) for number in range(len(probes)))
        best_finger: tuple[float, int] = (0.0, -1)
        best_face: tuple[float, int] = (-1.0, -1)
        for probe_number, person in sorted(nominated):
            position, probe = probes[probe_number]
            for number in snap.fingers_of[person]:
                theirs = snap.finger_position[number]
                if position and theirs and position != theirs:
                    continue
                score, _ = fpm.match(probe, snap.fingers[number])
                if score > best_finger[0]:
                    best_finger = (score, person)
        candidates = {person for _, person in nominated} | face_candidates
        for person in sorted(candidates):
            row = snap.face_of.get(person)
            if probe_face is not None and row is not None:
                similarity = float(snap.faces[row] @ probe_face)
                if similarity > best_face[0]:
                    best_face = (similarity, person)
        return _decide(snap, best_finger, best_face, len(candidates))


def _probes(record: CheckRecord) -> list[tuple[int, fpm.Prepared]]:
    probes = []
    for finger in record.fingers:
        try:
            parsed = MinutiaeRecord.decode(finger.template)
        except TemplateError:
            continue
        ppi = parsed.resolution_ppcm * 2.54
        for view in parsed.views:
            probes.append((finger.position, fpm.prepare(view.minutiae, ppi)))
    return probes


def _decide(
    snap: _Snapshot,
    finger: tuple[float, int],
    face: tuple[float, int],
    candidates: int,
) -> MatchOutcome:
    finger_score, finger_person = finger
    face_score, face_person = face
    finger_hit = finger_score >= FINGER_THRESHOLD
    face_hit = face_score >= FACE_THRESHOLD
    if finger_hit:
        entry = snap.entries[finger_person]
        both = face_hit and face_person == finger_person
        return MatchOutcome(
            True,
            entry.reference,
            entry.notice,
            finger_score,
            finger_fmr(finger_score),
            "fingerprint+face" if both else "fingerprint",
            candidates,
        )
    if face_hit:
        entry = snap.entries[face_person]
        return MatchOutcome(
            True, entry.reference, entry.notice, face_score, 1e-3, "face", candidates
        )
    return MatchOutcome(
        False, None, None, finger_score, finger_fmr(finger_score), "none", candidates
    )


def _unit(embedding: bytes) -> npt.NDArray[np.float32]:
    vector = np.frombuffer(embedding, dtype=np.int8).astype(np.float32)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector
