"""Exact rewrites of LEADER's layers into forms LiteRT's CPU path (XNNPACK) runs fast.

Why: on one x86 core LEADER as pyfing builds it took about 225 ms for 320x416
in LiteRT, against a 150 ms budget, and timing every operator alone (each cut
into a one-operator model) showed where the time went, not where the
multiply-adds are:

* XNNPACK's depthwise convolution is fast up to 25 taps and falls off a cliff
  above: 7x7 on 52 channels at 208x160 takes about 37 ms against 2.5 ms for
  5x5 (TFLite's own kernel, without XNNPACK, takes 15 ms). LEADER has eleven
  7x7 depthwise convolutions. A 7x7 kernel is split exactly into three
  dilated kernels of at most 25 taps whose outputs add up to it.
* Dynamic-range int8 weights make depthwise convolutions slower (5x5: 8 ms
  against 2.5 ms), so their weights stay float32 (:func:`float_depthwise`);
  they are about 140 KB.
* A dilated convolution written through TensorFlow's space-to-batch reaches
  TFLite as SPACE_TO_BATCH / conv / BATCH_TO_SPACE whenever two such
  convolutions read the same tensor (the converter merges the shared
  space-to-batch and can then no longer fold it back); the raw ops carry
  the dilation to TFLite directly.
* Keras's layer normalisation scales and shifts per pixel and channel
  (``x * inv + res`` with ``inv`` already multiplied by gamma), several full
  passes over the tensor; normalising first and multiplying by gamma after
  is one pass fewer, and where a 1x1 convolution follows (LEADER's inverted
  bottlenecks and heads) gamma and beta fold into its weights and bias
  (together about 8 ms).
* Each of the three heads upsamples to full resolution and then runs only
  per-pixel layers before its 5x5 output convolution; those layers commute
  with nearest-neighbour upsampling and now run at half resolution, and the
  output convolution takes the half-resolution map directly (four 3x3
  phases and a depth-to-space, ``UpsampledConv``): about 18 ms.
* The suppression's 7x7 max pool is separable: 5.3 ms on one channel at
  416x320 against 1.3 ms as 7x1 then 1x7.
* Each inverted bottleneck ends with a 1x1 reduction, the residual add and
  a 1x1 adjustment (in a head, then another 1x1 convolution), all linear:
  folded into one convolution from the expanded map to the block's output
  channels, with the input adjusted on its own (a head's reduction from 208
  channels writes 4 instead of 52).
* Each stem concatenates a 5x5 and a dilated 5x5 convolution of the image
  and normalises across the channels: two convolutions that write all the
  channels with centred kernels give the concatenation with its mean taken
  off, so neither is a pass of its own at full resolution (a single 9x9
  convolution would be exact too, but the converter makes a one-channel
  convolution depthwise, and 81 taps are XNNPACK's slow path).

Together: 320x416 in about 120 ms instead of 220 (``dr8``, one thread, the
first five; the last two another 10 %). ``leader_split.py`` then takes the
direction and type heads out of the graph.

Every rewrite is the same function as the layer it replaces, up to float
rounding: ``fingerprint.py`` checks the converted models against the
original Keras network, not against this one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

ONE = [1, 1, 1, 1]


def _layers() -> tuple[Any, Any]:
    """Keras and TensorFlow, imported on first use: they take seconds to load, and the
    build's download and checking steps do not need them."""
    import keras
    import tensorflow as tf

    return keras, tf


