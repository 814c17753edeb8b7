"""Fold block-wise int8 ``DequantizeLinear`` weights of an ONNX graph back to float32.

Why: the opencv_zoo ``int8bq`` files (YuNet, SFace) store weights as int8
blocks with per-block scales. onnx2tf, onnxruntime 1.32 and OpenCV < 4.14
cannot read that form, and the stale graph inputs make OpenCV 5 and
onnxruntime refuse the SFace file altogether. Folding gives a plain float32
graph that every converter reads; the quantisation we want on the device is
applied again by the TFLite converter.

Build-time only (needs ``onnx``); never imported by the firmware.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper


def _dequantize(
    q: np.ndarray, scale: np.ndarray, zero: np.ndarray, axis: int, block: int
) -> np.ndarray:
    q = q.astype(np.float32)
    zero = zero.astype(np.float32)
    if block:  # the scale holds one value per block along ``axis``
        scale = np.repeat(scale, block, axis=axis)
        zero = np.repeat(zero, block, axis=axis) if zero.size > 1 else zero
        index = [slice(None)] * q.ndim
        index[axis] = slice(0, q.shape[axis])
        scale, zero = scale[tuple(index)], (zero[tuple(index)] if zero.ndim else zero)
    elif scale.ndim == 1 and scale.size > 1:
        shape = [1] * q.ndim
        shape[axis] = -1
        scale, zero = scale.reshape(shape), zero.reshape(shape) if zero.size > 1 else zero
    return (q - zero) * scale


def fold(model: onnx.ModelProto) -> onnx.ModelProto:
    graph = model.graph
    consts = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    folded: dict[str, np.ndarray] = {}
    keep = []
    for node in graph.node:
        inputs = list(node.input)
        if node.op_type == "DequantizeLinear" and all(
            i in consts or i in folded for i in inputs if i
        ):
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            values = [folded.get(i, consts.get(i)) for i in inputs]
            zero = (
                values[2] if len(values) > 2 and values[2] is not None else np.zeros((), np.float32)
            )
            folded[node.output[0]] = _dequantize(
                values[0],
                values[1],
                zero,
                int(attrs.get("axis", 1)),
                int(attrs.get("block_size", 0)),
            )
            continue
        if node.op_type == "Reshape" and inputs[0] in folded and inputs[1] in consts:
            folded[node.output[0]] = folded[inputs[0]].reshape(consts[inputs[1]].astype(np.int64))
            continue
        keep.append(node)
    used = {i for node in keep for i in node.input} | {o.name for o in graph.output}
    keep = [n for n in keep if not (n.op_type == "Constant" and n.output[0] not in used)]
    used = {i for node in keep for i in node.input} | {o.name for o in graph.output}
    initializers = [
        numpy_helper.from_array(
            np.asarray(v, dtype=np.float32 if v.dtype.kind == "f" else v.dtype), name
        )
        for name, v in {**consts, **folded}.items()
        if name in used and name not in {n.output[0] for n in keep if n.op_type == "Constant"}
    ]
    init_names = {i.name for i in initializers}
    inputs = [i for i in graph.input if i.name not in init_names and i.name in used]
    new_graph = helper.make_graph(keep, graph.name, inputs, list(graph.output), initializers)
    out = helper.make_model(new_graph, opset_imports=[helper.make_opsetid("", 13)])
    out.ir_version = 8
    onnx.checker.check_model(out, full_check=True)
    return out
