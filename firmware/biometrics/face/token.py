"""The ICAO token face image (ISO/IEC 19794-5 token geometry) as a small JPEG.

Token geometry fixes the eyes: for an image ``W`` wide and ``W / 0.75`` high,
the midpoint of the eyes is at ``(0.5 W, 0.6 W)`` from the top left and the
eyes are ``0.25 W`` apart. Any system can then crop or compare the image
without finding the face again. Only made when the configuration asks for an
image in the record; it is encrypted with the rest of the record and never
written to disk in the clear.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from firmware.biometrics.face.frames import Floats, Rgb, invert, similarity, warp_affine

WIDTH = 240
QUALITY = 80


def token_geometry(width: int = WIDTH) -> tuple[int, int, Floats]:
    """(width, height, eye positions (2, 2): subject's right eye first, i.e. image left)."""
    height = round(width / 0.75)
    mid_x, eye_y, gap = 0.5 * width, 0.6 * width, 0.25 * width
    eyes = np.array([[mid_x - gap / 2, eye_y], [mid_x + gap / 2, eye_y]], np.float32)
    return width, height, eyes


def token_image(frame: Rgb, right_eye: Floats, left_eye: Floats, width: int = WIDTH) -> Rgb:
    w, h, eyes = token_geometry(width)
    to_token = similarity(np.stack([right_eye, left_eye]), eyes)
    return warp_affine(frame, invert(to_token), w, h, border=128)


def jpeg(image: Rgb, quality: int = QUALITY) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality, optimize=True)
    return buffer.getvalue()