def rewrite(network: Any) -> Any:
    """A copy of ``network`` (pyfing's LEADER) with every rewrite applied; weights are shared
    or copied, never changed beyond the exact folds above."""
    keras, tf = _layers()
    names = {layer.name for layer in network.layers}
    folds: dict[str, str] = {}
    """Layer normalisation -> the 1x1 convolution right after it that absorbs gamma and beta."""
    for name in names:
        if name.endswith("_ln") and name.replace("_ln", "_conv_exp") in names:
            folds[name] = name.replace("_ln", "_conv_exp")
        elif name.startswith("head_") and name.endswith("_ln") and "_ibc" not in name:
            folds[name] = name.replace("_ln", "_conv2")
    absorbs = {conv: network.get_layer(ln) for ln, conv in folds.items()}
    # Each head upsamples (nearest neighbour), then runs only per-pixel layers (dropout, a 1x1
    # convolution, a norm, a 1x1 convolution with GELU) before its 5x5 output convolution: the
    # per-pixel layers commute with the upsampling and run on a quarter of the pixels, and the
    # output convolution absorbs the upsampling (UpsampledConv).
    late = set()
    for name in names:
        if name.startswith("head_") and name.endswith("_up_up"):
            if network.get_layer(name).interpolation != "nearest":
                raise ValueError(f"{name}: only nearest-neighbour upsampling commutes")
            late.add(name)
    # Each inverted bottleneck ends with a 1x1 reduction, the residual add and a 1x1
    # adjustment, all linear (in a head the adjustment is followed, once the upsampling is
    # gone, by another linear 1x1 convolution): the reduction and what follows it fold into
    # one convolution from the expanded map straight to the block's output channels, and the
    # block's input is adjusted on its own before the add.
    after: dict[str, list[Any]] = {}
    """Reduction (``*_conv_red``) -> the linear 1x1 convolutions that follow its add."""
    for name in names:
        if name.endswith("_conv_red"):
            block = name.removesuffix("_conv_red")
            chain = [network.get_layer(block + "_conv_adj")]
            if block.startswith("head_") and block.endswith("_ibc"):
                chain.append(network.get_layer(block.removesuffix("_ibc") + "_conv1"))
            after[name] = chain
    joins = {name.replace("_conv_red", "_add"): chain for name, chain in after.items()}
    gone = {layer.name for chain in after.values() for layer in chain}
    # Each stem is a 5x5 and a dilated 5x5 convolution of the image, concatenated and
    # normalised across channels: as one 9x9 convolution whose kernels are centred (each
    # minus their mean), its outputs are the two concatenated with their mean already
    # taken off, so neither the concatenation nor the norm's mean is a pass of its own.
    stems = {}
    """Stem concatenation -> its (plain, dilated) convolutions."""
    for name in names:
        if name.startswith("stem") and name.endswith("_conc"):
            stem = name.removesuffix("_conc")
            stems[name] = (
                network.get_layer(stem + "_conv"),
                network.get_layer(stem + "_dilated_conv"),
            )
    centred = {name.replace("_conc", "_ln") for name in stems}
    gone |= {conv.name for pair in stems.values() for conv in pair}
    outputs = {"head_conv_pos", "head_conv_dir", "head_conv_typ"}
    if len(late) != 3 or not outputs <= names:
        raise ValueError("this is not the LEADER head layout the rewrite knows")

    def depthwise(x: Any, kernel: np.ndarray, dilation: tuple[int, int]) -> Any:
        return tf.raw_ops.DepthwiseConv2dNative(
            input=x, filter=kernel, strides=ONE, padding="SAME", dilations=[1, *dilation, 1]
        )

    class Depthwise7(keras.layers.Layer):
        """7x7 depthwise = rows {-2,0,2} x 7 columns + rows {-3,-1,1,3} x columns -2..2
        + rows {-3,-1,1,3} x columns {-3,3}: 21, 20 and 8 taps, each under XNNPACK's 25."""

        def __init__(self, layer: Any) -> None:
            super().__init__(name=layer.name + "_x")
            kernel = np.asarray(layer.get_weights()[0], np.float32)
            even, odd = [1, 3, 5], [0, 2, 4, 6]
            self.parts = (
                (kernel[even], (2, 1)),
                (kernel[odd][:, 1:6], (2, 1)),
                (kernel[odd][:, [0, 6]], (2, 6)),
            )
            self.bias = np.asarray(layer.get_weights()[1]) if layer.use_bias else None

        def call(self, x: Any) -> Any:
            (a, da), (b, db), (c, dc) = self.parts
            y = (depthwise(x, a, da) + depthwise(x, b, db)) + depthwise(x, c, dc)
            return y if self.bias is None else y + self.bias

    class DilatedConv(keras.layers.Layer):
        def __init__(self, layer: Any) -> None:
            super().__init__(name=layer.name + "_x")
            weights = layer.get_weights()
            self.kernel = np.asarray(weights[0], np.float32)
            self.bias = np.asarray(weights[1], np.float32) if layer.use_bias else None
            self.dilations = [1, *layer.dilation_rate, 1]
            self.activation = keras.activations.get(layer.activation)

        def call(self, x: Any) -> Any:
            y = tf.raw_ops.Conv2D(
                input=x, filter=self.kernel, strides=ONE, padding="SAME", dilations=self.dilations
            )
            if self.bias is not None:
                y = tf.nn.bias_add(y, self.bias)
            return self.activation(y)

    class LayerNorm(keras.layers.Layer):
        """``centred``: the input's channel mean is already zero (:class:`CentredStem`)."""

        def __init__(self, layer: Any, folded: bool, centred: bool = False) -> None:
            super().__init__(name=layer.name + "_x")
            assert tuple(np.atleast_1d(layer.axis)) in ((-1,), (3,)) and not layer.rms_scaling
            self.gamma, self.beta = (np.asarray(w, np.float32) for w in layer.get_weights())
            self.epsilon = layer.epsilon
            self.folded = folded
            self.centred = centred

        def call(self, x: Any) -> Any:
            if not self.centred:
                x = x - tf.reduce_mean(x, axis=-1, keepdims=True)
            variance = tf.reduce_mean(tf.math.square(x), axis=-1, keepdims=True)
            y = x * tf.math.rsqrt(variance + self.epsilon)
            return y if self.folded else y * self.gamma + self.beta

    class CentredStem(keras.layers.Layer):
        """A stem's 5x5 and dilated 5x5 convolutions and their concatenation as one 9x9
        convolution (the plain kernel in the middle taps, the dilated one on the even
        taps; zero padding agrees), minus the channels' mean kernel and bias."""

        def __init__(self, layer: Any, plain: Any, dilated: Any) -> None:
            super().__init__(name=layer.name + "_x")
            (k1, b1), (k2, b2) = (
                [np.asarray(w, np.float64) for w in c.get_weights()] for c in (plain, dilated)
            )
            for conv, size in ((plain, (1, 1)), (dilated, (2, 2))):
                assert conv.kernel_size == (5, 5) and tuple(conv.dilation_rate) == size
                assert conv.padding == "same" and conv.activation is keras.activations.linear
            n1, n2 = k1.shape[3], k2.shape[3]
            # Both convolutions write every channel (zero where the other one's are) and the
            # mean kernel is split between them: the dilated one's share is its own mean.
            plain_k = np.zeros((5, 5, 1, n1 + n2))
            plain_k[..., :n1] = k1
            dilated_k = np.zeros((5, 5, 1, n1 + n2))
            dilated_k[..., n1:] = k2
            plain_k -= plain_k.mean(axis=3, keepdims=True)
            dilated_k -= dilated_k.mean(axis=3, keepdims=True)
            bias = np.concatenate([b1, b2])
            self.plain = plain_k.astype(np.float32)
            self.dilated = dilated_k.astype(np.float32)
            self.bias = (bias - bias.mean()).astype(np.float32)

        def call(self, inputs: Any) -> Any:
            x = inputs[0]
            a = tf.nn.bias_add(tf.nn.conv2d(x, self.plain, 1, "SAME"), self.bias)
            b = tf.raw_ops.Conv2D(
                input=x, filter=self.dilated, strides=ONE, padding="SAME", dilations=[1, 2, 2, 1]
            )
            return a + b

    class FoldedPointwise(keras.layers.Layer):
        """W (g * y + b) + c = (W diag g) y + (W b + c), for the 1x1 convolution after a norm."""

        def __init__(self, layer: Any, norm: Any) -> None:
            super().__init__(name=layer.name + "_x")
            kernel, bias = (np.asarray(w, np.float64) for w in layer.get_weights())
            gamma, beta = (np.asarray(w, np.float64) for w in norm.get_weights())
            assert kernel.shape[:2] == (1, 1) and tuple(layer.strides) == (1, 1)
            self.kernel = (kernel * gamma[None, None, :, None]).astype(np.float32)
            self.bias = (bias + kernel[0, 0].T @ beta).astype(np.float32)
            self.activation = keras.activations.get(layer.activation)

        def call(self, x: Any) -> Any:
            y = tf.nn.conv2d(x, self.kernel, 1, "VALID")
            return self.activation(tf.nn.bias_add(y, self.bias))

    def linear(chain: list[Any]) -> tuple[np.ndarray, np.ndarray]:
        """The kernel (inputs x outputs) and bias of 1x1 convolutions applied in turn."""
        kernel = np.eye(chain[0].get_weights()[0].shape[2])
        bias = np.zeros(kernel.shape[0])
        for layer in chain:
            k, b = (np.asarray(w, np.float64) for w in layer.get_weights())
            linear_1x1 = k.shape[:2] == (1, 1) and layer.activation is keras.activations.linear
            if not linear_1x1 or layer.padding != "same" or tuple(layer.strides) != (1, 1):
                raise ValueError(f"{layer.name}: only linear 1x1 convolutions fold")
            kernel, bias = kernel @ k[0, 0], bias @ k[0, 0] + b
        return kernel, bias

    class FoldedReduce(keras.layers.Layer):
        """An inverted bottleneck's reduction with the linear layers after the add folded in:
        C (A h + a) + c = (C A) h + (C a + c), straight to the block's output channels."""

        def __init__(self, layer: Any, chain: list[Any]) -> None:
            super().__init__(name=layer.name + "_x")
            rest, rest_bias = linear(chain)
            kernel, bias = linear([layer])
            self.kernel = (kernel @ rest)[None, None].astype(np.float32)
            self.bias = (bias @ rest + rest_bias).astype(np.float32)

        def call(self, x: Any) -> Any:
            return tf.nn.bias_add(tf.nn.conv2d(x, self.kernel, 1, "VALID"), self.bias)

    class AdjustedAdd(keras.layers.Layer):
        """The residual add of a folded block: C (x + r) = C x + C r, where ``C r`` comes from
        :class:`FoldedReduce` with every bias."""

        def __init__(self, layer: Any, chain: list[Any]) -> None:
            super().__init__(name=layer.name + "_x")
            self.kernel = linear(chain)[0][None, None].astype(np.float32)

        def call(self, inputs: Any) -> Any:
            x, reduced = inputs
            return tf.nn.conv2d(x, self.kernel, 1, "VALID") + reduced

    class UpsampledConv(keras.layers.Layer):
        """A k x k convolution of a 2x nearest-neighbour upsampled map, computed on the map
        itself: each of the four output phases is a 3x3 convolution (for k = 5) of the
        half-resolution input with the taps that land on the same source pixel summed, the
        four phases are output channels, and depth-to-space interleaves them. Zero padding
        agrees at every border because the full-resolution size is even."""

        def __init__(self, layer: Any) -> None:
            super().__init__(name=layer.name + "_x")
            kernel, bias = (np.asarray(w, np.float64) for w in layer.get_weights())
            size = kernel.shape[0]
            assert kernel.shape[1] == size and size % 2 == 1 and layer.padding == "same"
            half = size // 2
            reach = (half + 1) // 2
            phases = []
            for p in (0, 1):
                for q in (0, 1):
                    part = np.zeros((2 * reach + 1, 2 * reach + 1, *kernel.shape[2:]))
                    for i in range(-half, half + 1):
                        for j in range(-half, half + 1):
                            a, b = (p + i) // 2 + reach, (q + j) // 2 + reach
                            part[a, b] += kernel[i + half, j + half]
                    phases.append(part)
            self.kernel = np.concatenate(phases, axis=-1).astype(np.float32)
            self.bias = np.tile(bias, 4).astype(np.float32)
            self.activation = keras.activations.get(layer.activation)

        def call(self, x: Any) -> Any:
            y = tf.nn.bias_add(tf.nn.conv2d(x, self.kernel, 1, "SAME"), self.bias)
            return self.activation(tf.nn.depth_to_space(y, 2))

    class SeparableMax(keras.layers.Layer):
        def __init__(self, layer: Any) -> None:
            super().__init__(name=layer.name + "_x")
            self.size = layer.pool_size
            assert tuple(layer.strides) == (1, 1) and layer.padding == "same"

        def call(self, x: Any) -> Any:
            x = tf.nn.max_pool2d(x, (self.size[0], 1), 1, "SAME")
            return tf.nn.max_pool2d(x, (1, self.size[1]), 1, "SAME")

    class Suppress(keras.layers.Layer):
        """pyfing's ``head_nms`` (a Lambda): the blurred probability where it is its own
        neighbourhood's maximum, else 0. A layer of the rewrite's own, like the features'
        concatenation, so that :mod:`leader_split` can take their outputs."""

        def call(self, inputs: Any) -> Any:
            blurred, peaks = inputs
            return peaks * tf.cast(tf.equal(blurred, peaks), peaks.dtype)

    def swap(layer: Any) -> Any:
        layers = keras.layers
        # Only stride-1 "same" convolutions: the only kind LEADER has, and the one rewritten.
        same = getattr(layer, "padding", None) == "same"
        plain = same and tuple(getattr(layer, "strides", ())) == (1, 1)
        if layer.name in late or layer.name in gone:
            return layers.Identity(name=layer.name + "_x")
        if (
            isinstance(layer, layers.DepthwiseConv2D)
            and plain
            and tuple(layer.kernel_size) == (7, 7)
        ):
            return Depthwise7(layer)
        if type(layer) is layers.Conv2D and plain and tuple(layer.dilation_rate) != (1, 1):
            return DilatedConv(layer)
        if isinstance(layer, layers.LayerNormalization):
            return LayerNorm(layer, layer.name in folds, layer.name in centred)
        if layer.name in stems:
            return CentredStem(layer, *stems[layer.name])
        if layer.name in after:
            return FoldedReduce(layer, after[layer.name])
        if layer.name in joins:
            return AdjustedAdd(layer, joins[layer.name])
        if layer.name in outputs:
            return UpsampledConv(layer)
        if layer.name in absorbs:
            return FoldedPointwise(layer, absorbs[layer.name])
        if layer.name == "head_nms_mp":
            return SeparableMax(layer)
        if layer.name == "head_nms":
            return Suppress(name=layer.name + "_x")
        if layer.name == "dec1_0_conc":
            return layers.Concatenate(axis=layer.axis, name=layer.name + "_x")
        return layer

    return keras.models.clone_model(network, clone_function=swap)


