"""Minutiae from the LEADER network (Cappelli et al. 2026; pyfing, MIT) on LiteRT.

LEADER maps a grey image (the chain gives it 425 ppi: ``pipeline.NETWORK_PPI``)
to minutia probability, direction (atan2, radians) and type (ending
probability) at full resolution, and the probability after non-maximum
suppression, which is also each minutia's
reliability. The shipped model stops at the suppressed probability and the
features its heads share; the direction and type heads run at the minutiae
only (:mod:`heads`: the same function, a quarter of the network's time saved).
TFLite needs a fixed input size, so ``models/fingerprint`` holds one model per
sensor family and sizes between them; the finger's bounding box (from the
streamed block mask) picks the smallest model that holds it, so a partial
touch on a large sensor runs the small model. An image larger than the
largest model is cropped around the finger.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from firmware.biometrics.fingerprint.heads import PointHeads
from models import Model, load

Grey = npt.NDArray[np.uint8]
Mask = npt.NDArray[np.bool_]
Plane = npt.NDArray[np.float32]

SIZES = (
    ("256x288", 288, 256),
    ("256x352", 352, 256),
    ("320x320", 320, 320),
    ("288x352", 352, 288),
    ("256x448", 448, 256),
    ("352x352", 352, 352),
    ("320x416", 416, 320),
    ("352x384", 384, 352),
    ("320x512", 512, 320),
    ("416x448", 448, 416),
    ("416x512", 512, 416),
)
"""(model name, input height, input width), by area. The network's time follows the pixels
it is given (about 0.9 ms per thousand on one x86 core), so between the sensor families'
sizes (256x288 UART modules, 300x400 and 400x500 optical ones at 500 ppi, padded to multiples
of 32) are sizes that fit common windows tighter. The chain runs the network at 425 ppi
(``pipeline.NETWORK_PPI``), where a 256x364 image is 218x309, 288x384 is 245x326, 388x374 is
330x318, 296x560 at 569 ppi is 221x418 and 448x478 is 381x406: the sizes added for them
(256x352, 288x352, 352x352, 256x448, 416x448) hold each with :data:`PAD` to spare."""
THRESHOLD = 0.35
"""On the suppressed probability. pyfing's default is 0.6; with the MCC matcher 0.35 gave
the lowest EER on the eight FVC2000/2002 B sets (2.4 % against 4.2 % at 0.6): the
matcher's relaxation discounts the extra, less certain minutiae that do not agree."""
MARGIN = 16
"""Pixels of context kept around the finger's bounding box."""
PRECISIONS = ("dr8", "f16")


@dataclass(frozen=True)
class RawMinutia:
    x: int
    y: int
    angle: float
    """Radians in [0, 2*pi), counter-clockwise with y pointing up (as ISO/IEC 19794-2)."""
    ending: bool
    reliability: float
    """The network's suppressed probability, THRESHOLD..1."""


NATIVE = frozenset({"256x288", "320x416", "416x512"})
"""The sensor families' own sizes, which a window may fill to the edge (a whole UART image
runs the 256x288 model, as it always has)."""
PAD = 8
"""Pixels of background fill the other sizes keep between the window and the input's edge on
every side: fitted exactly, the network's zero padding (black, the colour of a ridge) met
the print's edge, and on FVC2002 DB4 one more genuine pair failed."""


def room(size: tuple[str, int, int]) -> tuple[int, int]:
    """The (height, width) of window a model of :data:`SIZES` takes: its input less
    :data:`PAD` on every side, except for the sensor families' own sizes."""
    name, height, width = size
    margin = 0 if name in NATIVE else 2 * PAD
    return height - margin, width - margin


def choose(height: int, width: int, budget: int | None = None) -> tuple[str, int, int]:
    """The smallest model (by area) that holds a ``height`` x ``width`` window (a size
    between the families with :data:`PAD` to spare on every side), among those of at most
    ``budget`` pixels when given; when none holds it, the one that holds most of it (the
    window is then cropped)."""
    sizes = [s for s in SIZES if budget is None or s[1] * s[2] <= budget] or [SIZES[0]]
    holding = [s for s in sizes if height <= room(s)[0] and width <= room(s)[1]]
    if holding:
        return min(holding, key=lambda size: size[1] * size[2])

    def held(size: tuple[str, int, int]) -> tuple[int, int]:
        h, w = room(size)
        return min(h, height) * min(w, width), -size[1] * size[2]

    return max(sizes, key=held)


