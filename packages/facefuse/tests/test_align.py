from __future__ import annotations

import numpy as np

from facefuse.align import paste_back, similarity_matrix, template_points, warp_face


def test_similarity_matrix_recovers_a_known_transform() -> None:
    points = template_points("arcface_128", 128)
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -5.0])
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = points @ rotation.T + shift
    matrix = similarity_matrix(points, moved)
    assert np.allclose(matrix[:, :2], rotation, atol=1e-9)
    assert np.allclose(matrix[:, 2], shift, atol=1e-9)


def test_warp_puts_landmarks_on_the_template() -> None:
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)
    landmarks = template_points("arcface_128", 100) * 1.3 + (120, 60)
    _, matrix = warp_face(frame, landmarks.astype(np.float32), "arcface_128", 128)
    mapped = landmarks @ matrix[:, :2].T + matrix[:, 2]
    assert np.abs(mapped - template_points("arcface_128", 128)).max() < 1e-4


def test_paste_back_changes_only_under_the_mask() -> None:
    frame = np.full((200, 200, 3), 50, np.uint8)
    matrix = np.array([[1.0, 0, -40], [0, 1.0, -40]])  # crop starts at (40, 40)
    crop = np.full((64, 64, 3), 200, np.uint8)
    mask = np.zeros((64, 64), np.float32)
    mask[16:48, 16:48] = 1
    out = paste_back(frame, crop, mask, matrix)
    assert (out[60:84, 60:84] == 200).all()
    untouched = np.ones((200, 200), bool)
    untouched[40:104, 40:104] = False
    assert (out[untouched] == 50).all()
