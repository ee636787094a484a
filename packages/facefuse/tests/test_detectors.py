"""The decoders of FaceFusion's detectors, with stand-in models made here.

Each stand-in has the output layout of the real file (`yoloface_8n`: one 1x20x8400 tensor;
`scrfd_2.5g` and `retinaface_10g`: nine tensors, scores, box distances and landmark offsets
for strides 8, 16 and 32, two anchors per cell) but constant contents: exactly one face,
written in the real models' conventions, independently of facefuse's decoder. The image
input is consumed (times zero), so the session takes a real image tensor. A decoder that
reads the layout wrongly finds the face elsewhere or not at all.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from facefuse.cli import main
from facefuse.detect import decode_anchor_model
from facefuse.download import crc32_hex
from facefuse.pipeline import Settings, build_engine

DETECTOR_SIZE = 640
FRAME_H, FRAME_W = 720, 960  # letterboxed at scale 2/3 into the 640x640 input (padded below)
SCALE = DETECTOR_SIZE / FRAME_W
SCORE = 0.9

# the face in detector-input pixels: box x1, y1, x2, y2 and left eye, right eye, nose tip,
# left and right mouth corners
BOX = np.array([200.0, 100.0, 340.0, 280.0])
POINTS = np.array([[240.0, 160.0], [300.0, 158.0], [270.0, 200.0], [246.0, 240.0],
                   [294.0, 242.0]])

# where each anchor-based stand-in puts the face: stride, cell row, cell column, anchor
ANCHOR_CELLS = {"scrfd": (16, 12, 17, 1), "retinaface": (32, 6, 8, 0)}
FILES = {"yolo_face": "yoloface_8n", "scrfd": "scrfd_2.5g", "retinaface": "retinaface_10g"}


def _constant_model(outputs: dict[str, np.ndarray], input_dims: list, name: str
                    ) -> onnx.ModelProto:
    """A graph whose outputs are the constant `outputs`, plus zero times the image's maximum,
    so the image input is consumed."""
    nodes = [
        helper.make_node("ReduceMax", ["input"], ["image_max"], keepdims=0),
        helper.make_node("Constant", [], ["zero"],
                         value=numpy_helper.from_array(np.array(0.0, np.float32))),
        helper.make_node("Mul", ["image_max", "zero"], ["nothing"]),
    ]
    graph_outputs = []
    for output_name, value in outputs.items():
        nodes.append(helper.make_node("Constant", [], [f"{output_name}_value"],
                                      value=numpy_helper.from_array(value.astype(np.float32))))
        nodes.append(helper.make_node("Add", [f"{output_name}_value", "nothing"],
                                      [output_name]))
        graph_outputs.append(helper.make_tensor_value_info(output_name, TensorProto.FLOAT,
                                                           list(value.shape)))
    graph = helper.make_graph(
        nodes, f"{name}_stand_in",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, input_dims)],
        graph_outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.producer_name = "facefuse-test-stand-in"
    model.doc_string = f"stand-in for {name}: the real output layout, one constant face"
    onnx.checker.check_model(model)
    return model


def yolo_face_outputs() -> dict[str, np.ndarray]:
    """(1, 20, 8400): per candidate cx, cy, w, h, score, then 5 x (x, y, visibility), all in
    input pixels; 8400 = 80^2 + 40^2 + 20^2 candidates, one column each."""
    table = np.zeros((1, 20, 8400), np.float32)
    column = 6543
    x1, y1, x2, y2 = BOX
    table[0, :4, column] = [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]
    table[0, 4, column] = SCORE
    table[0, 5:, column] = np.column_stack([POINTS, np.full(5, 0.99)]).ravel()
    return {"output0": table}


def anchor_outputs(stride: int, row: int, col: int, anchor: int) -> dict[str, np.ndarray]:
    """SCRFD's layout (retinaface_10g shares it): for stride s, rows ordered by cell row, then
    cell column, then anchor; the anchor centre is (column * s, row * s); boxes are distances
    left, top, right, bottom and landmarks offsets (dx, dy) x 5, all in units of s."""
    scores, boxes, landmarks = {}, {}, {}
    for s in (8, 16, 32):
        count = (DETECTOR_SIZE // s) ** 2 * 2
        scores[s] = np.zeros((count, 1), np.float32)
        boxes[s] = np.zeros((count, 4), np.float32)
        landmarks[s] = np.zeros((count, 10), np.float32)
    index = (row * (DETECTOR_SIZE // stride) + col) * 2 + anchor
    centre = np.array([col * stride, row * stride], np.float64)
    scores[stride][index] = SCORE
    boxes[stride][index] = np.concatenate([centre - BOX[:2], BOX[2:] - centre]) / stride
    landmarks[stride][index] = ((POINTS - centre) / stride).ravel()
    outputs = {}
    for kind, table in (("score", scores), ("bbox", boxes), ("kps", landmarks)):
        for s in (8, 16, 32):
            outputs[f"{kind}_{s}"] = table[s]
    return outputs


def detector_stand_in(folder: Path, model: str) -> Path:
    if model == "yolo_face":
        onnx_model = _constant_model(yolo_face_outputs(), [1, 3, 640, 640], FILES[model])
    else:
        onnx_model = _constant_model(anchor_outputs(*ANCHOR_CELLS[model]),
                                     [1, 3, "height", "width"], FILES[model])
    path = folder / f"{FILES[model]}.onnx"
    onnx.save(onnx_model, str(path))
    (folder / f"{FILES[model]}.hash").write_text(crc32_hex(path))
    return path


@pytest.fixture(scope="module")
def detectors_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("detectors")
    for model in FILES:
        detector_stand_in(folder, model)
    return folder


def _detect(folder: Path, model: str, score: float) -> list:
    engine = build_engine(Settings(face_detector_model=model, face_detector_score=score,
                                   models_dir=folder, download=False))
    frame = np.full((FRAME_H, FRAME_W, 3), 90, np.uint8)
    return engine.detector(frame)


@pytest.mark.parametrize("model", list(FILES))
def test_stand_in_decodes_to_the_encoded_face(detectors_dir, model: str) -> None:
    faces = _detect(detectors_dir, model, 0.5)
    assert len(faces) == 1, faces
    face = faces[0]
    assert face.score == pytest.approx(SCORE, abs=1e-6)
    assert np.abs(face.box - BOX / SCALE).max() < 1.5, face.box
    assert face.landmarks.shape == (5, 2)
    assert np.abs(face.landmarks - POINTS / SCALE).max() < 1.5, face.landmarks


@pytest.mark.parametrize("model", list(FILES))
def test_stand_in_face_is_dropped_below_the_score(detectors_dir, model: str) -> None:
    assert len(_detect(detectors_dir, model, SCORE - 0.05)) == 1
    assert _detect(detectors_dir, model, SCORE + 0.05) == []


@pytest.mark.parametrize("model", list(FILES))
def test_cli_detector_choice_and_score(tmp_path, detectors_dir, grace_path, model: str,
                                       capsys) -> None:
    arguments = ["headless-run", "-s", str(grace_path), "-t", str(grace_path), "-o",
                 str(tmp_path / "out.png"), "--face-detector-model", model, "--models-dir",
                 str(detectors_dir), "--skip-download"]
    assert main([*arguments, "--face-detector-score", "0.95"]) == 4
    assert "no face" in capsys.readouterr().err
    assert main([*arguments, "--face-detector-score", "0.85"]) == 0, capsys.readouterr().err
    assert (tmp_path / "out.png").is_file()


@pytest.mark.parametrize("cell", [(8, 22, 33, 0), (8, 22, 33, 1), (16, 12, 17, 0),
                                  (32, 6, 8, 1)])
def test_anchor_layout_at_every_stride(cell: tuple[int, int, int, int]) -> None:
    boxes, scores, points = decode_anchor_model(list(anchor_outputs(*cell).values()), 0.5,
                                                DETECTOR_SIZE, DETECTOR_SIZE)
    assert scores.tolist() == pytest.approx([SCORE])
    assert np.abs(boxes[0] - BOX).max() < 1e-3
    assert np.abs(points[0] - POINTS).max() < 1e-3
