"""The fingerprint chain: streamed rows -> blocks -> 425 ppi -> LEADER -> quality -> template.

``FingerprintAnalyzer.stream`` returns a :class:`FingerStream` that takes the
sensor's rows as they arrive (block measures are done band by band), and
``finish`` runs what needs the whole image: the foreground mask, the network's
window within its time budget (:mod:`framing`: :data:`NETWORK_PPI`, lower for a finger
too large for the budget), resampling to it, the network, the quality score and the
ISO/IEC 19794-2 record, whose minutiae are at 500 ppi (:data:`PPI`) as the
standard's records and every matcher expect.
``analyse`` does the same for an image already in memory.

Templates are capped at :data:`MAX_MINUTIAE` (the most reliable kept), which
bounds a ten-finger record at 24 + 10 x (6 + 6 x 48) = 2,964 bytes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt
from PIL import Image

from firmware.biometrics.fingerprint.blocks import BandAccumulator, Blocks, Mask
from firmware.biometrics.fingerprint.errors import FingerprintError
from firmware.biometrics.fingerprint.framing import at_ppi, block_of, frame
from firmware.biometrics.fingerprint.leader import MinutiaeNetwork, RawMinutia
from firmware.biometrics.fingerprint.quality import FingerQuality, assess
from wire.iso19794_2 import BIFURCATION, RIDGE_ENDING, FingerView, Minutia, MinutiaeRecord

MAX_MINUTIAE = 48
PPI = 500
"""The resolution of the template's coordinates (and of the size it records)."""
NETWORK_PPI = 425
"""The resolution LEADER is run at. On the eight FVC2000/2002 B sets it is as accurate at 425
ppi as at 500 (EER 0.75 % against 0.72 % on average, each set within a comparison either
way; FNMR at FMR 0.1 % 1.07 % against 1.47 %; 24 genuine pairs failing at FMR 0.1 % instead
of 34), chosen by leaving one set out it is 425 for each of them, and the network's time,
which follows its pixels, falls to 0.72 (400 and 450 ppi were as accurate on average but
not set by set; 350 was worse; the model card has the sweep)."""
VERSION = "leader-pyfing-0.7.3/tflite/425ppi-budget/3"


@dataclass(frozen=True)
class FingerResult:
    minutiae: tuple[Minutia, ...]
    """At 500 ppi, in the coordinates of the image resampled to it."""
    quality: FingerQuality
    width: int
    height: int
    """Size of the resampled (500 ppi) image the minutiae refer to."""
    model: str
    network_ppi: int = NETWORK_PPI
    """The resolution the network ran at (lower for a large finger: see ``framing``)."""
    timings_ms: dict[str, float] = field(default_factory=dict)

    def view(self, position: int, impression: int = 0) -> FingerView:
        return FingerView(position, self.minutiae, self.quality.score, impression)

    def record(self, position: int, impression: int = 0) -> MinutiaeRecord:
        """The ISO/IEC 19794-2:2005 record of this finger (``encode()`` for its bytes)."""
        return MinutiaeRecord(self.width, self.height, (self.view(position, impression),))

    def summary(self) -> dict[str, object]:
        return {
            "quality": self.quality.score,
            "guidance": list(self.quality.guidance),
            "failing": list(self.quality.failing),
            "minutiae": len(self.minutiae),
            "template_bytes": len(self.record(0).encode()),
            "image_500ppi": f"{self.width}x{self.height}",
            "model": self.model,
            "network_ppi": self.network_ppi,
            "measures": self.quality.measures,
        }


def resample(pixels: npt.NDArray[np.uint8], ppi: int, target: int) -> npt.NDArray[np.uint8]:
    """The image at ``target`` ppi (bicubic, which low-pass filters as it shrinks), unchanged
    when it already is."""
    if ppi == target:
        return pixels
    height, width = at_ppi(pixels.shape, ppi, target)
    return np.asarray(Image.fromarray(pixels).resize((width, height), Image.Resampling.BICUBIC))


