"""Synthetic fingerprints: master prints and impressions with known identities.

Method (after SFinGe, Cappelli et al.): an orientation field from the
zero-pole model of Sherlock and Monro, with cores and deltas placed per pattern
class (arch, left/right loop, whorl); a ridge-frequency field around a 9 px
period at 500 ppi; ridges grown from random seeds by iterated contextual Gabor
filtering in the frequency domain. An impression of a master adds what a real
capture does: a fingertip-shaped contact area that moves and is partly lost,
rotation and translation, a smooth elastic distortion, finger pressure (dry
prints with thin broken ridges, wet ones with merged ridges), blur, sensor
noise and dry spots.

Realism limits, to keep in mind when reading any figure made with these:
ridges have no pores, no scars, creases or incipient ridges; minutiae arise
where the Gabor growth breaks or forks ridges, so their density is plausible
(30-60 in a 256x288 window) but their spatial statistics are not those of real
fingers; distortion is a smooth random field, not the physics of skin pressed
on glass; the grey-level rendering is ink-like and cleaner than a real optical
or capacitive sensor. Use them for tests and demos; tune and benchmark on real
sets (``shared/data``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import Enum

import numpy as np
import numpy.typing as npt
from scipy import ndimage

FloatArray = npt.NDArray[np.float64]

RIDGE_PERIOD_PX = 9.0
"""Mean ridge period at 500 ppi (about 0.46 mm)."""

_ORIENTATION_BINS = 16


class PatternClass(Enum):
    ARCH = "arch"
    LEFT_LOOP = "left_loop"
    RIGHT_LOOP = "right_loop"
    WHORL = "whorl"


@dataclass(frozen=True)
class FingerIdentity:
    """A synthetic finger: everything needed to regenerate its master print."""

    finger_id: int
    seed: int
    pattern: PatternClass
    shape: tuple[int, int] = (400, 352)
    """Master canvas (height, width) in pixels at 500 ppi."""


def identity(finger_id: int, seed: int = 0, shape: tuple[int, int] = (400, 352)) -> FingerIdentity:
    """The identity of finger ``finger_id`` in the population drawn with ``seed``."""
    rng = np.random.default_rng([seed, finger_id, 0xF1])
    # Roughly the natural class frequencies: loops 65 %, whorls 30 %, arches 5 %.
    classes = [
        PatternClass.LEFT_LOOP,
        PatternClass.RIGHT_LOOP,
        PatternClass.WHORL,
        PatternClass.ARCH,
    ]
    pattern = classes[int(rng.choice(len(classes), p=[0.33, 0.32, 0.30, 0.05]))]
    return FingerIdentity(finger_id=finger_id, seed=seed, pattern=pattern, shape=shape)


def orientation_field(ident: FingerIdentity) -> FloatArray:
    """Ridge direction in radians (0..pi) at every pixel of the master canvas."""
    h, w = ident.shape
    rng = np.random.default_rng([ident.seed, ident.finger_id, 0x0A])
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    z = xx + 1j * yy
    cx = w * (0.5 + rng.uniform(-0.08, 0.08))
    cy = h * (0.42 + rng.uniform(-0.06, 0.06))
    cores: list[complex] = []
    deltas: list[complex] = []
    if ident.pattern is PatternClass.LEFT_LOOP:
        cores = [complex(cx, cy)]
        deltas = [complex(cx + w * rng.uniform(0.22, 0.32), cy + h * rng.uniform(0.25, 0.35))]
    elif ident.pattern is PatternClass.RIGHT_LOOP:
        cores = [complex(cx, cy)]
        deltas = [complex(cx - w * rng.uniform(0.22, 0.32), cy + h * rng.uniform(0.25, 0.35))]
    elif ident.pattern is PatternClass.WHORL:
        sep = h * rng.uniform(0.06, 0.1)
        cores = [complex(cx, cy - sep), complex(cx + rng.uniform(-8, 8), cy + sep)]
        deltas = [
            complex(cx - w * rng.uniform(0.3, 0.38), cy + h * rng.uniform(0.28, 0.36)),
            complex(cx + w * rng.uniform(0.3, 0.38), cy + h * rng.uniform(0.28, 0.36)),
        ]
    if cores:
        theta = np.zeros((h, w))
        for c in cores:
            theta += np.angle(z - c)
        for d in deltas:
            theta -= np.angle(z - d)
        theta = 0.5 * theta
    else:
        # Plain arch: ridges rise towards the middle, flat at top and bottom.
        amp = rng.uniform(0.6, 1.0)
        bump = np.exp(-(((yy - cy) / (0.35 * h)) ** 2))
        theta = np.arctan(amp * bump * np.cos(np.pi * (xx - cx) / w) * (-np.sign(xx - cx)))
    # A smooth random perturbation makes fingers of the same class differ.
    wobble = ndimage.gaussian_filter(rng.normal(0, 1, (h, w)), 40) * 40 * 0.15
    return np.asarray(np.mod(theta + wobble, np.pi), dtype=np.float64)


def frequency_field(ident: FingerIdentity) -> FloatArray:
    """Ridge frequency (cycles per pixel) at every pixel: period 8-10.5 px."""
    rng = np.random.default_rng([ident.seed, ident.finger_id, 0xFF])
    h, w = ident.shape
    field = ndimage.gaussian_filter(rng.normal(0, 1, (h, w)), 50)
    field = field / (np.abs(field).max() + 1e-9)
    period = RIDGE_PERIOD_PX + rng.uniform(-0.5, 0.5) + 1.0 * field
    return np.asarray(1.0 / period, dtype=np.float64)


def _gabor_bank(shape: tuple[int, int], freq: float) -> list[npt.NDArray[np.complex128]]:
    """Frequency responses of oriented Gabor filters for every orientation bin."""
    h, w = shape
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    bank = []
    sigma_f = freq * 0.33
    for k in range(_ORIENTATION_BINS):
        ridge_dir = k * np.pi / _ORIENTATION_BINS
        # The sinusoid runs across the ridges: its wave vector is normal to them.
        ux, uy = -np.sin(ridge_dir), np.cos(ridge_dir)
        along = fx * ux + fy * uy
        across = -fx * uy + fy * ux
        resp = np.exp(-((np.abs(along) - freq) ** 2 + across**2) / (2 * sigma_f**2))
        bank.append(resp.astype(np.complex128))
    return bank


@functools.lru_cache(maxsize=64)
def master_print(ident: FingerIdentity, iterations: int = 14) -> FloatArray:
    """The master print of ``ident``: ridge signal in [-1, 1], ridges positive."""
    h, w = ident.shape
    rng = np.random.default_rng([ident.seed, ident.finger_id, 0x5E])
    theta = orientation_field(ident)
    freq = frequency_field(ident)
    mean_freq = float(freq.mean())
    bank = _gabor_bank((h, w), mean_freq)
    bin_pos = theta / np.pi * _ORIENTATION_BINS
    lo = np.floor(bin_pos).astype(int) % _ORIENTATION_BINS
    hi = (lo + 1) % _ORIENTATION_BINS
    frac = bin_pos - np.floor(bin_pos)
    img = np.zeros((h, w))
    seeds = rng.integers(0, h * w, size=max(8, h * w // 900))
    img.flat[seeds] = rng.choice([-1.0, 1.0], size=seeds.size)
    # Local frequency variation: resample the grown pattern at the end instead of
    # varying the filters per pixel (cheaper, and visually equivalent).
    for _ in range(iterations):
        spectrum = np.fft.rfft2(img)
        responses = np.stack([np.fft.irfft2(spectrum * g, s=(h, w)) for g in bank])
        rows, cols = np.indices((h, w))
        out = (1 - frac) * responses[lo, rows, cols] + frac * responses[hi, rows, cols]
        scale = np.percentile(np.abs(out), 95) + 1e-9
        img = np.tanh(2.0 * out / scale)
    stretch = freq / mean_freq
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    cy, cx = h / 2, w / 2
    coords = np.array([cy + (yy - cy) * stretch, cx + (xx - cx) * stretch])
    warped = ndimage.map_coordinates(img, coords, order=1, mode="reflect")
    return np.asarray(np.clip(warped, -1.0, 1.0), dtype=np.float64)


@dataclass(frozen=True)
class ImpressionParams:
    """How one impression differs from the master (all drawn from the impression seed)."""

    dx: float
    dy: float
    rotation_deg: float
    distortion_px: float
    pressure: float
    """-1 dry (thin, broken ridges) .. +1 wet (thick, merged ridges)."""
    noise: float
    blur: float
    contact: float
    """Fraction of the fingertip ellipse in contact (0.6 partial .. 1.0 full)."""


def draw_impression_params(rng: np.random.Generator, difficulty: float = 0.5) -> ImpressionParams:
    """Random impression conditions; ``difficulty`` 0 = ideal .. 1 = poor capture."""
    d = float(np.clip(difficulty, 0.0, 1.0))
    return ImpressionParams(
        dx=rng.normal(0, 6 + 14 * d),
        dy=rng.normal(0, 6 + 14 * d),
        rotation_deg=rng.normal(0, 4 + 10 * d),
        distortion_px=abs(rng.normal(0, 1.0 + 3.0 * d)),
        pressure=float(np.clip(rng.normal(0, 0.2 + 0.5 * d), -1, 1)),
        noise=abs(rng.normal(0.03 + 0.1 * d, 0.02)),
        blur=abs(rng.normal(0.4 + 0.8 * d, 0.2)),
        contact=float(np.clip(1.0 - abs(rng.normal(0, 0.1 + 0.25 * d)), 0.55, 1.0)),
    )


def impression(
    ident: FingerIdentity,
    impression_seed: int,
    size: tuple[int, int] = (288, 256),
    difficulty: float = 0.5,
    params: ImpressionParams | None = None,
) -> npt.NDArray[np.uint8]:
    """One 8-bit grey capture of ``ident`` (dark ridges on a light background)."""
    rng = np.random.default_rng([ident.seed, ident.finger_id, impression_seed, 0x1A])
    p = params or draw_impression_params(rng, difficulty)
    master = master_print(ident)
    mh, mw = master.shape
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    # Output pixel -> master coordinates: rotate about the centre, shift, distort.
    a = np.deg2rad(p.rotation_deg)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    ry = (yy - cy) * np.cos(a) - (xx - cx) * np.sin(a)
    rx = (yy - cy) * np.sin(a) + (xx - cx) * np.cos(a)
    field_y = ndimage.gaussian_filter(rng.normal(0, 1, (h, w)), 30)
    field_x = ndimage.gaussian_filter(rng.normal(0, 1, (h, w)), 30)
    norm = max(float(np.abs(field_y).max()), float(np.abs(field_x).max()), 1e-9)
    my = (mh - 1) / 2 + ry + p.dy + p.distortion_px * field_y / norm
    mx = (mw - 1) / 2 + rx + p.dx + p.distortion_px * field_x / norm
    ridges = ndimage.map_coordinates(master, [my, mx], order=1, mode="reflect")
    # Pressure: shift the threshold of the ridge profile.
    ink = 0.5 * (1 + np.tanh(3.0 * (ridges + 0.45 * p.pressure)))
    # Dry spots remove ink in patches; more of them on dry fingers.
    spots = ndimage.gaussian_filter(rng.normal(0, 1, (h, w)), 4)
    spots = spots / (spots.std() + 1e-9)
    ink *= np.clip(1.0 - np.maximum(0.0, spots - (2.2 + 1.2 * p.pressure)), 0, 1)
    # Fingertip contact: an ellipse in master coordinates, partly lost.
    ey = (my - mh * 0.48) / (mh * 0.46 * p.contact)
    ex = (mx - (mw - 1) / 2) / (mw * 0.42 * p.contact)
    contact = np.clip((1.0 - np.sqrt(ey**2 + ex**2)) * 6.0, 0.0, 1.0)
    ink *= contact
    ink = ndimage.gaussian_filter(ink, p.blur) if p.blur > 0.05 else ink
    grey = 235.0 - 200.0 * ink + rng.normal(0, 255 * p.noise, (h, w))
    return np.asarray(np.clip(grey, 0, 255), dtype=np.uint8)


class PhantomFingerSource:
    """An endless source of impressions cycling over a small population of fingers.

    The emulated sensor uses it by default; ``last_finger`` tells a test which
    finger was served last.
    """

    def __init__(
        self,
        fingers: int = 4,
        seed: int = 0,
        size: tuple[int, int] = (288, 256),
        difficulty: float = 0.3,
    ) -> None:
        if fingers < 1:
            raise ValueError("at least one finger is needed")
        h, w = size
        master = (max(400, h + 80), max(352, w + 96))
        self._idents = [identity(i, seed, master) for i in range(fingers)]
        self._size = size
        self._difficulty = difficulty
        self._count = 0
        self.last_finger: int | None = None

    def prepare(self) -> PhantomFingerSource:
        """Grow every master print now (about 0.35 s each) rather than on first use."""
        for ident in self._idents:
            master_print(ident)
        return self

    def next_image(self) -> npt.NDArray[np.uint8]:
        ident = self._idents[self._count % len(self._idents)]
        image = impression(ident, self._count, self._size, self._difficulty)
        self.last_finger = ident.finger_id
        self._count += 1
        return image
