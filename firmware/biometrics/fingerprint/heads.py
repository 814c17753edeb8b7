"""LEADER's direction and type heads, computed at the minutiae only.

Why: LEADER has three heads on one shared feature map (52 channels at half
resolution): the minutia probability, the direction and the type. Only the
first is needed everywhere (non-maximum suppression finds the minutiae in it);
the other two are read at the 48 minutiae at most that a template keeps, yet
on one core they cost about a quarter of the network when run over every pixel.
So the shipped TFLite model stops at the probability and the shared features
(``models/build/leader_split.py``), and this module runs the two heads on the
9x9 feature patch each minutia needs, with the same weights in float32
(``models/fingerprint/leader_heads.npz``, checked against its digest). It is
the same function, not an approximation: the build checks it against pyfing's
network at every pixel of a sample.

Each head is an inverted bottleneck (7x7 depthwise, layer norm, 1x1 to four
times the channels with GELU, 1x1 back, residual add, 1x1 to 6) followed by
per-pixel layers (1x1 to 4, layer norm, 1x1 with GELU) at half resolution and
a 5x5 convolution of the 2x upsampled map; the rewrite has already folded the
norms' scales and the linear layers, and split the 5x5 convolution into four
3x3 phases of the half-resolution map (``leader_rewrite.py``), which is the
form stored here.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view
from scipy import special

from models import model_path

Array = npt.NDArray[np.float64]
FILE = "fingerprint/leader_heads.npz"
ENDING = 0.5
"""A minutia is a ridge ending where the type head's probability reaches this (pyfing's)."""
REACH = 4
"""Feature pixels needed on each side of a minutia's half-resolution pixel: 1 for the
3x3 phase convolution, 3 more for the 7x7 depthwise one under it."""


@dataclass(frozen=True)
class Head:
    """One head's weights, in the rewrite's folded form (float64 for the arithmetic)."""

    depthwise: Array
    """7 x 7 x C."""
    norm_epsilon: float
    expand: Array
    """C x 4C, the norm's scale and shift folded in; GELU after."""
    expand_bias: Array
    reduce: Array
    """4C x 4: the reduction, the block's adjustment and the next 1x1 convolution folded."""
    reduce_bias: Array
    adjust: Array
    """C x 4: the residual path through the same folded layers."""
    out_epsilon: float
    pointwise: Array
    """4 x 4, the second norm folded in; GELU after."""
    pointwise_bias: Array
    phases: Array
    """3 x 3 x 4 x (4 x outputs): the upsampled 5x5 convolution, one block per output phase."""
    phases_bias: Array

    def __call__(
        self, patches: Array, valid: npt.NDArray[np.bool_], phase: npt.NDArray[np.intp]
    ) -> Array:
        """The head's outputs (N x outputs) at N minutiae, from their 9x9 feature patches
        (N x 9 x 9 x C, zero outside the map), which of their 3x3 half-resolution pixels lie
        inside the map (N x 3 x 3), and each minutia's output phase (2 * (y % 2) + x % 2)."""
        windows = sliding_window_view(patches, (7, 7), axis=(1, 2))  # N x 3 x 3 x C x 7 x 7
        x = np.einsum("nijcab,abc->nijc", windows, self.depthwise)
        x = x - x.mean(axis=-1, keepdims=True)
        x = x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + self.norm_epsilon)
        hidden = gelu(x @ self.expand + self.expand_bias)
        y = hidden @ self.reduce + self.reduce_bias + patches[:, 3:6, 3:6, :] @ self.adjust
        y = y - y.mean(axis=-1, keepdims=True)
        y = y / np.sqrt((y * y).mean(axis=-1, keepdims=True) + self.out_epsilon)
        y = gelu(y @ self.pointwise + self.pointwise_bias) * valid[..., None]
        every = np.einsum("nijc,ijco->no", y, self.phases) + self.phases_bias
        outputs = every.shape[1] // 4
        blocks = every.reshape(len(every), 4, outputs)
        return np.asarray(blocks[np.arange(len(every)), phase], np.float64)


def gelu(x: Array) -> Array:
    """GELU in its exact (erf) form, as Keras computes it for LEADER's layers."""
    return np.asarray(0.5 * x * (1.0 + special.erf(x / np.sqrt(2.0))), np.float64)


@dataclass(frozen=True)
class PointHeads:
    """The direction and type heads, evaluated at given full-resolution pixels."""

    direction: Head
    type: Head

    @classmethod
    def load(cls) -> PointHeads:
        """The shipped weights, verified against ``SHA256SUMS`` like every model file."""
        data = model_path(FILE).read_bytes()
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            loaded = {key: arrays[key] for key in arrays.files}
        return cls(head(loaded, "direction"), head(loaded, "type"))

    def at(
        self, features: npt.NDArray[np.float32], ys: npt.NDArray[np.intp], xs: npt.NDArray[np.intp]
    ) -> tuple[Array, npt.NDArray[np.bool_], Array]:
        """Direction (radians, [0, 2 pi), counter-clockwise with y up), whether each is a
        ridge ending, and the ending probability, at full-resolution pixels ``(ys, xs)`` of
        the map whose half-resolution ``features`` (H/2 x W/2 x C) the network gave."""
        if len(ys) == 0:
            empty = np.zeros(0)
            return empty, np.zeros(0, bool), empty
        height, width = features.shape[:2]
        cy, cx = ys // 2, xs // 2
        offsets = np.arange(-REACH, REACH + 1)[None, :]
        rows, cols = cy[:, None] + offsets, cx[:, None] + offsets
        # Zero outside the map, as the network's padding is (without copying the whole map).
        inside = ((rows >= 0) & (rows < height))[:, :, None] & ((cols >= 0) & (cols < width))[
            :, None, :
        ]
        patches = features[
            np.clip(rows, 0, height - 1)[:, :, None], np.clip(cols, 0, width - 1)[:, None, :]
        ].astype(np.float64)
        patches *= inside[..., None]
        near = np.arange(-1, 2)
        inside_y = (cy[:, None] + near >= 0) & (cy[:, None] + near < height)
        inside_x = (cx[:, None] + near >= 0) & (cx[:, None] + near < width)
        valid = inside_y[:, :, None] & inside_x[:, None, :]
        phase = (2 * (ys % 2) + xs % 2).astype(np.intp)
        d = self.direction(patches, valid, phase)
        angle = np.mod(np.arctan2(d[:, 1], d[:, 0]), 2 * np.pi)
        ending = special.expit(self.type(patches, valid, phase)[:, 0])
        return angle, ending >= ENDING, np.asarray(ending, np.float64)


def head(arrays: Mapping[str, npt.NDArray[Any]], name: str) -> Head:
    """Head ``name`` ("direction" or "type") from arrays keyed ``<name>.<field>``."""
    parts: dict[str, Any] = {}
    for part in fields(Head):
        value = np.asarray(arrays[f"{name}.{part.name}"], np.float64)
        parts[part.name] = value.item() if part.type == "float" else value
    return Head(**parts)
