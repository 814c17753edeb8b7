"""The searchable watchlist of one gateway: fingers, faces and their index, changed in place.

A change to the watchlist must reach searches within a second, at 100,000 people,
without a rebuild in front of them. So the gallery is append-only and searched
through immutable views:

* people, fingers (prepared for the matcher and keyed for the index) and faces
  are appended (faces as they travel, int8, with 1 / their norm); a removed person
  is a tombstone, skipped by searches (its face's scale is zeroed); a replaced one
  is a removal and an addition;
* the fingers are indexed twice: a large dense index built once, and a small
  sparse one of the fingers added since, rebuilt with each change (milliseconds);
  when the small one passes ``max(2,000, 5 %)`` of the large one, a new large
  index is built beside the serving one (seconds, on the refresher's thread,
  compiled code that releases the GIL) and swapped in;
* only the fingers' minutiae are kept for good (about 1 KB a finger). Their index
  keys (2.4 KB a finger) are kept only for the fingers the large index does not
  hold yet, and made again, one finger position at a time, when a large index is
  built; the matcher's cylinders (14 KB a finger) live in a bounded cache of the
  fingers searches met most recently. Kept for every finger, those two made a
  100,000-person gallery 2.4 GB and growing with every search, and a
  1,000,000-person one would not fit in a machine;
* after every change a new :class:`View` is published with one reference swap;
  a search takes the current view and never waits for a writer.

Templates are parsed and keyed by compiled code (:mod:`central.gallery_kernel`),
so a gateway indexes 100,000 people in seconds rather than minutes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cbor2
import numpy as np
import numpy.typing as npt

from central import gallery_kernel
from central.fingerprint_index import FingerprintIndex, Keyed, keyed
from central.fingerprint_matcher import Prepared
from central.watchlist import WatchlistEntry
from wire import face as face_wire
from wire.iso19794_2 import MinutiaeRecord, TemplateError

COMPACT_MIN = 2000
COMPACT_SHARE = 0.05
CYLINDER_CACHE = 20_000
"""Fingers whose cylinders are kept ready (about 14 KB each, so some 300 MB): a search
meets a dozen new candidates, so this is the last 1,500 searches' worth."""


class CylinderCache:
    """The matcher's form of the gallery fingers searches met most recently.

    A gallery finger's cylinders take 0.2-0.5 ms to build and 14 KB to keep; a
    watchlisted person checked again, or a popular impostor, meets them again.
    Finger numbers are never reused (the gallery only appends), so an entry stays
    right across views."""

    def __init__(self, capacity: int = CYLINDER_CACHE) -> None:
        self.capacity = capacity
        self._ready: OrderedDict[int, Prepared] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, number: int, finger: Prepared) -> Prepared:
        with self._lock:
            ready = self._ready.get(number)
            if ready is not None:
                self._ready.move_to_end(number)
                return ready
        ready = Prepared(finger.xy, finger.angle)
        _ = ready.bits  # built outside the lock: two searches may build one twice, harmlessly
        with self._lock:
            self._ready[number] = ready
            while len(self._ready) > self.capacity:
                self._ready.popitem(last=False)
        return ready

    def __len__(self) -> int:
        return len(self._ready)


@dataclass(frozen=True)
class Person:
    reference: str
    notice: str
    fingers: tuple[int, ...]
    """Numbers of this person's fingers in the gallery."""
    face_row: int | None


@dataclass(frozen=True)
class View:
    """What one search reads: consistent counts over append-only lists, and the indexes."""

    persons: list[Person]
    removed: frozenset[int]
    fingers: list[Prepared]
    finger_position: list[int]
    finger_owner: list[int]
    main: FingerprintIndex
    delta: FingerprintIndex
    faces: npt.NDArray[np.int8]
    """(rows, 128) embeddings as they travel (int8)."""
    face_scale: npt.NDArray[np.float64]
    """Per row, 1 / its norm: zero for removed people, so their similarity is 0."""
    face_owner: list[int]
    people: int
    """Live people."""
    cylinders: CylinderCache

    def matchable(self, number: int) -> Prepared:
        """Finger ``number`` with its cylinders, ready for the full matcher."""
        return self.cylinders.get(number, self.fingers[number])

    @property
    def face_count(self) -> int:
        return len(self.face_owner)


def prepared_views(template: bytes) -> list[tuple[int, Prepared]]:
    """(position, prepared minutiae) of each view of a stored template (compiled for the
    single-view records the watchlist holds, the strict decoder for anything else)."""
    data = np.frombuffer(template, np.uint8)
    if len(data) >= 28 and data[22] == 1:
        xy, angle = gallery_kernel.iso_minutiae(data)
        return [(int(data[24]), Prepared(xy, angle))]
    try:
        record = MinutiaeRecord.decode(template)
    except TemplateError:
        return []
    from central import fingerprint_matcher as fpm

    ppi = record.resolution_ppcm * 2.54
    return [(view.position, fpm.prepare(view.minutiae, ppi)) for view in record.views]