def pixel_mask(blocks: Blocks, finger: Mask, shape: tuple[int, int], ppi: int, target: int) -> Mask:
    """The block mask spread over a ``target`` ppi pixel grid of ``shape``."""
    scale = ppi / target / blocks.size
    rows = block_of(shape[0], finger.shape[0], scale)
    cols = block_of(shape[1], finger.shape[1], scale)
    return np.asarray(finger[rows[:, None], cols[None, :]])


class FingerStream:
    """One capture in progress; feed rows in order, then :meth:`finish`."""

    def __init__(self, network: MinutiaeNetwork, width: int, height: int, ppi: int) -> None:
        self._network = network
        self._bands = BandAccumulator(width, height, ppi)
        self.ppi = ppi

    @property
    def pixels(self) -> npt.NDArray[np.uint8]:
        """The image as received so far (the whole image after the last row)."""
        return self._bands.pixels

    def feed(self, index: int, row: npt.NDArray[np.uint8]) -> None:
        self._bands.feed(index, row)

    def finish(self) -> FingerResult:
        started = time.perf_counter()
        pixels, blocks = self._bands.finish()
        finger = blocks.foreground()
        framing = frame(blocks, finger, pixels.shape, self.ppi, NETWORK_PPI)
        image = resample(pixels, self.ppi, framing.ppi)
        mask = pixel_mask(blocks, finger, image.shape, self.ppi, framing.ppi)
        height, width = at_ppi(pixels.shape, self.ppi, PPI)
        prepared = time.perf_counter()
        found = self._network.detect(image, mask, MAX_MINUTIAE, framing.window, framing.budget)
        raw = [_at_500(m, height, width, framing.ppi) for m in found]
        detected = time.perf_counter()
        scale = self.ppi / PPI / blocks.size
        cells = [
            (min(int(m.y * scale), finger.shape[0] - 1), min(int(m.x * scale), finger.shape[1] - 1))
            for m in raw
        ]
        quality = assess(blocks, finger, [m.reliability for m in raw], cells, self.ppi)
        minutiae = tuple(_minutia(m) for m in raw)
        done = time.perf_counter()
        timings = {
            "prepare": 1000 * (prepared - started),
            "network": 1000 * (detected - prepared),
            "quality": 1000 * (done - detected),
        }
        model = self._network.last_model
        return FingerResult(minutiae, quality, width, height, model, framing.ppi, timings)


def _at_500(m: RawMinutia, height: int, width: int, ppi: int) -> RawMinutia:
    """A minutia found at ``ppi`` (the network's) in the coordinates of the 500 ppi image."""
    scale = PPI / ppi
    x = min(width - 1, round((m.x + 0.5) * scale - 0.5))
    y = min(height - 1, round((m.y + 0.5) * scale - 0.5))
    return replace(m, x=max(0, x), y=max(0, y))


def _minutia(m: RawMinutia) -> Minutia:
    kind = RIDGE_ENDING if m.ending else BIFURCATION
    return Minutia(m.x, m.y, m.angle, kind, max(1, min(100, round(100 * m.reliability))))


class FingerprintAnalyzer:
    """The whole chain; the models load on first use and are shared per process."""

    def __init__(self, precision: str = "dr8", threads: int = 1) -> None:
        self.network = MinutiaeNetwork(precision, threads)

    def preload(self) -> None:
        """Load the network the last capture needed, so the next one does not wait for it."""
        self.network.preload()

    def stream(self, width: int, height: int, ppi: int) -> FingerStream:
        return FingerStream(self.network, width, height, ppi)

    def analyse(self, pixels: npt.NDArray[np.uint8], ppi: int = PPI) -> FingerResult:
        if pixels.ndim != 2 or pixels.dtype != np.uint8:
            raise FingerprintError(
                f"a fingerprint image must be 8-bit grey (2-D uint8), not {pixels.dtype} "
                f"{pixels.shape}: convert it first"
            )
        stream = self.stream(pixels.shape[1], pixels.shape[0], ppi)
        for index, row in enumerate(pixels):
            stream.feed(index, row)
        return stream.finish()
