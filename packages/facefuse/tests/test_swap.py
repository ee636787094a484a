from __future__ import annotations

import cv2
import numpy as np

from facefuse.align import warp_face
from facefuse.pipeline import prepare_source, swap_frame


def _swap(engine, source_path, target_path):  # noqa: ANN001, ANN202
    source = prepare_source(engine, [source_path])
    target = cv2.imread(str(target_path))
    out, count = swap_frame(engine, source, target)
    return source, target, out, count


def test_swap_changes_pixels_only_in_the_face_region(engine, grace_path, astronaut_path, measure):
    _, target, out, count = _swap(engine, grace_path, astronaut_path)
    assert count == 1
    assert out.shape == target.shape and out.dtype == np.uint8
    face = engine.detector(target)[0]
    changed = np.abs(out.astype(int) - target.astype(int)).max(axis=2) > 3
    inside = measure.face_region(target.shape, face.box, grow=0.15)
    assert changed[inside].mean() > 0.2, "the face barely changed"
    assert changed[~inside].sum() == 0, "pixels outside the face region changed"


def test_swapped_face_is_closer_to_the_source(engine, grace_path, astronaut_path, measure):
    for source_path, target_path in ((grace_path, astronaut_path), (astronaut_path, grace_path)):
        source, target, out, _ = _swap(engine, source_path, target_path)
        landmarks = engine.detector(target)[0].landmarks
        template, size = engine.swapper.template, engine.swapper.size
        before, _ = warp_face(target, landmarks, template, size)
        after, _ = warp_face(out, landmarks, template, size)
        inner = slice(int(size * 0.3), int(size * 0.75)), slice(int(size * 0.3), int(size * 0.7))
        d_before = measure.structure_distance(before[inner], source.crop[inner])
        d_after = measure.structure_distance(after[inner], source.crop[inner])
        assert d_after < 0.75 * d_before, (d_before, d_after)


def test_output_keeps_a_non_square_target_size(engine, grace_path, astronaut_path):
    source = prepare_source(engine, [grace_path])
    target = cv2.resize(cv2.imread(str(astronaut_path)), (700, 433))
    out, count = swap_frame(engine, source, target)
    assert count == 1 and out.shape == (433, 700, 3)
