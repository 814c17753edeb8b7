"""Classical minutiae extraction (numpy/scipy), the baseline until the LEADER model lands.

Pipeline, on an 8-bit grey image at 500 ppi (other resolutions are resampled):
foreground segmentation from block contrast; ridge orientation from the
smoothed gradient structure tensor, with its coherence as a reliability map;
contextual enhancement with a bank of oriented Gabor filters applied in the
frequency domain (each pixel takes the response of its own orientation);
binarisation and thinning; minutiae by the crossing number, pruned near the
foreground border and where two lie closer than a ridge period; each minutia's
direction from the orientation field, turned to point along its ridge.

This is the textbook method (Hong, Wan and Jain 1998; Maltoni et al.,
*Handbook of Fingerprint Recognition*). Issue 3 replaces the detector with the
LEADER network; the template format and the matcher stay.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from wire.iso19794_2 import BIFURCATION, RIDGE_ENDING, FingerView, Minutia, MinutiaeRecord

FloatArray = npt.NDArray[np.float64]
BLOCK = 16
_BINS = 16


@dataclass(frozen=True)
class Extraction:
    minutiae: tuple[Minutia, ...]
    mask: npt.NDArray[np.bool_]
    """Foreground (finger) pixels."""
    coherence: FloatArray
    """Orientation reliability, 0..1, per pixel."""
    width: int
    height: int

    def record(self, position: int, quality: int) -> MinutiaeRecord:
        return MinutiaeRecord(
            self.width, self.height, (FingerView(position, self.minutiae, quality),)
        )


def segment(image: FloatArray) -> npt.NDArray[np.bool_]:
    _h, _w = image.shape
    local_mean = ndimage.uniform_filter(image, BLOCK)
    local_var = ndimage.uniform_filter(image**2, BLOCK) - local_mean**2
    std = np.sqrt(np.clip(local_var, 0, None))
    mask = std > max(12.0, 0.25 * float(np.percentile(std, 95)))
    mask = ndimage.binary_closing(mask, iterations=4)
    mask = ndimage.binary_opening(mask, iterations=4)
    mask = ndimage.binary_fill_holes(mask)
    labels, count = ndimage.label(mask)
    if count > 1:
        sizes = ndimage.sum(mask, labels, range(1, count + 1))
        mask = labels == (1 + int(np.argmax(sizes)))
    return np.asarray(mask, dtype=bool)


def orientation(image: FloatArray, sigma: float = 7.0) -> tuple[FloatArray, FloatArray]:
    """Ridge direction (radians, 0..pi) and coherence (0..1) per pixel."""
    gx = ndimage.sobel(image, axis=1)
    gy = ndimage.sobel(image, axis=0)
    gxx = ndimage.gaussian_filter(gx * gx, sigma)
    gyy = ndimage.gaussian_filter(gy * gy, sigma)
    gxy = ndimage.gaussian_filter(gx * gy, sigma)
    # The gradient is across the ridges; ridges run perpendicular to it. Image rows
    # grow downwards, so the angle is negated to count counter-clockwise as ISO does.
    theta = -(0.5 * np.arctan2(2 * gxy, gxx - gyy) + np.pi / 2)
    coherence = np.sqrt((gxx - gyy) ** 2 + 4 * gxy**2) / (gxx + gyy + 1e-9)
    return np.mod(theta, np.pi), np.clip(coherence, 0.0, 1.0)


def enhance(image: FloatArray, theta: FloatArray, period: float = 9.0) -> FloatArray:
    """Contextual Gabor filtering: ridges positive, valleys negative."""
    h, w = image.shape
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    freq = 1.0 / period
    spectrum = np.fft.rfft2(image)
    responses = np.empty((_BINS, h, w))
    for k in range(_BINS):
        ridge = k * np.pi / _BINS
        ux, uy = -np.sin(ridge), np.cos(ridge)
        along = fx * ux + fy * uy
        across = -fx * uy + fy * ux
        gain = np.exp(-((np.abs(along) - freq) ** 2) / (2 * (0.35 * freq) ** 2))
        gain *= np.exp(-(across**2) / (2 * (0.25 * freq) ** 2))
        responses[k] = np.fft.irfft2(spectrum * gain, s=(h, w))
    # The filter bank is laid out in image coordinates (rows grow downwards).
    pos = np.mod(-theta, np.pi) / np.pi * _BINS
    lo = np.floor(pos).astype(int) % _BINS
    hi = (lo + 1) % _BINS
    frac = pos - np.floor(pos)
    rows, cols = np.indices((h, w))
    return np.asarray((1 - frac) * responses[lo, rows, cols] + frac * responses[hi, rows, cols])


def extract(pixels: npt.NDArray[np.uint8], ppi: int = 500) -> Extraction:
    """Minutiae of one fingerprint image (dark ridges on a light background)."""
    from skimage.morphology import skeletonize

    image = pixels.astype(np.float64)
    if ppi != 500:
        image = ndimage.zoom(image, 500.0 / ppi, order=1)
    h, w = image.shape
    mask = segment(image)
    ridges = 255.0 - image  # ridges dark in the capture: make them positive
    ridges = (ridges - ridges[mask].mean()) / (ridges[mask].std() + 1e-9) if mask.any() else ridges
    theta, coherence = orientation(ridges)
    enhanced = enhance(np.where(mask, ridges, 0.0), theta)
    binary = (enhanced > 0) & mask
    skeleton = np.asarray(skeletonize(binary), dtype=np.bool_)  # type: ignore[no-untyped-call]
    inner = ndimage.binary_erosion(mask, iterations=14)
    minutiae = _minutiae(skeleton, inner, theta, coherence)
    return Extraction(tuple(minutiae), mask, coherence, w, h)


_NEIGHBOURS = [(-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1)]


def _minutiae(
    skeleton: npt.NDArray[np.bool_],
    inner: npt.NDArray[np.bool_],
    theta: FloatArray,
    coherence: FloatArray,
) -> list[Minutia]:
    s = skeleton.astype(np.int32)
    padded = np.pad(s, 1)
    ring = [
        padded[1 + dy : 1 + dy + s.shape[0], 1 + dx : 1 + dx + s.shape[1]] for dy, dx in _NEIGHBOURS
    ]
    crossings = sum(np.abs(ring[i] - ring[(i + 1) % 8]) for i in range(8)) // 2
    candidates = []
    for kind, cn in ((RIDGE_ENDING, 1), (BIFURCATION, 3)):
        ys, xs = np.nonzero(skeleton & inner & (crossings == cn))
        candidates += [(int(y), int(x), kind) for y, x in zip(ys, xs, strict=True)]
    # Spurious minutiae come in clusters (breaks, bridges, spurs): drop any with a
    # neighbour closer than about a ridge period.
    if not candidates:
        return []
    pts = np.array([(y, x) for y, x, _ in candidates], dtype=float)
    dist = np.hypot(pts[:, None, 0] - pts[None, :, 0], pts[:, None, 1] - pts[None, :, 1])
    np.fill_diagonal(dist, np.inf)
    keep = dist.min(axis=1) > 8.0
    out = []
    for (y, x, kind), ok in zip(candidates, keep, strict=True):
        if not ok:
            continue
        angle = _direction(skeleton, y, x, float(theta[y, x]), kind)
        quality = round(100 * float(coherence[y, x]))
        out.append(Minutia(x, y, angle, kind, max(1, min(100, quality))))
    return out


def _direction(skeleton: npt.NDArray[np.bool_], y: int, x: int, theta: float, kind: int) -> float:
    """Turn the undirected ridge orientation into the minutia's direction.

    Ridge ending: pointing out of the ridge's end (away from where the ridge
    continues). Bifurcation: pointing away from the two branches, i.e. along
    the single ridge that forks.
    """
    h, w = skeleton.shape
    y0, y1, x0, x1 = max(0, y - 7), min(h, y + 8), max(0, x - 7), min(w, x + 8)
    ys, xs = np.nonzero(skeleton[y0:y1, x0:x1])
    dy, dx = ys + y0 - y, xs + x0 - x
    mass_x, mass_y = float(dx.sum()), float(dy.sum())
    # Direction (cos, -sin) of theta in image coordinates (y down).
    cx, cy = np.cos(theta), -np.sin(theta)
    if kind == RIDGE_ENDING:
        # The ridge pixels lie behind the ending: point away from them.
        sign = -1.0 if (mass_x * cx + mass_y * cy) > 0 else 1.0
    else:
        # Two branches outweigh the single ridge: point away from the branches' side.
        sign = -1.0 if (mass_x * cx + mass_y * cy) > 0 else 1.0
    angle = theta if sign > 0 else theta + np.pi
    return float(np.mod(angle, 2 * np.pi))
