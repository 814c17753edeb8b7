"""A synthetic watchlist population at template level: people, fingers, faces.

Rendering 200,000 phantom fingerprint images (``hal.phantoms``) would take
hours, and a benchmark of the uplink and of 1:N search needs templates, not
images. So a person here is drawn directly as what the extractor would give:

* **Fingers.** Minutiae spread over a fingertip-shaped ellipse with a minimum
  spacing (real minutiae are rarely closer than a ridge period or two), their
  directions following a zero-pole orientation field (a core and a delta, as in
  ``hal.phantoms.fingerprint``, plus a smooth random wobble), so neighbouring
  minutiae have correlated directions, as on a real finger. That correlation
  is what makes some index keys far more common than others, which is what
  loads an inverted index.
* **Impressions.** What a second capture changes: rotation (up to 20
  degrees), translation, a smooth elastic distortion, position and angle
  jitter, a smaller window that loses the edges, minutiae missed (20 %) and
  spurious ones added (10 %).
* **Faces.** A 128-dimensional identity vector; a capture adds noise so that
  mates score a cosine of about 0.7 and strangers about 0. Quantised to int8 as
  the device sends it.

These are load, not accuracy: the figures of merit of the extractor and the
matcher come from real images (issue 3's and 5's benchmarks).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from wire.iso19794_2 import RIDGE_ENDING, FingerView, Minutia, MinutiaeRecord

WIDTH, HEIGHT = 300, 400
FACE_DIMS = 128
BIFURCATION = 2


@dataclass(frozen=True)
class MasterFinger:
    xy: npt.NDArray[np.float64]
    angle: npt.NDArray[np.float64]
    kind: npt.NDArray[np.int64]


def master_finger(person: int, finger: int, seed: int = 0) -> MasterFinger:
    rng = np.random.default_rng([seed, person, finger, 0x3A])
    n = int(rng.integers(34, 56))
    cx, cy = WIDTH / 2 + rng.uniform(-15, 15), HEIGHT / 2 + rng.uniform(-20, 20)
    rx, ry = rng.uniform(115, 140), rng.uniform(150, 185)
    # A jittered grid keeps minutiae at least 8 px apart; a random subset of its
    # points inside the fingertip ellipse become the minutiae.
    gx, gy = np.meshgrid(np.arange(-1, 1.001, 0.1), np.arange(-1, 1.001, 0.08))
    grid = np.stack([gx.ravel(), gy.ravel()], 1) * [rx, ry]
    grid += rng.uniform(-3.5, 3.5, size=grid.shape)
    inside = grid[np.hypot(grid[:, 0] / rx, grid[:, 1] / ry) < 1.0]
    xy = inside[rng.permutation(len(inside))[:n]] + [cx, cy]
    core = complex(cx + rng.uniform(-20, 20), cy - rng.uniform(0, 40))
    delta = complex(core.real + rng.choice([-1, 1]) * rng.uniform(60, 110), core.imag + 120)
    z = xy[:, 0] + 1j * xy[:, 1]
    # np.angle measures clockwise on screen (y down); ISO directions run counter-clockwise.
    orientation = -0.5 * (np.angle(z - core) - np.angle(z - delta))
    k1, k2, phase = rng.uniform(0.005, 0.02), rng.uniform(0.005, 0.02), rng.uniform(0, 6.3)
    orientation += 0.25 * np.sin(k1 * xy[:, 0] + k2 * xy[:, 1] + phase)
    flips = rng.integers(0, 2, size=len(xy)) * np.pi
    kind = np.where(rng.random(len(xy)) < 0.4, BIFURCATION, RIDGE_ENDING)
    return MasterFinger(xy, np.mod(orientation + flips, 2 * np.pi), kind)


def impression(master: MasterFinger, rng: np.random.Generator) -> tuple[Minutia, ...]:
    """One capture of ``master``: moved, distorted, cropped, with minutiae missed and added."""
    rot = np.deg2rad(rng.uniform(-20, 20))
    shift = rng.uniform(-25, 25, size=2)
    centre = np.array([WIDTH / 2, HEIGHT / 2])
    c, s = np.cos(rot), np.sin(rot)
    rel = master.xy - centre
    xy = np.stack([c * rel[:, 0] - s * rel[:, 1], s * rel[:, 0] + c * rel[:, 1]], 1) + centre
    # With y pointing down this turns positions clockwise on screen by ``rot``, which lowers
    # every ISO direction (counter-clockwise on screen) by the same amount.
    angle = master.angle - rot
    bend = rng.uniform(-4, 4, size=2)
    xy += shift + bend * np.sin(xy[:, ::-1] / 90.0)
    xy += rng.normal(0, 2.0, size=xy.shape)
    angle += np.deg2rad(rng.normal(0, 6, size=angle.shape))
    keep = rng.random(len(xy)) > 0.2
    margin = rng.uniform(10, 40, size=4)
    keep &= (xy[:, 0] > margin[0]) & (xy[:, 0] < WIDTH - margin[1])
    keep &= (xy[:, 1] > margin[2]) & (xy[:, 1] < HEIGHT - margin[3])
    xy, angle, kind = xy[keep], angle[keep], master.kind[keep]
    extra = max(1, int(0.1 * len(xy)))
    xy = np.concatenate([xy, rng.uniform([30, 30], [WIDTH - 30, HEIGHT - 30], size=(extra, 2))])
    angle = np.concatenate([angle, rng.uniform(0, 2 * np.pi, size=extra)])
    kind = np.concatenate([kind, np.full(extra, RIDGE_ENDING)])
    # Whole-array rounding (half to even, as round() does) and wrapping: a million-person
    # watchlist is two million of these.
    xs = np.clip(np.rint(xy[:, 0]), 0, WIDTH - 1).astype(int).tolist()
    ys = np.clip(np.rint(xy[:, 1]), 0, HEIGHT - 1).astype(int).tolist()
    directions = np.mod(angle, 2 * np.pi).tolist()
    return tuple(
        Minutia(x, y, a, int(k), 60)
        for x, y, a, k in zip(xs, ys, directions, kind.tolist(), strict=True)
    )


def template(master: MasterFinger, rng: np.random.Generator, position: int) -> bytes:
    """An ISO/IEC 19794-2 template of one impression of ``master``."""
    view = FingerView(position, impression(master, rng), quality=60)
    return MinutiaeRecord(WIDTH, HEIGHT, (view,)).encode()


def face_identity(person: int, seed: int = 0) -> npt.NDArray[np.float64]:
    vector = np.random.default_rng([seed, person, 0xFACE]).normal(size=FACE_DIMS)
    return np.asarray(vector / np.linalg.norm(vector), dtype=np.float64)


def face_capture(identity: npt.NDArray[np.float64], rng: np.random.Generator) -> bytes:
    """An int8 embedding of one capture: cosine to the identity about 0.85 (0.7 between two)."""
    noisy = identity + rng.normal(0, 0.62 / np.sqrt(FACE_DIMS), size=identity.size)
    noisy /= np.linalg.norm(noisy)
    return bytes(np.clip(np.round(noisy * 127 / np.abs(noisy).max()), -127, 127).astype(np.int8))
