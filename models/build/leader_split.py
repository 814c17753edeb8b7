"""Split the rewritten LEADER into what runs at every pixel and what runs at the minutiae.

Why: of LEADER's three heads only the minutia probability is needed at every
pixel (its non-maximum suppression is what finds the minutiae). The direction
and type heads are read at the 48 minutiae at most that a template keeps, yet
over every pixel they took about 40 ms of the 150 ms the rewritten network
took for 320x416 on one core. So the TFLite model ends at the suppressed
probability (full resolution, one channel) and the 52-channel half-resolution
features the three heads share (packed into one output), and the direction and type
heads ship as float32 arrays (``leader_heads.npz``) that
``firmware/biometrics/fingerprint/heads.py`` evaluates on each minutia's 9x9
feature patch. The arrays are taken from the rewritten layers, so the split
computes the same function; ``fingerprint.py`` checks it against pyfing's
network.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

HEADS = {
    "direction": ("head_1", "head_conv_dir", "linear"),
    "type": ("head_2", "head_conv_typ", "sigmoid"),
}
"""Point head -> (pyfing's head block, its output convolution, that convolution's activation)."""
SUPPRESSED, FEATURES = "head_nms_x", "dec1_0_conc_x"
"""The rewrite's layers whose outputs the dense model returns."""


def dense(fast: Any, height: int, width: int) -> Any:
    """The rewritten network (``leader_rewrite.rewrite``) at a fixed input, returning the
    heads' shared features and the suppressed probability in one tensor (H/2 x W/2 x
    (C + 4)): the probability's 2x2 blocks as its last four channels (space-to-depth;
    TensorFlow's converter fails on a Keras 3 model with two outputs), which the device's
    ``leader.unpack`` takes apart. The direction and type heads are left out of the graph."""
    import keras
    import tensorflow as tf

    class Packed(keras.layers.Layer):
        def call(self, inputs: Any) -> Any:
            suppressed, features = inputs
            return tf.concat([features, tf.nn.space_to_depth(suppressed, 2)], axis=-1)

    suppressed = fast.get_layer(SUPPRESSED).output
    features = fast.get_layer(FEATURES).output
    inner = keras.Model(fast.inputs, Packed(name="packed")([suppressed, features]))
    image = keras.Input((height, width, 1), batch_size=1, name="image")
    return keras.Model(image, inner(image))


def tflite(model: Any, precision: str | None) -> bytes:
    """``model`` converted with float16 weights, dynamic-range int8 (``dr8``) or float32
    (None)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if precision is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if precision == "f16":
        converter.target_spec.supported_types = [tf.float16]
    return bytes(converter.convert())


def point_heads(network: Any, fast: Any) -> dict[str, np.ndarray]:
    """The direction and type heads' weights in the form ``heads.Head`` reads, from
    pyfing's ``network`` (the 7x7 depthwise kernels, the norms' epsilons) and its rewrite
    ``fast`` (everything folded)."""
    import keras

    arrays: dict[str, np.ndarray] = {}
    for name, (block, output, activation) in HEADS.items():
        depthwise = network.get_layer(f"{block}_ibc_depthwise_conv")
        conv2 = network.get_layer(f"{block}_conv2")
        out = network.get_layer(output)
        if depthwise.use_bias or tuple(depthwise.kernel_size) != (7, 7):
            raise ValueError(f"{depthwise.name}: not the head layout heads.py computes")
        if conv2.activation is not keras.activations.gelu:
            raise ValueError(f"{conv2.name}: expected GELU")
        if out.activation is not getattr(keras.activations, activation):
            raise ValueError(f"{out.name}: expected a {activation} activation")
        parts = {
            "depthwise": np.asarray(depthwise.get_weights()[0])[:, :, :, 0],
            "norm_epsilon": np.float32(network.get_layer(f"{block}_ibc_ln").epsilon),
            "expand": fast.get_layer(f"{block}_ibc_conv_exp_x").kernel[0, 0],
            "expand_bias": fast.get_layer(f"{block}_ibc_conv_exp_x").bias,
            "reduce": fast.get_layer(f"{block}_ibc_conv_red_x").kernel[0, 0],
            "reduce_bias": fast.get_layer(f"{block}_ibc_conv_red_x").bias,
            "adjust": fast.get_layer(f"{block}_ibc_add_x").kernel[0, 0],
            "out_epsilon": np.float32(network.get_layer(f"{block}_ln").epsilon),
            "pointwise": fast.get_layer(f"{block}_conv2_x").kernel[0, 0],
            "pointwise_bias": fast.get_layer(f"{block}_conv2_x").bias,
            "phases": fast.get_layer(f"{output}_x").kernel,
            "phases_bias": fast.get_layer(f"{output}_x").bias,
        }
        for key, value in parts.items():
            arrays[f"{name}.{key}"] = np.asarray(value, np.float32)
    return arrays


def write_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``arrays`` as an ``.npz`` that is byte-identical on every rebuild (numpy's own
    ``savez`` stamps each member with the time of writing)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for key in sorted(arrays):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(arrays[key]), allow_pickle=False)
            member = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            archive.writestr(member, buffer.getvalue())
