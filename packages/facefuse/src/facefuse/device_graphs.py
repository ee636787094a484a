"""Small ONNX graphs for the work around the models, so that it runs where the models run.

On a GPU the per-frame work outside inference (letterboxing for the detector, cutting the
aligned face out, pasting the swapped face back through a feathered mask) costs more on the
CPU than the models cost on the GPU. Written as ONNX graphs, ONNX Runtime runs it on the same
device and stream as the models, and frames go up once and come down once. The same graphs run
on the CPU provider, which is how the tests compare them with the OpenCV path.

Geometry: `GridSample` with `align_corners=0` reads normalised coordinates
u = (2x + 1) / width - 1, so an affine map between pixel grids becomes one 2x3 matrix per face
(`crop_theta`, `paste_theta`), computed on the host from the same similarity transform the
OpenCV path uses.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


def _normaliser(width: int, height: int) -> np.ndarray:
    return np.array([[2.0 / width, 0.0, 1.0 / width - 1.0],
                     [0.0, 2.0 / height, 1.0 / height - 1.0],
                     [0.0, 0.0, 1.0]])


def _homogeneous(matrix: np.ndarray) -> np.ndarray:
    return np.vstack([matrix, [0.0, 0.0, 1.0]])


def crop_theta(matrix: np.ndarray, frame_width: int, frame_height: int) -> np.ndarray:
    """For the crop graph: crop pixel (x, y, 1) -> normalised frame coordinates, from the 2x3
    `matrix` that maps frame pixels into the crop (as `align.warp_face` uses it)."""
    inverse = np.linalg.inv(_homogeneous(matrix))
    return (_normaliser(frame_width, frame_height) @ inverse)[:2].astype(np.float32)


def paste_theta(matrix: np.ndarray, size: int) -> np.ndarray:
    """For the paste graph: frame pixel (x, y, 1) -> normalised crop coordinates."""
    return (_normaliser(size, size) @ _homogeneous(matrix))[:2].astype(np.float32)


def _pixel_grid(width: int, height: int) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    ones = np.ones_like(xs)
    return np.stack([xs, ys, ones], axis=-1).reshape(1, height * width, 3)


def _model(nodes: list, name: str, inputs: list, outputs: list, initializers: list
           ) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, name, inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _const(name: str, array: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(array, name)


def _frames_to_rgb_nchw(frames: str, prefix: str) -> tuple[list, list, str]:
    """uint8 BGR NHWC -> float RGB NCHW, 0..255."""
    nodes = [
        helper.make_node("Cast", [frames], [f"{prefix}_f"], to=TensorProto.FLOAT),
        helper.make_node("Transpose", [f"{prefix}_f"], [f"{prefix}_nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Gather", [f"{prefix}_nchw", "bgr_to_rgb"], [f"{prefix}_rgb"],
                         axis=1),
    ]
    return nodes, [_const("bgr_to_rgb", np.array([2, 1, 0], np.int64))], f"{prefix}_rgb"


def detector_input_graph(frame_width: int, frame_height: int, size: int,
                         scale_pixels: float = 1.0, offset_pixels: float = 0.0
                         ) -> onnx.ModelProto:
    """frames uint8 [B, H, W, 3] (BGR) -> blob float [B, 3, size, size]: RGB, scaled to fit
    keeping the aspect, padded right and bottom with zeros (as `detect.letterbox`), then
    `pixel * scale_pixels + offset_pixels`."""
    scale = min(size / frame_width, size / frame_height)
    resized_w = max(1, round(frame_width * scale))
    resized_h = max(1, round(frame_height * scale))
    nodes, inits, rgb = _frames_to_rgb_nchw("frames", "in")
    nodes += [
        helper.make_node("Shape", [rgb], ["in_shape"]),
        helper.make_node("Slice", ["in_shape", "zero", "two"], ["batch_channels"]),
        helper.make_node("Concat", ["batch_channels", "resized_hw"], ["sizes"], axis=0),
        helper.make_node("Resize", [rgb, "", "", "sizes"], ["resized"], mode="linear",
                         coordinate_transformation_mode="half_pixel"),
        helper.make_node("Mul", ["resized", "pixel_scale"], ["scaled"]),
        helper.make_node("Add", ["scaled", "pixel_offset"], ["shifted"]),
        helper.make_node("Pad", ["shifted", "pads"], ["blob"], mode="constant"),
    ]
    pad = np.array([0, 0, 0, 0, 0, 0, size - resized_h, size - resized_w], np.int64)
    inits += [_const("zero", np.array([0], np.int64)), _const("two", np.array([2], np.int64)),
              _const("resized_hw", np.array([resized_h, resized_w], np.int64)),
              _const("pixel_scale", np.array(scale_pixels, np.float32)),
              _const("pixel_offset", np.array(offset_pixels, np.float32)),
              _const("pads", pad)]
    return _model(nodes, "detector_input",
                  [helper.make_tensor_value_info("frames", TensorProto.UINT8,
                                                 ["batch", frame_height, frame_width, 3])],
                  [helper.make_tensor_value_info("blob", TensorProto.FLOAT,
                                                 ["batch", 3, size, size])], inits)


def crop_graph(size: int, scale_pixels: float, offset_pixels: float) -> onnx.ModelProto:
    """frames uint8 [B, H, W, 3], owner int64 [K] (frame of each face), theta float [K, 2, 3]
    -> crops float [K, 3, size, size]: each face cut out and aligned, RGB,
    `pixel * scale_pixels + offset_pixels` (the swapper's input range)."""
    nodes = [helper.make_node("Gather", ["frames", "owner"], ["face_frames"], axis=0)]
    more, inits, rgb = _frames_to_rgb_nchw("face_frames", "crop")
    nodes += more
    nodes += [
        helper.make_node("Transpose", ["theta"], ["theta_t"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["crop_pixels", "theta_t"], ["grid_flat"]),
        helper.make_node("Reshape", ["grid_flat", "grid_shape"], ["grid"]),
        helper.make_node("GridSample", [rgb, "grid"], ["sampled"], mode="bilinear",
                         padding_mode="border", align_corners=0),
        helper.make_node("Mul", ["sampled", "pixel_scale"], ["scaled"]),
        helper.make_node("Add", ["scaled", "pixel_offset"], ["crops"]),
    ]
    inits += [_const("crop_pixels", _pixel_grid(size, size)),
              _const("grid_shape", np.array([-1, size, size, 2], np.int64)),
              _const("pixel_scale", np.array(scale_pixels, np.float32)),
              _const("pixel_offset", np.array(offset_pixels, np.float32))]
    return _model(nodes, "crop",
                  [helper.make_tensor_value_info("frames", TensorProto.UINT8,
                                                 ["batch", "height", "width", 3]),
                   helper.make_tensor_value_info("owner", TensorProto.INT64, ["faces"]),
                   helper.make_tensor_value_info("theta", TensorProto.FLOAT, ["faces", 2, 3])],
                  [helper.make_tensor_value_info("crops", TensorProto.FLOAT,
                                                 ["faces", 3, size, size])], inits)


def paste_graph(frame_width: int, frame_height: int, mask: np.ndarray, output_scale: float,
                output_offset: float) -> onnx.ModelProto:
    """frames uint8 [B, H, W, 3], swapped float [K, 3, S, S] (the swapper's output),
    theta float [K, 2, 3] (frame pixel -> crop), owner_hot float [B, K] (1 where face k
    belongs to frame b) -> frames uint8 with each face blended in through `mask` (S x S,
    0..1). Where faces of one frame overlap, they are averaged by their mask weights."""
    size = mask.shape[0]
    height, width = frame_height, frame_width
    nodes = [
        helper.make_node("Mul", ["swapped", "out_scale"], ["swapped_scaled"]),
        helper.make_node("Add", ["swapped_scaled", "out_offset"], ["rgb01"]),
        helper.make_node("Clip", ["rgb01", "zero_f", "one_f"], ["rgb01c"]),
        helper.make_node("Mul", ["rgb01c", "two55"], ["rgb255"]),
        helper.make_node("Slice", ["rgb255", "zero", "one", "one"], ["channel0"]),
        helper.make_node("Mul", ["channel0", "zero_f"], ["zeros"]),
        helper.make_node("Add", ["zeros", "mask"], ["masks"]),
        helper.make_node("Concat", ["rgb255", "masks"], ["rgba"], axis=1),
        helper.make_node("Transpose", ["theta"], ["theta_t"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["frame_pixels", "theta_t"], ["grid_flat"]),
        helper.make_node("Reshape", ["grid_flat", "grid_shape"], ["grid"]),
        helper.make_node("GridSample", ["rgba", "grid"], ["sampled"], mode="bilinear",
                         padding_mode="zeros", align_corners=0),
        helper.make_node("Slice", ["sampled", "three", "four", "one"], ["alpha"]),
        helper.make_node("Slice", ["sampled", "zero", "three", "one"], ["colour_rgb"]),
        helper.make_node("Gather", ["colour_rgb", "bgr_to_rgb"], ["colour"], axis=1),
        helper.make_node("Mul", ["colour", "alpha"], ["weighted"]),
        helper.make_node("Transpose", ["weighted"], ["weighted_nhwc"], perm=[0, 2, 3, 1]),
        helper.make_node("Reshape", ["weighted_nhwc", "flat"], ["weighted_flat"]),
        helper.make_node("Reshape", ["alpha", "flat"], ["alpha_flat"]),
        helper.make_node("MatMul", ["owner_hot", "weighted_flat"], ["colour_sum"]),
        helper.make_node("MatMul", ["owner_hot", "alpha_flat"], ["alpha_sum"]),
        helper.make_node("Max", ["alpha_sum", "one_f"], ["norm"]),
        helper.make_node("Div", ["alpha_sum", "norm"], ["alpha_frame"]),
        helper.make_node("Reshape", ["colour_sum", "nhwc"], ["colour_nhwc"]),
        helper.make_node("Reshape", ["norm", "nhw1"], ["norm_nhw1"]),
        helper.make_node("Div", ["colour_nhwc", "norm_nhw1"], ["colour_frame"]),
        helper.make_node("Reshape", ["alpha_frame", "nhw1"], ["alpha_nhw1"]),
        helper.make_node("Sub", ["one_f", "alpha_nhw1"], ["keep"]),
        helper.make_node("Cast", ["frames"], ["frames_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["frames_f", "keep"], ["kept"]),
        helper.make_node("Add", ["kept", "colour_frame"], ["blended"]),
        helper.make_node("Round", ["blended"], ["rounded"]),
        helper.make_node("Clip", ["rounded", "zero_f", "two55"], ["clipped"]),
        helper.make_node("Cast", ["clipped"], ["result"], to=TensorProto.UINT8),
    ]
    inits = [
        _const("out_scale", np.array(output_scale, np.float32)),
        _const("out_offset", np.array(output_offset, np.float32)),
        _const("zero_f", np.array(0.0, np.float32)), _const("one_f", np.array(1.0, np.float32)),
        _const("two55", np.array(255.0, np.float32)),
        _const("zero", np.array([0], np.int64)), _const("one", np.array([1], np.int64)),
        _const("three", np.array([3], np.int64)), _const("four", np.array([4], np.int64)),
        _const("mask", mask.astype(np.float32).reshape(1, 1, size, size)),
        _const("frame_pixels", _pixel_grid(width, height)),
        _const("grid_shape", np.array([-1, height, width, 2], np.int64)),
        _const("bgr_to_rgb", np.array([2, 1, 0], np.int64)),
        _const("flat", np.array([0, -1], np.int64)),
        _const("nhwc", np.array([-1, height, width, 3], np.int64)),
        _const("nhw1", np.array([-1, height, width, 1], np.int64)),
    ]
    return _model(nodes, "paste",
                  [helper.make_tensor_value_info("frames", TensorProto.UINT8,
                                                 ["batch", height, width, 3]),
                   helper.make_tensor_value_info("swapped", TensorProto.FLOAT,
                                                 ["faces", 3, size, size]),
                   helper.make_tensor_value_info("theta", TensorProto.FLOAT, ["faces", 2, 3]),
                   helper.make_tensor_value_info("owner_hot", TensorProto.FLOAT,
                                                 ["batch", "faces"])],
                  [helper.make_tensor_value_info("result", TensorProto.UINT8,
                                                 ["batch", height, width, 3])], inits)
