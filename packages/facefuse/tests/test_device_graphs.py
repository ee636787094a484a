"""The ONNX graphs that move pre- and post-processing next to the models, run here on the
CPU provider and compared with the OpenCV path they replace, on real photos."""

from __future__ import annotations

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from facefuse.align import paste_back, warp_face
from facefuse.detect import letterbox, select_faces
from facefuse.device_graphs import (
    crop_graph,
    crop_theta,
    detector_input_graph,
    paste_graph,
    paste_theta,
)
from facefuse.mask import box_mask


def _session(model):  # noqa: ANN001, ANN202
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def photo_and_face(astronaut_path, engine):  # noqa: ANN001, ANN201
    frame = cv2.imread(str(astronaut_path))
    face = select_faces(engine.detector(frame), "one")[0]
    return frame, face


def test_detector_input_matches_the_letterbox(astronaut_path) -> None:
    frame = cv2.resize(cv2.imread(str(astronaut_path)), (1280, 720))
    blob = _session(detector_input_graph(1280, 720, 640)).run(None, {"frames": frame[None]})[0]
    canvas, box = letterbox(frame, 640, 640)
    expected = canvas[:, :, ::-1].transpose(2, 0, 1).astype(np.float32)
    assert blob.shape == (1, 3, 640, 640) and box.scale == 0.5
    assert np.abs(blob[0, :, 360:, :]).max() == 0, "padding is not zero"
    assert np.abs(blob[0] - expected).mean() < 1.5


def test_crop_matches_warp_affine(photo_and_face) -> None:
    frame, face = photo_and_face
    crop, matrix = warp_face(frame, face.landmarks, "arcface_128", 128)
    expected = cv2.warpAffine(frame, matrix, (128, 128), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)[:, :, ::-1] / 255.0
    theta = crop_theta(matrix, frame.shape[1], frame.shape[0])[None]
    crops = _session(crop_graph(128, 1 / 255.0, 0.0)).run(
        None, {"frames": frame[None], "owner": np.array([0]), "theta": theta})[0]
    assert crops.shape == (1, 3, 128, 128)
    difference = np.abs(crops[0].transpose(1, 2, 0) - expected)
    assert difference.mean() < 1 / 255 and difference.max() < 8 / 255
    assert np.abs(crops[0].transpose(1, 2, 0) - crop[:, :, ::-1] / 255.0).mean() < 4 / 255


def test_paste_matches_paste_back(photo_and_face) -> None:
    frame, face = photo_and_face
    _, matrix = warp_face(frame, face.landmarks, "arcface_128", 128)
    rng = np.random.default_rng(0)
    swapped_rgb = rng.uniform(0, 1, (3, 128, 128)).astype(np.float32)
    mask = box_mask(128, 0.3)
    expected = paste_back(frame, swapped_rgb.transpose(1, 2, 0)[:, :, ::-1] * 255.0, mask,
                          matrix)
    graph = paste_graph(frame.shape[1], frame.shape[0], mask, 1.0, 0.0)
    result = _session(graph).run(None, {
        "frames": frame[None], "swapped": swapped_rgb[None],
        "theta": paste_theta(matrix, 128)[None], "owner_hot": np.ones((1, 1), np.float32)})[0]
    difference = np.abs(result[0].astype(int) - expected.astype(int))
    assert difference.mean() < 0.3 and np.percentile(difference, 99.9) <= 3
    assert (np.abs(result[0].astype(int) - frame.astype(int)).max(axis=2) > 3).sum() > 2000


def test_each_face_goes_to_its_own_frame_only(photo_and_face) -> None:
    frame, face = photo_and_face
    _, matrix = warp_face(frame, face.landmarks, "arcface_128", 128)
    frames = np.stack([frame, frame[:, ::-1].copy(), frame])
    white = np.ones((1, 3, 128, 128), np.float32)
    black = np.zeros((1, 3, 128, 128), np.float32)
    owner_hot = np.array([[1, 0], [0, 0], [0, 1]], np.float32)  # frame 1 has no face
    theta = np.stack([paste_theta(matrix, 128)] * 2)
    result = _session(paste_graph(frame.shape[1], frame.shape[0], box_mask(128, 0.3), 1.0,
                                  0.0)).run(None, {
        "frames": frames, "swapped": np.concatenate([white, black]), "theta": theta,
        "owner_hot": owner_hot})[0]
    centre = tuple(int(v) for v in face.landmarks[2])
    assert (result[0][centre[1], centre[0]] == 255).all()
    assert (result[2][centre[1], centre[0]] == 0).all()
    assert np.array_equal(result[1], frames[1])
