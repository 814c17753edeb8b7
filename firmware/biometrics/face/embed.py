"""Alignment to the 112x112 template and the SFace embedding, quantised to 128 bytes.

SFace (MobileFaceNet trained with the SFace loss, opencv_zoo, Apache-2.0) was
trained on faces warped so that the eyes, nose tip and mouth corners land on
the five ArcFace template points; the same similarity warp from YuNet's five
landmarks is used here (as OpenCV's ``alignCrop`` does), so the embedding
means what the model's authors measured.

The 128 floats are stored as int8 (:mod:`wire.face`, shared with the central
service); the quantisation costs less than 0.001 of cosine.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from firmware.biometrics.face.detect import Detection
from firmware.biometrics.face.errors import FaceError
from firmware.biometrics.face.frames import Floats, Rgb, invert, similarity, warp_affine
from models import Model, load
from wire import face as face_wire

MODEL = "face/sface_int8.tflite"
VERSION = face_wire.VERSION
"""Goes into each record: embeddings of different versions are never compared."""
DIMS = face_wire.DIMS
CROP = 112
TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    np.float32,
)


def to_template(face: Detection | Floats, size: int = CROP) -> Floats:
    """The 2x3 similarity taking frame pixels to the template's (at ``size``)."""
    points = face.landmarks if isinstance(face, Detection) else face
    return similarity(points, TEMPLATE * (size / CROP))


def align(frame: Rgb, face: Detection | Floats, size: int = CROP) -> Rgb:
    """The face warped onto the 112x112 template (or the same geometry at ``size``)."""
    return warp_affine(frame, invert(to_template(face, size)), size, size)


class Embedder:
    def __init__(self, model: Model | None = None) -> None:
        self.model = model or load(MODEL)

    def raw(self, aligned: Rgb) -> Floats:
        """The network's 128 floats for one aligned RGB crop (their norm carries quality)."""
        if aligned.shape != (CROP, CROP, 3):
            raise FaceError(f"an aligned face must be {CROP}x{CROP}x3, not {aligned.shape}")
        out = self.model.run(aligned[None].astype(np.float32))
        return next(iter(out.values())).reshape(DIMS).astype(np.float32)


def quantise(vector: Floats) -> bytes:
    """The 128 bytes the record carries (see :mod:`wire.face`)."""
    try:
        return face_wire.encode(vector)
    except face_wire.EmbeddingError as exc:
        raise FaceError(str(exc)) from exc


def dequantise(data: bytes) -> Floats:
    """The unit vector of stored embedding bytes."""
    try:
        return face_wire.decode(data)
    except face_wire.EmbeddingError as exc:
        raise FaceError(str(exc)) from exc


def unit(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return np.asarray(vectors / np.maximum(norms, 1e-12), np.float32)
