"""Where the network looks, and at what resolution: the finger's window within a time budget.

Why: LEADER's time follows the pixels it is given (about 0.8 ms per thousand on one x86
core, ten times that on the handheld's), and a whole finger on a large optical sensor
needed the 416x448 model at :data:`pipeline.NETWORK_PPI`: 170 ms here, where every other
window of the FVC sets ran in under 110. The network is given at most :data:`BUDGET` pixels
instead. A finger whose window at the network's resolution needs more is framed in three
steps, each taken only as far as the one before falls short:

1. The window is the finger's clear ridges (the blocks the quality score counts at all:
   local clarity at least ``quality.HALF_CLEAR``, the largest connected region) without the
   background margin. On optical sensors the platen's residue around a finger has enough
   contrast to enter the finger's mask (on FVC2000 DB3 it takes in most of the 448x478
   image), and it holds no minutiae.
2. The network's resolution falls, :data:`PPI_STEP` at a time, until that window fits a
   model within the budget, down to :data:`LOWEST_PPI`.
3. What still does not fit is cropped around the window's centre (``leader.detect``).

The window is not grown back toward the rest of the finger where the model would have room:
that was tried, and on FVC2000 DB3 it failed one more genuine pair at FMR 0.1 % and took
FVC2002 DB1 6 ms longer; the ridges left out are the unclear ones.

A finger whose window fits the budget at the network's resolution is framed exactly as
before: the finger's mask with ``leader.MARGIN`` pixels of context.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from firmware.biometrics.fingerprint import leader
from firmware.biometrics.fingerprint.blocks import Blocks, Mask
from firmware.biometrics.fingerprint.quality import HALF_CLEAR

BUDGET = 102_400
"""Pixels the network may be given (the 320x320 and 288x352 models: about 80 ms on one x86
core, 90 ms with the rest of the chain). Larger windows are framed as the module says."""
LOWEST_PPI = 375
"""How far the network's resolution may fall for a large finger. LEADER was published for
500 ppi; the chain runs it at 425, and a sweep of the whole chain at fixed resolutions (the
model card's *At 425 ppi*) found 400 ppi as accurate on average and 350 ppi worse. On FVC2000
DB3, whose fingers are the largest here, 400 ppi with the remainder cropped lost two genuine
pairs at FMR 1 %, 375 none, 350 two (*A time budget* in the model card)."""
PPI_STEP = 5

Window = tuple[int, int, int, int]
"""(top, bottom, left, right) in the network's pixels, bottom and right exclusive."""


@dataclass(frozen=True)
class Framing:
    ppi: int
    """The resolution the network runs at."""
    window: Window
    """The pixels it is given (cropped further in ``leader.detect`` when no model within
    :attr:`budget` holds them)."""
    budget: int | None
    """The largest model it may run, in pixels (None: any)."""


def at_ppi(shape: tuple[int, int], ppi: int, target: int) -> tuple[int, int]:
    """(height, width) of an image of ``shape`` at ``ppi`` once resampled to ``target``."""
    return round(shape[0] * target / ppi), round(shape[1] * target / ppi)


def block_of(count: int, cells: int, scale: float) -> npt.NDArray[np.intp]:
    """For each of ``count`` pixels along one axis, the block it lies in (``scale``: sensor
    ppi / grid ppi / block size), the last block for pixels past it. The one mapping the
    pixel mask and the window are both drawn with."""
    return np.minimum((np.arange(count) * scale).astype(np.intp), cells - 1)


def extent(blocks: Mask, size: int, shape: tuple[int, int], scale: float) -> Window | None:
    """The bounding box, in the pixels of a ``shape`` grid, of the pixels that ``pipeline.
    pixel_mask`` would set from the block mask ``blocks`` (``scale``: sensor ppi / grid ppi /
    block size): computed on the rows and columns alone, without the pixel mask."""
    rows_set, cols_set = np.nonzero(blocks.any(axis=1))[0], np.nonzero(blocks.any(axis=0))[0]
    if rows_set.size == 0:
        return None

    def span(count: int, cells: int, first: int, last: int) -> tuple[int, int]:
        cell = block_of(count, cells, scale)
        inside = np.nonzero((cell >= first) & (cell <= last))[0]
        return int(inside[0]), int(inside[-1]) + 1

    top, bottom = span(shape[0], blocks.shape[0], int(rows_set[0]), int(rows_set[-1]))
    left, right = span(shape[1], blocks.shape[1], int(cols_set[0]), int(cols_set[-1]))
    return top, bottom, left, right


def widen(window: Window, margin: int, shape: tuple[int, int]) -> Window:
    top, bottom, left, right = window
    return (
        max(0, top - margin),
        min(shape[0], bottom + margin),
        max(0, left - margin),
        min(shape[1], right + margin),
    )


def clear_region(blocks: Blocks, finger: Mask) -> Mask:
    """The finger's blocks with clear ridges, the largest connected region (the finger
    itself when none is clear)."""
    clear = finger & (blocks.clarity >= HALF_CLEAR)
    labels, count = ndimage.label(clear)
    if count == 0:
        return finger
    if count > 1:
        sizes = ndimage.sum(clear, labels, range(1, count + 1))
        clear = labels == (1 + int(np.argmax(sizes)))
    return np.asarray(clear, dtype=bool)


def fits(window: Window, budget: int) -> bool:
    """Whether a model of at most ``budget`` pixels holds ``window`` whole."""
    height, width = window[1] - window[0], window[3] - window[2]
    size = leader.choose(height, width, budget)
    room_h, room_w = leader.room(size)
    return size[1] * size[2] <= budget and height <= room_h and width <= room_w


def frame(
    blocks: Blocks,
    finger: Mask,
    shape: tuple[int, int],
    ppi: int,
    network_ppi: int,
    budget: int = BUDGET,
) -> Framing:
    """How the network sees a finger of ``shape`` pixels at ``ppi`` (its block measures and
    mask given): at ``network_ppi`` with the mask's margin when a model within ``budget``
    holds that, else as the module says."""
    at = at_ppi(shape, ppi, network_ppi)
    whole = extent(finger, blocks.size, at, ppi / network_ppi / blocks.size)
    if whole is None:
        return Framing(network_ppi, (0, 0, 0, 0), None)
    whole = widen(whole, leader.MARGIN, at)
    if fits(whole, budget):
        return Framing(network_ppi, whole, None)
    clear = clear_region(blocks, finger)
    target = network_ppi
    while True:
        at = at_ppi(shape, ppi, target)
        window = extent(clear, blocks.size, at, ppi / target / blocks.size)
        assert window is not None  # the clear region is never empty where the finger is not
        if fits(window, budget) or target - PPI_STEP < LOWEST_PPI:
            return Framing(target, window, budget)
        target -= PPI_STEP
