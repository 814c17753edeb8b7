"""Matching a check against the watchlist: fingerprints and face, decided on calibrated rates.

A search looks at every person on the watchlist, in two stages, over the
current view of the gallery (:mod:`central.gallery`, kept current by a refresher
thread that applies the watchlist's change log, so no search waits for it):

1. **Pre-selection.** Each probe finger goes through the triplet index
   (:mod:`central.fingerprint_index`: the large index and the small one of recent
   additions) over every enrolled finger at the same position (position 0,
   unknown, meets all); the face embedding, when present, is compared by cosine
   similarity with every enrolled face of the same model in one matrix product.
   The few best of each become candidates.
2. **Evidence and decision.** A candidate's fingers are compared with the probe's
   by the full minutiae matcher, and its face by cosine: first the probe fingers
   whose index search named the candidate, then the others, but only where
   something already agrees (a finger or the face), since a finger alone can only
   decide an outcome if it is strong, and a strong mate is what the index names. Its
   cylinders are built on first contact, so this halves the search's largest cost
   for strangers, whose nominating fingers do not agree. Each candidate's evidence
   becomes a verdict (:mod:`central.decision`: the
   false-match rate of the whole search, from the impostor scores measured in
   :mod:`central.calibration`), and the strongest verdict is the answer:
   HIT, POSSIBLE MATCH or NO HIT, with the rate stated.

A person can therefore be found by either modality: one whose face changed is
still found by the fingers, one whose fingers were not enrolled by the face; a
face alone can only ever make a possible match for an examiner.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from central import calibration, decision, fingerprint_index, gallery_kernel
from central import fingerprint_matcher as fpm
from central.fingerprint_index import Candidate, Keyed, probed
from central.gallery import Gallery, View, prepared_views
from central.watchlist import Watchlist
from wire import face as face_wire
from wire.answer import NO_HIT
from wire.record import CheckRecord

log = logging.getLogger(__name__)

FINGER_SHORTLIST = 3
"""Candidates each probe finger takes from the index to the full matcher."""
FACE_SHORTLIST = 3
FACE_SUGGESTS = 0.35
"""A face candidate's fingers are also fully matched when its face is at least this close
(one comparison's false-match rate about 1e-3): strangers' best faces stay below it, and a
full match of a finger not seen before costs milliseconds (its cylinders are built then)."""


@dataclass(frozen=True)
class MatchOutcome:
    outcome: str
    """hit, possible_match or no_hit."""
    reference: str | None
    notice: str | None
    score: float
    fmr: float
    fmr_upper: float
    modalities: tuple[str, ...]
    candidates: int = 0
    """How many people the pre-selection handed to the full comparison."""
    person: int | None = None
    """The matched person's number in the gallery view (evidence for an examiner)."""
    people: int = 0
    """Live people on the watchlist when searched."""
    evidence: decision.Evidence | None = field(default=None, compare=False)

    @property
    def hit(self) -> bool:
        return self.outcome == "hit"

    @property
    def modality(self) -> str:
        """'fingerprint', 'face', 'fingerprint+face', or 'none' (for the audit)."""
        return "+".join(self.modalities) or "none"


class WatchlistMatcher:
    def __init__(self, watchlist: Watchlist) -> None:
        self.watchlist = watchlist
        self.gallery = Gallery()
        self._applied = -1
        self._refreshing = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        fpm.warm_up()
        fingerprint_index.warm_up()
        gallery_kernel.face_scores(  # compiled now, not by the first check with a face
            np.zeros((1, face_wire.DIMS), np.int8), np.zeros(1), 1, np.ones(face_wire.DIMS, np.int8)
        )

    # -- keeping the gallery current ---------------------------------------------------------

    def refresh(self) -> int:
        """Apply the watchlist's changes since the last refresh (all of it the first time);
        the number of people on the watchlist."""
        with self._refreshing:
            if self._applied < 0:
                last = self.watchlist.last_change()
                self.gallery.load_rows(row for page in self.watchlist.pages() for row in page)
                self._applied = last
            else:
                changes = self.watchlist.changes(self._applied)
                if changes:
                    final: dict[str, str] = {}
                    for _seq, reference, op in changes:
                        final[reference] = op
                    added = [r for r, op in final.items() if op == "add"]
                    removed = [r for r, op in final.items() if op == "remove"]
                    self.gallery.apply(self.watchlist.entries(added), removed)
                    self._applied = changes[-1][0]
                if self.gallery.needs_compaction():
                    self.gallery.compact()
            return self.gallery.view.people

    def start(self, every_s: float = 0.2) -> WatchlistMatcher:
        """Keep the gallery current from a thread of its own (the gateway's)."""
        self.refresh()

        def run() -> None:
            failing = False
            while not self._stop.wait(every_s):
                try:
                    self.refresh()
                except Exception as exc:  # a database hiccup must not end the refresher
                    if not failing:
                        log.error("watchlist refresh failed (%s); retrying", exc)
                    failing = True
                else:
                    if failing:
                        log.warning("watchlist refresh works again")
                    failing = False

        self._thread = threading.Thread(target=run, name="watchlist", daemon=True)
        self._thread.start()
        return self

    @property
    def following(self) -> bool:
        """Whether a thread keeps the gallery current (:meth:`start`)."""
        return self._thread is not None

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    # -- searching ---------------------------------------------------------------------------

    def search(self, record: CheckRecord) -> MatchOutcome:
        if self._applied < 0:
            self.refresh()
        view = self.gallery.view
        probes = _probes(record)
        keyed = [(position, probe, probed(probe)) for position, probe in probes]
        nominated: dict[int, set[int]] = {}  # person -> the probes (by number) that named them
        for number, (position, _probe, keys) in enumerate(keyed):
            for found in _finger_candidates(view, keys, position):
                nominated.setdefault(view.finger_owner[found.finger], set()).add(number)
        face_sims: dict[int, float] = {}
        probe_face = _probe_face(record)
        if probe_face is not None and view.face_count:
            vector, inverse_norm = probe_face
            sims = (
                gallery_kernel.face_scores(view.faces, view.face_scale, view.face_count, vector)
                * inverse_norm
            )
            top = min(FACE_SHORTLIST, sims.size)
            for row in np.argpartition(sims, -top)[-top:]:
                person = view.face_owner[row]
                if person in view.removed:
                    continue
                face_sims[person] = float(sims[row])
                if sims[row] >= FACE_SUGGESTS:
                    nominated[person] = set(range(len(probes)))
        candidates = (set(nominated) | set(face_sims)) - view.removed
        verdicts: list[tuple[decision.Verdict, int, decision.Evidence]] = []
        for person in sorted(candidates):
            # A face candidate below FACE_SUGGESTS is judged on its face alone: matching its
            # fingers (cylinders built on first contact, about half a millisecond each) would cost
            # more than all the rest of the search, for people the fingers did not point at.
            evidence = _evidence(
                view, person, probes, probe_face, face_sims.get(person), nominated.get(person)
            )
            verdicts.append((decision.verdict(evidence, view.people), person, evidence))
        best = decision.strongest([v for v, _p, _e in verdicts])
        if best is None:
            return MatchOutcome(NO_HIT, None, None, 0.0, 1.0, 1.0, (), len(candidates), None,
                                view.people)  # fmt: skip
        _v, person, evidence = next(item for item in verdicts if item[0] is best)
        entry = view.persons[person]
        if best.outcome == NO_HIT:
            return MatchOutcome(NO_HIT, None, None, best.score, best.fmr, best.fmr_upper,
                                best.modalities, len(candidates), None, view.people)  # fmt: skip
        return MatchOutcome(
            best.outcome,
            entry.reference,
            entry.notice,
            best.score,
            best.fmr,
            best.fmr_upper,
            best.modalities,
            len(candidates),
            person,
            view.people,
            evidence,
        )


def _finger_candidates(view: View, keys: Keyed, position: int) -> list[Candidate]:
    extra = FINGER_SHORTLIST + min(len(view.removed), 20)
    found = view.main.search_keys(keys, position, extra) + view.delta.search_keys(
        keys, position, extra
    )
    live = [c for c in found if view.finger_owner[c.finger] not in view.removed]
    return sorted(live, key=lambda c: -c.score)[:FINGER_SHORTLIST]


def _evidence(
    view: View,
    person: int,
    probes: list[tuple[int, fpm.Prepared]],
    probe_face: ProbeFace | None,
    face_similarity: float | None,
    nominators: set[int] | None,
) -> decision.Evidence:
    """What the search has on ``person``. ``nominators`` are the probes (by number) whose
    index search named them; they are compared in full, the other probes only if
    something then agrees. A probe not compared counts as compared (it was, through
    the index) and not agreeing; without ``nominators`` (a person the face alone
    brought) none is."""
    entry = view.persons[person]
    if face_similarity is None and probe_face is not None and entry.face_row is not None:
        vector, inverse_norm = probe_face
        row = entry.face_row
        face_similarity = float(
            np.dot(view.faces[row].astype(np.int32), vector.astype(np.int32))
            * view.face_scale[row]
            * inverse_norm
        )
    scores = [0.0] * len(probes)
    compared = 1

    def compare(number: int) -> float:
        nonlocal compared
        position, probe = probes[number]
        matched = [
            finger
            for finger in entry.fingers
            if not position
            or not view.finger_position[finger]
            or view.finger_position[finger] == position
        ]
        compared = max(compared, len(matched))
        best = 0.0
        for finger in matched:
            best = max(best, float(fpm.match(probe, view.matchable(finger))[0]))
        return best

    if nominators:
        for number in sorted(nominators):
            scores[number] = compare(number)
        others = [number for number in range(len(probes)) if number not in nominators]
        if others and (
            any(decision.agrees(calibration.FINGERPRINT, scores[n]) for n in nominators)
            or (face_similarity is not None and decision.agrees(calibration.FACE, face_similarity))
        ):
            for number in others:
                scores[number] = compare(number)
    return decision.Evidence(person, tuple(scores), face_similarity, compared)


def _probes(record: CheckRecord) -> list[tuple[int, fpm.Prepared]]:
    probes = []
    for finger in record.fingers:
        for view_position, prepared in prepared_views(finger.template):
            probes.append((finger.position or view_position, prepared))
    return probes


ProbeFace = tuple[npt.NDArray[np.int8], float]
"""The check's embedding as it travels (int8) and 1 / its norm."""


def _probe_face(record: CheckRecord) -> ProbeFace | None:
    if record.face is None or record.face.model_version != face_wire.VERSION:
        return None  # embeddings of different models are never compared
    try:
        return face_wire.decode_int8(record.face.embedding)
    except face_wire.EmbeddingError:
        return None
