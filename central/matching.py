"""Matching a check against the watchlist: fingerprints and face, fused.

The index holds every watchlist template prepared for matching (rebuilt when
the store's version changes). A check's fingers are compared with the entries'
fingers at the same position (position 0, unknown, compares with all); its
face embedding, when present, by cosine similarity over the whole watchlist in
one matrix product. An entry is a HIT when any finger or the face passes its
threshold; the answer carries the score and its estimated false-match rate.

Thresholds and the score-to-FMR table were measured with the classical
extractor on FVC2000 DB2_B and FVC2002 DB1_B/DB3_B (8,640 impostor pairs):
below 1e-3 the rate is an upper bound, not a measurement. Issue 3 recalibrates
them with its benchmark; issue 5 calibrates the face threshold.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from central import fingerprint_matcher as fpm
from central.watchlist import WatchlistEntry, WatchlistStore
from wire.iso19794_2 import MinutiaeRecord, TemplateError
from wire.record import CheckRecord

FINGER_THRESHOLD = 0.10
FACE_THRESHOLD = 0.60
# (score, estimated FMR) pooled over the three FVC sets above.
FINGER_FMR_TABLE = ((0.0, 1.0), (0.03, 3e-2), (0.048, 1e-2), (0.075, 1e-3), (0.10, 1.2e-4))


def finger_fmr(score: float) -> float:
    scores = [s for s, _ in FINGER_FMR_TABLE]
    rates = [np.log10(r) for _, r in FINGER_FMR_TABLE]
    return float(10 ** np.interp(score, scores, rates))


@dataclass(frozen=True)
class MatchOutcome:
    hit: bool
    reference: str | None
    notice: str | None
    score: float
    fmr: float
    modality: str


@dataclass
class _Indexed:
    entry: WatchlistEntry
    fingers: list[tuple[int, fpm.Prepared]]


class WatchlistMatcher:
    def __init__(self, store: WatchlistStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._version = -1
        self._entries: list[_Indexed] = []
        self._faces = np.zeros((0, 1), dtype=np.float32)
        self._face_owner: list[int] = []

    def _refresh(self) -> None:
        version = self._store.version()
        if version == self._version:
            return
        entries: list[_Indexed] = []
        faces: list[npt.NDArray[np.float32]] = []
        owners: list[int] = []
        for entry in self._store.entries():
            fingers = []
            for position, template in entry.fingers:
                try:
                    record = MinutiaeRecord.decode(template)
                except TemplateError:
                    continue  # a broken watchlist template is skipped, not fatal
                for view in record.views:
                    ppi = record.resolution_ppcm * 2.54
                    fingers.append((position or view.position, fpm.prepare(view.minutiae, ppi)))
            if entry.face is not None:
                faces.append(_unit(entry.face))
                owners.append(len(entries))
            entries.append(_Indexed(entry, fingers))
        self._entries = entries
        width = max((f.size for f in faces), default=1)
        self._faces = (
            np.stack([np.pad(f, (0, width - f.size)) for f in faces])
            if faces
            else np.zeros((0, width), dtype=np.float32)
        )
        self._face_owner = owners
        self._version = version

    def search(self, record: CheckRecord) -> MatchOutcome:
        with self._lock:
            self._refresh()
            best: tuple[float, int, str] = (0.0, -1, "fingerprint")
            probes = []
            for finger in record.fingers:
                try:
                    parsed = MinutiaeRecord.decode(finger.template)
                except TemplateError:
                    continue
                for view in parsed.views:
                    ppi = parsed.resolution_ppcm * 2.54
                    probes.append((finger.position, fpm.prepare(view.minutiae, ppi)))
            for index, item in enumerate(self._entries):
                for position, probe in probes:
                    for their_position, template in item.fingers:
                        if position and their_position and position != their_position:
                            continue
                        score, _ = fpm.match(probe, template)
                        if score > best[0]:
                            best = (score, index, "fingerprint")
            finger_score, finger_index, _ = best
            if finger_score >= FINGER_THRESHOLD:
                entry = self._entries[finger_index].entry
                return MatchOutcome(
                    True,
                    entry.reference,
                    entry.notice,
                    finger_score,
                    finger_fmr(finger_score),
                    "fingerprint",
                )
            if record.face is not None and self._faces.shape[0]:
                probe_face = _unit(record.face.embedding)
                width = self._faces.shape[1]
                probe_face = np.pad(probe_face, (0, max(0, width - probe_face.size)))[:width]
                sims = self._faces @ probe_face
                top = int(np.argmax(sims))
                if float(sims[top]) >= FACE_THRESHOLD:
                    entry = self._entries[self._face_owner[top]].entry
                    return MatchOutcome(
                        True, entry.reference, entry.notice, float(sims[top]), 1e-3, "face"
                    )
            return MatchOutcome(False, None, None, finger_score, finger_fmr(finger_score), "none")


def _unit(embedding: bytes) -> npt.NDArray[np.float32]:
    vector = np.frombuffer(embedding, dtype=np.int8).astype(np.float32)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector
