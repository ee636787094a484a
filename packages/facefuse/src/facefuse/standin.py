"""Stand-in networks: the interfaces of FaceFusion's models with random weights.

The real swap weights cannot be fetched on machines without network, yet the GPU path has
to be measured with a network of the real one's size. `inswapper_standin` builds
inswapper_128's architecture (a reflect-padded 7x7 stem, encoder to 1024 x 32 x 32, six
style blocks, each two 3x3 convolutions with per-channel RMS normalisation modulated by
512 -> 2048 linear maps of the source vector, bilinear decoder, tanh) with the same input
and output names, shapes and types, and the 512 x 512 `emap` as its last initializer. Its
weights are random: it produces noise in the shape of a face crop, and every file and report
made with it says "stand-in". At `width` 1.0 it has about 138 million parameters, as the real
file; tests use a narrow one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

STANDIN_PRODUCER = "facefuse-stand-in"


class _Graph:
    """Accumulates nodes and random initializers under unique names."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.count = 0

    def name(self, stem: str) -> str:
        self.count += 1
        return f"{stem}_{self.count}"

    def const(self, array: np.ndarray, stem: str = "c") -> str:
        name = self.name(stem)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, inputs: list[str], stem: str | None = None, **attrs: object
           ) -> str:
        out = self.name(stem or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def reflect(self, x: str, pad: int) -> str:
        pads = self.const(np.array([0, 0, pad, pad, 0, 0, pad, pad], np.int64), "pads")
        return self.op("Pad", [x, pads], mode="reflect")

    def conv(self, x: str, cin: int, cout: int, kernel: int, stride: int = 1, pad: int = 0
             ) -> str:
        std = float(np.sqrt(2.0 / (cin * kernel * kernel)))
        weight = (self.rng.standard_normal((cout, cin, kernel, kernel), np.float32) * std)
        bias = np.zeros(cout, np.float32)
        return self.op("Conv", [x, self.const(weight, "w"), self.const(bias, "b")],
                       kernel_shape=[kernel, kernel], strides=[stride, stride],
                       pads=[pad] * 4)

    def lrelu(self, x: str) -> str:
        return self.op("LeakyRelu", [x], alpha=0.2)

    def upsample(self, x: str) -> str:
        scales = self.const(np.array([1, 1, 2, 2], np.float32), "scales")
        roi = self.const(np.zeros(0, np.float32), "roi")
        return self.op("Resize", [x, roi, scales], mode="linear",
                       coordinate_transformation_mode="half_pixel")

    def rms_normalise(self, x: str) -> str:
        mean = self.op("ReduceMean", [x], axes=[2, 3], keepdims=1)
        centred = self.op("Sub", [x, mean])
        square = self.op("Mul", [centred, centred])
        mean_square = self.op("ReduceMean", [square], axes=[2, 3], keepdims=1)
        eps = self.const(np.array(1e-8, np.float32), "eps")
        rms = self.op("Sqrt", [self.op("Add", [mean_square, eps])])
        return self.op("Div", [centred, rms])

    def style(self, source: str, channels: int) -> tuple[str, str]:
        weight = self.rng.standard_normal((512, 2 * channels), np.float32) * 0.05
        bias = np.concatenate([np.ones(channels), np.zeros(channels)]).astype(np.float32)
        styled = self.op("Gemm", [source, self.const(weight, "sw"), self.const(bias, "sb")])
        spatial = self.op("Unsqueeze", [styled, self.const(np.array([2, 3], np.int64))])
        scale, shift = self.name("scale"), self.name("shift")
        split = self.const(np.array([channels, channels], np.int64), "split")
        self.nodes.append(helper.make_node("Split", [spatial, split], [scale, shift], axis=1))
        return scale, shift


def inswapper_standin(width: float = 1.0, seed: int = 0) -> onnx.ModelProto:
    """A stand-in with inswapper_128's architecture, names, shapes and types; random weights."""
    g = _Graph(seed)
    c128, c256, c512, c1024 = (max(2, round(c * width)) for c in (128, 256, 512, 1024))
    x = g.lrelu(g.conv(g.reflect("target", 3), 3, c128, 7))
    x = g.lrelu(g.conv(x, c128, c256, 3, pad=1))
    x = g.lrelu(g.conv(x, c256, c512, 3, stride=2, pad=1))
    x = g.lrelu(g.conv(x, c512, c1024, 3, stride=2, pad=1))
    for _ in range(6):
        scale1, shift1 = g.style("source", c1024)
        scale2, shift2 = g.style("source", c1024)
        y = g.rms_normalise(g.conv(g.reflect(x, 1), c1024, c1024, 3))
        y = g.op("Relu", [g.op("Add", [g.op("Mul", [y, scale1]), shift1])])
        y = g.rms_normalise(g.conv(g.reflect(y, 1), c1024, c1024, 3))
        y = g.op("Add", [g.op("Mul", [y, scale2]), shift2])
        x = g.op("Add", [x, y])
    x = g.lrelu(g.conv(g.upsample(x), c1024, c512, 3, pad=1))
    x = g.upsample(x)
    x = g.lrelu(g.conv(x, c512, c256, 3, pad=1))
    x = g.lrelu(g.conv(x, c256, c128, 3, pad=1))
    x = g.op("Tanh", [g.conv(g.reflect(x, 3), c128, 3, 7)])
    half = g.const(np.array(0.5, np.float32), "half")
    g.nodes.append(helper.make_node("Mul", [g.op("Add", [x, g.const(np.array(1.0, np.float32))]),
                                            half], ["output"]))
    emap = (g.rng.standard_normal((512, 512), np.float32) / np.sqrt(512)).astype(np.float32)
    g.initializers.append(numpy_helper.from_array(emap, "emap"))
    graph = helper.make_graph(
        g.nodes, "inswapper_128_stand_in",
        [helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 3, 128, 128]),
         helper.make_tensor_value_info("source", TensorProto.FLOAT, [1, 512])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 128, 128])],
        g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return _label(model, "inswapper_128", width)


def arcface_standin(seed: int = 7) -> onnx.ModelProto:
    """input (1,3,112,112) -> embedding (1,512): average pooling and a fixed projection."""
    g = _Graph(seed)
    weights = g.rng.normal(size=(3 * 14 * 14, 512)).astype(np.float32)
    pooled = g.op("AveragePool", ["input"], kernel_shape=[8, 8], strides=[8, 8])
    flat = g.op("Flatten", [pooled])
    g.nodes.append(helper.make_node("MatMul", [flat, g.const(weights, "w")], ["embedding"]))
    graph = helper.make_graph(
        g.nodes, "arcface_stand_in",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 112, 112])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [1, 512])],
        g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return _label(model, "arcface_w600k_r50", 1.0)


def _label(model: onnx.ModelProto, name: str, width: float) -> onnx.ModelProto:
    model.producer_name = STANDIN_PRODUCER
    model.doc_string = (f"stand-in for {name}: its interface, random weights (width {width}); "
                        f"not a face swapper")
    return model


def is_standin(path: Path) -> bool:
    """True for a model file written by this module (read from its header, not its weights)."""
    model = onnx.load(str(path), load_external_data=False)
    return model.producer_name == STANDIN_PRODUCER


def save_standin(model: onnx.ModelProto, folder: Path, name: str) -> Path:
    """Write `<name>.onnx` and its `.hash` into `folder`, as a real model would lie there."""
    from facefuse.download import crc32_hex

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.onnx"
    onnx.save(model, str(path))
    (folder / f"{name}.hash").write_text(crc32_hex(path))
    return path
