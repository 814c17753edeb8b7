"""The TFLite models the handheld runs, each with its build script, model card and checksum.

``models/face/`` holds the face detector (YuNet), the face-mesh landmark model
(MediaPipe FaceMesh-v2) and the face embedding network (SFace);
``models/fingerprint/`` the LEADER minutiae network at six input sizes, as
float16 and dynamic-range int8, and the weights of its direction and type heads,
which the firmware runs at the minutiae only (``leader_heads.npz``). Each model
file is listed in its folder's ``SHA256SUMS``; :func:`models.runtime.model_path`
refuses a file whose digest differs, so a corrupted or swapped model fails at
load with a clear error instead of giving wrong answers.
"""

from models.runtime import Model, ModelError, load, model_path, release

__all__ = ["Model", "ModelError", "load", "model_path", "release"]
