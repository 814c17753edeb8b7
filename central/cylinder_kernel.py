"""The compiled building of MCC cylinders: cell values, the hull test, validity, packing.

Central builds a cylinder set for every gallery finger a search meets for the first
time (a dozen a search), so this is, with the index's vote, most of what a search
costs. The bits are those of the whole-array formula the matcher documents (a test
compares them); :func:`cylinder_set` does all of a template's work in one compiled
call, since the numpy glue between the steps (cell centres, packing, three calls)
cost a fifth of the build.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from numba import njit

Floats = npt.NDArray[np.float64]
Words = npt.NDArray[np.uint64]
Ints = npt.NDArray[np.int64]
Bits = npt.NDArray[np.bool_]
TWO_PI = 2.0 * math.pi


@njit(cache=True, inline="always")
def _fold(a: float) -> float:
    """Into [-pi, pi], written as ``fingerprint_matcher.wrap`` is, to the same bits."""
    return a - TWO_PI * float(np.rint(a * (0.5 / math.pi)))


@njit(cache=True)
def cylinder_values(
    xy: Floats,
    angle: Floats,
    cell_x: Floats,
    cell_y: Floats,
    sections: Floats,
    sigma_s: float,
    sigma_d: float,
    mu_psi: float,
    side: int,
    spacing: float,
) -> npt.NDArray[np.bool_]:
    """(n, cells * sections) value bits of every minutia's cylinder, before packing.

    ``cell_x``/``cell_y`` (n, cells) are the cell centres already turned to each
    minutia's direction: a ``side`` x ``side`` grid, ``spacing`` apart, row by row. A
    cell's value in a section is the sum, over the other minutiae within three
    sigma_s of it, of a spatial Gaussian times the share of a directional Gaussian
    (around their direction relative to the cylinder's) that falls in the section;
    the bit is whether that exceeds mu_psi.

    Why it is shaped so: as array operations this was an (n, cells, n) tensor and
    7-10 ms for 35-48 minutiae. Each neighbour reaches only the cells within three
    sigma_s of it, a window of about 7 x 7 of the 16 x 16, so the loop visits, for
    each neighbour, the cells of its window only (found in the cylinder's own frame,
    with a pixel of margin, then tested exactly as before). The sums still add the
    neighbours in the same order, so the bits are the same as a loop over every cell
    (0.15 ms for 37 minutiae instead of 0.6: central builds a cylinder set for every
    candidate a search meets for the first time)."""
    n, cells, nd = xy.shape[0], cell_x.shape[1], sections.shape[0]
    out = np.zeros((n, cells * nd), np.bool_)
    cut = (3.0 * sigma_s) ** 2
    window = math.sqrt(cut) + 1.0
    spread = 2.0 * sigma_s**2
    norm = sigma_s * math.sqrt(2.0 * math.pi)
    half = (2.0 * math.pi / nd) / 2.0
    scale = sigma_d * math.sqrt(2.0)
    middle = (side - 1) / 2.0
    directional = np.empty(nd)
    acc = np.zeros((cells, nd))
    for m in range(n):
        acc[:, :] = 0.0
        cos_m, sin_m = math.cos(angle[m]), math.sin(angle[m])
        for t in range(n):
            if t == m:
                continue
            gx = xy[t, 0] - xy[m, 0]
            gy = xy[t, 1] - xy[m, 1]
            # The neighbour in the cylinder's frame, in cell units from the first cell.
            lx = (cos_m * gx + sin_m * gy) / spacing + middle
            ly = (-sin_m * gx + cos_m * gy) / spacing + middle
            reach = window / spacing
            x0 = max(0, math.floor(lx - reach))
            x1 = min(side - 1, math.ceil(lx + reach))
            y0 = max(0, math.floor(ly - reach))
            y1 = min(side - 1, math.ceil(ly + reach))
            if x0 > x1 or y0 > y1:
                continue
            known = False
            for row in range(y0, y1 + 1):
                # Only the columns within reach on this row (the reach is a disc).
                across = reach * reach - (row - ly) * (row - ly)
                if across < 0.0:
                    continue
                half_row = math.sqrt(across)
                c0 = max(x0, math.floor(lx - half_row))
                c1 = min(x1, math.ceil(lx + half_row))
                for col in range(c0, c1 + 1):
                    c = row * side + col
                    dx = cell_x[m, c] - xy[t, 0]
                    dy = cell_y[m, c] - xy[t, 1]
                    d2 = dx * dx + dy * dy
                    if d2 > cut:
                        continue
                    if not known:  # the erf pairs only for a neighbour that reaches a cell
                        relative = _fold(angle[t] - angle[m])
                        for k in range(nd):
                            alpha = _fold(sections[k] - relative)
                            directional[k] = 0.5 * (
                                math.erf((alpha + half) / scale) - math.erf((alpha - half) / scale)
                            )
                        known = True
                    spatial = math.exp(-d2 / spread) / norm
                    for k in range(nd):
                        acc[c, k] += spatial * directional[k]
        for c in range(cells):
            for k in range(nd):
                out[m, c * nd + k] = acc[c, k] > mu_psi
    return out


@njit(cache=True, inline="always")
def _inside(x: float, y: float, equations: Floats, faces: Ints, count: int, offset: float) -> bool:
    for i in range(count):
        f = faces[i]
        if x * equations[f, 0] + y * equations[f, 1] + equations[f, 2] > offset:
            return False
    return True


@njit(cache=True)
def inside_hull(
    xy: Floats, cell_x: Floats, cell_y: Floats, equations: Floats, offset: float, side: int
) -> npt.NDArray[np.bool_]:
    """Which cells lie inside a convex hull grown by ``offset``: ``equations`` (faces, 3) are
    Qhull's outward normals and offsets, a point being inside when every
    ``normal . point + offset`` is at most 0; the cells are a ``side`` x ``side`` grid,
    row by row.

    Two shortcuts, neither of which changes the answer: a face that even the farthest
    cell of a cylinder cannot cross (its minutia lies deeper inside than the cylinder
    reaches, with a micrometre to spare for rounding) is not tested cell by cell; and
    since a row of cells crosses a convex region in one run, each row is tested
    inwards from both ends only until the first cell inside. A cylinder's hull test
    was 150 µs of a 500 µs cylinder build, cell by cell."""
    out = np.zeros(cell_x.shape, np.bool_)
    faces = np.empty(equations.shape[0], np.int64)
    for m in range(cell_x.shape[0]):
        reach = 0.0
        for c in range(cell_x.shape[1]):
            dx = cell_x[m, c] - xy[m, 0]
            dy = cell_y[m, c] - xy[m, 1]
            reach = max(reach, math.sqrt(dx * dx + dy * dy))
        count = 0
        for f in range(equations.shape[0]):
            depth = xy[m, 0] * equations[f, 0] + xy[m, 1] * equations[f, 1] + equations[f, 2]
            if depth + reach + 1e-6 > offset:
                faces[count] = f
                count += 1
        for row in range(side):
            first = row * side
            last = first + side - 1
            while first <= last and not _inside(
                cell_x[m, first], cell_y[m, first], equations, faces, count, offset
            ):
                first += 1
            while last > first and not _inside(
                cell_x[m, last], cell_y[m, last], equations, faces, count, offset
            ):
                last -= 1
            for c in range(first, last + 1):
                out[m, c] = True
    return out


@njit(cache=True)
def cylinder_validity(
    xy: Floats,
    inside: npt.NDArray[np.bool_],
    in_radius: npt.NDArray[np.bool_],
    near: float,
    min_cells: float,
    min_neighbours: int,
    nd: int,
) -> npt.NDArray[np.bool_]:
    """(n, cells * nd) validity bits: a cell inside the radius and the grown hull, of a
    cylinder with at least ``min_cells`` such cells and ``min_neighbours`` other minutiae
    within ``near`` (else the whole cylinder is invalid); each cell's bit repeated for
    its ``nd`` sections."""
    n, cells = inside.shape
    out = np.zeros((n, cells * nd), np.bool_)
    for m in range(n):
        neighbours = 0
        for t in range(n):
            if t != m and math.hypot(xy[t, 0] - xy[m, 0], xy[t, 1] - xy[m, 1]) <= near:
                neighbours += 1
        if neighbours < min_neighbours:
            continue
        valid = 0
        for c in range(cells):
            if inside[m, c] and in_radius[c]:
                valid += 1
        if valid < min_cells:
            continue
        for c in range(cells):
            if inside[m, c] and in_radius[c]:
                for k in range(nd):
                    out[m, c * nd + k] = True
    return out


@njit(cache=True)
def pack(bits: Bits) -> Words:
    """(n, 64 k) bits as (n, k) words, as ``np.packbits(bits, axis=1).view(np.uint64)`` lays
    them out on a little-endian machine: bit 8 b + j of a row is bit 7 - j of its byte b,
    and byte b is byte b % 8 of word b // 8."""
    n, length = bits.shape
    out = np.zeros((n, length // 64), np.uint64)
    for m in range(n):
        for w in range(length // 64):
            word = np.uint64(0)
            for b in range(8):
                byte = 0
                at = 64 * w + 8 * b
                for j in range(8):
                    byte = (byte << 1) | int(bits[m, at + j])
                word |= np.uint64(byte) << np.uint64(8 * b)
            out[m, w] = word
    return out


@njit(cache=True)
def cylinder_set(
    xy: Floats,
    angle: Floats,
    cos: Floats,
    sin: Floats,
    grid_x: Floats,
    grid_y: Floats,
    equations: Floats,
    hulled: bool,
    sections: Floats,
    sigma_s: float,
    sigma_d: float,
    mu_psi: float,
    side: int,
    spacing: float,
    hull_offset: float,
    in_radius: Bits,
    near: float,
    min_cells: float,
    min_neighbours: int,
) -> tuple[Words, Words]:
    """(value words, validity words) of every minutia's cylinder: the cell centres turned
    to each minutia's direction (``cos``/``sin`` of ``angle``, computed by numpy as the
    reference formula does, so the bits agree), the values, the hull test against
    ``equations`` (all cells inside when not ``hulled``: too few or collinear
    minutiae), the validity, both packed."""
    n, cells = xy.shape[0], grid_x.shape[0]
    cell_x = np.empty((n, cells))
    cell_y = np.empty((n, cells))
    for m in range(n):
        for c in range(cells):
            cell_x[m, c] = xy[m, 0] + cos[m] * grid_x[c] - sin[m] * grid_y[c]
            cell_y[m, c] = xy[m, 1] + sin[m] * grid_x[c] + cos[m] * grid_y[c]
    values = cylinder_values(
        xy, angle, cell_x, cell_y, sections, sigma_s, sigma_d, mu_psi, side, spacing
    )
    if hulled:
        inside = inside_hull(xy, cell_x, cell_y, equations, hull_offset, side)
    else:
        inside = np.ones((n, cells), np.bool_)
    valid = cylinder_validity(
        xy, inside, in_radius, near, min_cells, min_neighbours, sections.shape[0]
    )
    return pack(values), pack(valid)