class Gallery:
    def __init__(self) -> None:
        self._write = threading.Lock()
        self._persons: list[Person] = []
        self._live: dict[str, int] = {}
        self._removed: frozenset[int] = frozenset()
        self._fingers: list[Prepared] = []
        self._recent_keys: list[Keyed] = []
        """Keys of the fingers from ``_main_count`` on (those the large index lacks)."""
        self._position: list[int] = []
        self._owner: list[int] = []
        self._faces = np.zeros((1024, face_wire.DIMS), np.int8)
        self._face_scale = np.zeros(1024)
        self._face_owner: list[int] = []
        self._main = FingerprintIndex()
        self._main_count = 0
        self._cylinders = CylinderCache()
        self.view = self._publish(FingerprintIndex(sparse=True))

    def _publish(self, delta: FingerprintIndex) -> View:
        view = View(
            self._persons,
            self._removed,
            self._fingers,
            self._position,
            self._owner,
            self._main,
            delta,
            self._faces,
            self._face_scale,
            list(self._face_owner),
            len(self._live),
            self._cylinders,
        )
        self.view = view
        return view

    # -- changes (one writer at a time) -----------------------------------------------------

    def apply(self, added: Iterable[WatchlistEntry], removed: Iterable[str] = ()) -> None:
        """Remove ``removed``, add (or replace) ``added``, and publish a new view."""
        with self._write:
            for reference in removed:
                self._drop(reference)
            for entry in added:
                self._drop(entry.reference)
                self._add(entry)
            self._publish(self._delta())

    def _drop(self, reference: str) -> None:
        number = self._live.pop(reference, None)
        if number is None:
            return
        self._removed = self._removed | {number}
        row = self._persons[number].face_row
        if row is not None:
            self._face_scale[row] = 0.0

    def _add(self, entry: WatchlistEntry, keys: bool = True) -> None:
        number = len(self._persons)
        mine = []
        for position, template in entry.fingers:
            for view_position, prepared in prepared_views(template):
                mine.append(len(self._fingers))
                if keys:
                    self._recent_keys.append(keyed(prepared))
                self._fingers.append(prepared)
                self._position.append(position or view_position)
                self._owner.append(number)
        face_row = None
        if entry.face is not None and entry.face_version == face_wire.VERSION:
            face_row = len(self._face_owner)
            if face_row >= self._faces.shape[0]:
                grown = np.zeros((2 * self._faces.shape[0], face_wire.DIMS), np.int8)
                grown[:face_row] = self._faces[:face_row]
                scale = np.zeros(2 * self._faces.shape[0])
                scale[:face_row] = self._face_scale[:face_row]
                # Views published before keep the old arrays.
                self._faces, self._face_scale = grown, scale
            vector, inverse_norm = face_wire.decode_int8(entry.face)
            self._faces[face_row] = vector
            self._face_scale[face_row] = inverse_norm
            self._face_owner.append(number)
        self._persons.append(Person(entry.reference, entry.notice, tuple(mine), face_row))
        self._live[entry.reference] = number

    def _delta(self) -> FingerprintIndex:
        start = self._main_count
        return FingerprintIndex(
            keys=self._recent_keys,
            positions=self._position[start:],
            numbers=list(range(start, len(self._fingers))),
            sparse=True,
        )

    def needs_compaction(self) -> bool:
        added = len(self._fingers) - self._main_count
        return added > max(COMPACT_MIN, COMPACT_SHARE * self._main_count)

    def compact(self) -> None:
        """Build a new large index over every finger so far, beside the serving one; swap."""
        with self._write:
            count = len(self._fingers)
            fingers, positions = self._fingers[:count], self._position[:count]
        # The long part, unlocked; keys are made again as each position's shard needs them.
        main = FingerprintIndex(keys=_Keys(fingers), positions=positions)
        with self._write:
            self._main = main
            self._recent_keys = self._recent_keys[count - self._main_count :]
            self._main_count = count
            self._publish(self._delta())

    # -- loading ----------------------------------------------------------------------------

    def load_rows(self, rows: Iterable[tuple[str, str, bytes, bytes | None, str | None]]) -> int:
        """Add watchlist rows as the database holds them (fingers CBOR-encoded), index them
        and publish the view."""
        entries = (
            WatchlistEntry(
                reference,
                notice,
                tuple((int(p), bytes(t)) for p, t in cbor2.loads(fingers)),
                None if face is None else bytes(face),
                face_version or face_wire.VERSION,
            )
            for reference, notice, fingers, face, face_version in rows
        )
        before = len(self._live)
        with self._write:
            first = not self._fingers
            for entry in entries:
                self._drop(entry.reference)
                self._add(entry, keys=not first)
            if first:
                # One large index over all of them, under the lock (nothing is served yet):
                # a delta index of everything would be built for nothing (it took a third
                # of a 100,000-person start), and keys kept for it would double the memory.
                count = len(self._fingers)
                self._main = FingerprintIndex(
                    keys=_Keys(self._fingers[:count]), positions=self._position[:count]
                )
                self._main_count = count
                self._publish(self._delta())
        if not first:
            self.compact()
        return len(self._live) - before


class _Keys(Sequence[Keyed]):
    """The fingers' index keys, made when asked for (compiled, a few microseconds each), so
    that an index build holds one position's keys at a time, never all of them."""

    def __init__(self, fingers: list[Prepared]) -> None:
        self._fingers = fingers

    def __len__(self) -> int:
        return len(self._fingers)

    def __getitem__(self, i: int) -> Keyed:  # type: ignore[override]
        return keyed(self._fingers[i])