def unpack(packed: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.float32], Plane]:
    """The model's one output (H/2 x W/2 x (C + 4)) as the heads' features (H/2 x W/2 x C)
    and the suppressed probability (H x W), whose 2x2 blocks are the last four channels
    (TensorFlow's space-to-depth order: channel 2 p + q is row offset p, column offset q)."""
    half_h, half_w = packed.shape[:2]
    blocks = packed[..., -4:].reshape(half_h, half_w, 2, 2)
    return packed[..., :-4], blocks.transpose(0, 2, 1, 3).reshape(2 * half_h, 2 * half_w)


class MinutiaeNetwork:
    """LEADER at the shipped sizes; models load on first use and are shared per process."""

    def __init__(self, precision: str = "dr8", threads: int = 1) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
        if threads < 1:
            raise ValueError(f"threads must be 1 or more, not {threads}")
        self.precision = precision
        self.threads = threads
        self.last_model = ""
        self._heads: PointHeads | None = None

    @property
    def heads(self) -> PointHeads:
        """The direction and type heads (loaded and verified on first use)."""
        if self._heads is None:
            self._heads = PointHeads.load()
        return self._heads

    def model(self, name: str) -> Model:
        return load(f"fingerprint/leader_{name}_{self.precision}.tflite", self.threads)

    def preload(self) -> None:
        """Load the model the last capture used (the sensor's size) ahead of the next one."""
        if self.last_model:
            self.model(self.last_model)
        self.heads  # noqa: B018 (loads them)

    def detect(
        self,
        image: Grey,
        finger: Mask,
        limit: int | None = None,
        window: tuple[int, int, int, int] | None = None,
        budget: int | None = None,
    ) -> list[RawMinutia]:
        """Minutiae inside ``finger`` (a pixel mask of ``image``, at the same resolution), the
        most reliable first; the ``limit`` most reliable when given. The network is given
        ``window`` (top, bottom, left, right; by default the finger's bounding box with
        :data:`MARGIN` pixels of context), run by a model of at most ``budget`` pixels."""
        ys, xs = np.nonzero(finger)
        if ys.size == 0:
            return []
        height, width = image.shape
        if window is None:
            top, bottom = max(0, int(ys.min()) - MARGIN), min(height, int(ys.max()) + 1 + MARGIN)
            left, right = max(0, int(xs.min()) - MARGIN), min(width, int(xs.max()) + 1 + MARGIN)
        else:
            top, bottom, left, right = window
        name, in_h, in_w = choose(bottom - top, right - left, budget)
        room_h, room_w = room((name, in_h, in_w))
        # Too big for the model: cropped around the window's centre. (The centre of the
        # finger's mask was worse on FVC2000 DB3, whose masks take in the platen's residue:
        # seven genuine pairs failing at FMR 0.1 % instead of two.)
        if bottom - top > room_h:
            top = (top + bottom - room_h) // 2
            bottom = top + room_h
        if right - left > room_w:
            left = (left + right - room_w) // 2
            right = left + room_w
        seen = image[top:bottom, left:right]
        background = image[~finger]
        fill = float(np.median(background)) if background.size else 255.0
        canvas = np.full((1, in_h, in_w, 1), fill, np.float32)
        oy, ox = (in_h - seen.shape[0]) // 2, (in_w - seen.shape[1]) // 2
        canvas[0, oy : oy + seen.shape[0], ox : ox + seen.shape[1], 0] = seen
        self.last_model = name
        features, suppressed = unpack(next(iter(self.model(name).run(canvas).values()))[0])
        suppressed = suppressed[oy : oy + seen.shape[0], ox : ox + seen.shape[1]]
        inside = finger[top:bottom, left:right]
        py, px = np.nonzero((suppressed >= THRESHOLD) & inside)
        reliability = suppressed[py, px]
        order = np.argsort(-reliability, kind="stable")[:limit]
        py, px, reliability = py[order], px[order], reliability[order]
        # The heads work in the canvas's coordinates: its half-resolution features and the
        # phase of each pixel in it.
        angles, endings, _ = self.heads.at(features, py + oy, px + ox)
        return [
            RawMinutia(int(x) + left, int(y) + top, float(a), bool(e), float(r))
            for y, x, a, e, r in zip(py, px, angles, endings, reliability, strict=True)
        ]
