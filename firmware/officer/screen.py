"""What the officer's screen is sent: capture images encoded for the browser, and the
code of a capture error (``firmware.ui.messages`` words it in the officer's language).

Kept apart from the workflow because they are presentation: the images are small
(a band of rows as PNG, a preview frame as a 320-wide JPEG, the finger's quality
blocks as a translucent mask), made fresh for each event and never stored.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import numpy.typing as npt
from PIL import Image

from firmware.biometrics.fingerprint.errors import FingerprintError
from firmware.outbox import OutboxFull
from hal.errors import CaptureFailed, HalError, NoFinger, SecureElementError, SensorTimeout

PREVIEW_WIDTH = 320


ERROR_CODES: tuple[tuple[type[Exception], str], ...] = (
    (NoFinger, "no_finger"),
    (CaptureFailed, "bad_image"),
    (SensorTimeout, "sensor_fault"),
    (SecureElementError, "secure_element"),
    (OutboxFull, "outbox_full"),
    (FingerprintError, "bad_image"),
    (HalError, "sensor_fault"),  # after its subclasses above
)


def error_code(exc: Exception) -> str:
    """The officer-facing code of a capture error (``firmware.ui.messages`` words it)."""
    for kind, code in ERROR_CODES:
        if isinstance(exc, kind):
            return code
    return "internal"


def mask_rgba(blocks: npt.NDArray[np.uint8]) -> Image.Image:
    """The finger's blocks by quality: green good, amber weak, red poor, clear off the finger."""
    q = blocks.astype(np.int32)
    rgba = np.zeros((*q.shape, 4), np.uint8)
    on = q > 0
    rgba[on & (q >= 60)] = (0, 200, 83, 70)
    rgba[on & (q >= 30) & (q < 60)] = (255, 196, 0, 90)
    rgba[on & (q < 30)] = (255, 61, 0, 110)
    return Image.fromarray(rgba, "RGBA")


def png(image: Image.Image) -> str:
    out = io.BytesIO()
    image.save(out, "PNG", optimize=False, compress_level=1)
    return base64.b64encode(out.getvalue()).decode()


def grey_png(pixels: npt.NDArray[np.uint8]) -> str:
    """A band of the print as the sensor sent it."""
    return png(Image.fromarray(pixels, "L"))


def jpeg(frame: npt.NDArray[np.uint8]) -> str:
    image = Image.fromarray(frame[..., :3], "RGB")
    if image.width > PREVIEW_WIDTH:
        image = image.resize(
            (PREVIEW_WIDTH, round(image.height * PREVIEW_WIDTH / image.width)),
            Image.Resampling.BILINEAR,
        )
    out = io.BytesIO()
    image.save(out, "JPEG", quality=70)
    return base64.b64encode(out.getvalue()).decode()