def float_depthwise(quantised: bytes, reference: bytes) -> bytes:
    """``quantised`` (dynamic-range int8) with its depthwise kernels put back to float32,
    taken from ``reference``, the same graph converted without quantisation."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    ops = schema.BuiltinOperator
    models = [
        schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(b, 0)) for b in (quantised, reference)
    ]

    def depthwise_kernels(model: Any) -> list[Any]:
        graph = model.subgraphs[0]
        found = []
        for op in graph.operators:
            code = model.operatorCodes[op.opcodeIndex]
            if max(code.builtinCode, code.deprecatedBuiltinCode) == ops.DEPTHWISE_CONV_2D:
                found.append(graph.tensors[op.inputs[1]])
        return found

    target, source = models
    pairs = list(zip(depthwise_kernels(target), depthwise_kernels(source), strict=True))
    for mine, theirs in pairs:
        if list(mine.shape) != list(theirs.shape):
            raise ValueError("the quantised and float graphs differ; convert the same model twice")
        if mine.type == schema.TensorType.INT8:
            target.buffers[mine.buffer].data = models[1].buffers[theirs.buffer].data
            mine.type = schema.TensorType.FLOAT32
            mine.quantization = None
    builder = flatbuffers.Builder(0)
    builder.Finish(target.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
