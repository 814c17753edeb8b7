"""ISO/IEC 19794-2:2005 finger minutiae records (and the ANSI/INCITS 378-2004 variant).

Layout (big-endian; NIST biomdi ``fmr.h``): a 24-byte record header (format
``FMR\\0``, version `` 20\\0``, record length, capture equipment, image size,
resolution in pixels per centimetre, number of views); per view a 4-byte
header (finger position, view number and impression type, quality, minutiae
count), 6 bytes per minutia (type in 2 bits and x in 14; y in 14; angle in
units of 360/256 degrees; quality), and a 2-byte extended-data length.

ANSI/INCITS 378 differs in the header (a 2-byte length for short records, a
6-byte one beyond 65535, a 4-byte CBEFF product id) and in the angle unit (2
degrees). Decoding is strict: a length that lies, a minutia outside the image,
a count the data cannot hold, or trailing bytes are each a clear
:class:`TemplateError`.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

from wire.errors import WireError

ISO_MAGIC = b"FMR\x00"
ISO_VERSION = b" 20\x00"
HEADER_BYTES = 24
ANSI_HEADER_BYTES = 26

RIDGE_ENDING = 1
BIFURCATION = 2
OTHER = 0


class TemplateError(WireError):
    """A minutiae record is malformed."""


@dataclass(frozen=True)
class Minutia:
    x: int
    y: int
    angle: float
    """Direction in radians, 0..2*pi, counter-clockwise from the x axis (image y points down)."""
    kind: int = RIDGE_ENDING
    quality: int = 0

    def angle_byte(self) -> int:
        return round(self.angle / (2 * math.pi) * 256) % 256


@dataclass(frozen=True)
class FingerView:
    position: int
    minutiae: tuple[Minutia, ...]
    quality: int = 0
    impression: int = 0
    """0 live-scan plain, 1 live-scan rolled, ... 8 swipe."""
    view_number: int = 0


@dataclass(frozen=True)
class MinutiaeRecord:
    width: int
    height: int
    views: tuple[FingerView, ...]
    resolution_ppcm: int = 197
    """Pixels per centimetre: 197 is 500 ppi."""
    capture_device: int = 0

    def encode(self) -> bytes:
        """ISO/IEC 19794-2:2005."""
        body = b"".join(_view(v, ansi=False) for v in self.views)
        total = HEADER_BYTES + len(body)
        header = (
            ISO_MAGIC
            + ISO_VERSION
            + struct.pack(
                ">IHHHHHBB",
                total,
                self.capture_device & 0x0FFF,
                self.width,
                self.height,
                self.resolution_ppcm,
                self.resolution_ppcm,
                len(self.views),
                0,
            )
        )
        return header + body

    def encode_ansi(self) -> bytes:
        """ANSI/INCITS 378-2004 (2-byte record length; 2-degree angle units)."""
        body = b"".join(_view(v, ansi=True) for v in self.views)
        total = ANSI_HEADER_BYTES + len(body)
        if total > 0xFFFF:
            raise TemplateError("ANSI records over 65535 bytes need the 6-byte length form")
        header = (
            ISO_MAGIC
            + ISO_VERSION
            + struct.pack(
                ">HIHHHHHBB",
                total,
                0,  # CBEFF product identifier
                self.capture_device & 0x0FFF,
                self.width,
                self.height,
                self.resolution_ppcm,
                self.resolution_ppcm,
                len(self.views),
                0,
            )
        )
        return header + body

    @classmethod
    def decode(cls, data: bytes) -> MinutiaeRecord:
        """Decode an ISO/IEC 19794-2:2005 record."""
        if len(data) < HEADER_BYTES:
            raise TemplateError(f"record of {len(data)} bytes is shorter than its 24-byte header")
        if data[:4] != ISO_MAGIC:
            raise TemplateError(f"format identifier {data[:4]!r} is not 'FMR\\0'")
        if data[4:8] != ISO_VERSION:
            raise TemplateError(f"version {data[4:8]!r} is not ' 20\\0' (ISO/IEC 19794-2:2005)")
        total, device, width, height, xres, _yres, nviews, _reserved = struct.unpack(
            ">IHHHHHBB", data[8:24]
        )
        if total != len(data):
            raise TemplateError(
                f"record length field says {total} bytes, the record has {len(data)}"
            )
        if width == 0 or height == 0 or xres == 0:
            raise TemplateError("image size and resolution must not be zero")
        offset = HEADER_BYTES
        views = []
        for index in range(nviews):
            view, offset = _read_view(data, offset, width, height, index, ansi=False)
            views.append(view)
        if offset != len(data):
            raise TemplateError(f"{len(data) - offset} bytes after the last finger view")
        return cls(width, height, tuple(views), xres, device & 0x0FFF)


def _view(view: FingerView, ansi: bool) -> bytes:
    if not 0 <= view.position <= 10:
        raise TemplateError(f"finger position {view.position} outside 0..10")
    if len(view.minutiae) > 255:
        raise TemplateError("a finger view holds at most 255 minutiae")
    head = struct.pack(
        ">BBBB",
        view.position,
        ((view.view_number & 0x0F) << 4) | (view.impression & 0x0F),
        view.quality,
        len(view.minutiae),
    )
    points = b"".join(
        struct.pack(
            ">HHBB",
            ((m.kind & 0x03) << 14) | (m.x & 0x3FFF),
            m.y & 0x3FFF,
            (round(math.degrees(m.angle) / 2) % 180) if ansi else m.angle_byte(),
            m.quality,
        )
        for m in view.minutiae
    )
    return head + points + b"\x00\x00"


def _read_view(
    data: bytes, offset: int, width: int, height: int, index: int, ansi: bool
) -> tuple[FingerView, int]:
    if offset + 4 > len(data):
        raise TemplateError(f"finger view {index} is truncated (no view header)")
    position, view_imp, quality, count = struct.unpack(">BBBB", data[offset : offset + 4])
    if position > 10:
        raise TemplateError(f"finger view {index}: finger position {position} outside 0..10")
    if quality > 100:
        raise TemplateError(f"finger view {index}: quality {quality} outside 0..100")
    offset += 4
    end = offset + 6 * count
    if end + 2 > len(data):
        raise TemplateError(
            f"finger view {index} announces {count} minutiae but the record ends first"
        )
    minutiae = []
    for i in range(count):
        kx, y, angle, mq = struct.unpack(">HHBB", data[offset + 6 * i : offset + 6 * i + 6])
        x, y = kx & 0x3FFF, y & 0x3FFF
        if x >= width or y >= height:
            raise TemplateError(
                f"finger view {index}, minutia {i} at ({x}, {y}) lies outside the "
                f"{width}x{height} image"
            )
        if mq > 100:
            raise TemplateError(f"finger view {index}, minutia {i}: quality {mq} > 100")
        radians = math.radians(angle * 2) if ansi else angle / 256 * 2 * math.pi
        minutiae.append(Minutia(x, y, radians, kx >> 14, mq))
    (ext,) = struct.unpack(">H", data[end : end + 2])
    offset = end + 2 + ext
    if offset > len(data):
        raise TemplateError(f"finger view {index}: extended data runs past the record")
    view = FingerView(position, tuple(minutiae), quality, view_imp & 0x0F, view_imp >> 4)
    return view, offset
