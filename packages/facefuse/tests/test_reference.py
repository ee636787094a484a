"""Reference mode with the real ArcFace model w600k_mbf, on real photos of three people:
Grace Hopper (matplotlib's sample data), the astronaut Eileen Collins and the cameraman
(scikit-image's data). Side by side in one picture, then in another arrangement, mirrored and
rescaled, so that position alone cannot give the right answer."""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest

from facefuse.cli import main
from facefuse.detect import select_faces
from facefuse.download import crc32_hex
from facefuse.pipeline import Settings, build_engine, identity_recognizer_name
from facefuse.selector import cosine_similarity, face_distance


def _tile(images: list[np.ndarray], height: int = 512) -> np.ndarray:
    scaled = [cv2.resize(image, (round(image.shape[1] * height / image.shape[0]), height))
              for image in images]
    return np.ascontiguousarray(np.hstack(scaled))


@pytest.fixture(scope="module")
def people(grace_path, astronaut_path) -> dict[str, np.ndarray]:
    camera = Path(astronaut_path).with_name("camera.png")
    return {"grace": cv2.imread(str(grace_path)), "astronaut": cv2.imread(str(astronaut_path)),
            "camera": cv2.imread(str(camera))}


@pytest.fixture(scope="module")
def identity_engine(tmp_path_factory):  # noqa: ANN001, ANN201
    folder = tmp_path_factory.mktemp("identity-models")
    return build_engine(Settings(face_selector_mode="reference", models_dir=folder,
                                 download=False))


def _embed(engine, image: np.ndarray) -> np.ndarray:  # noqa: ANN001
    face = select_faces(engine.detector(image), "one")[0]
    return engine.identity(image, face.landmarks)


def test_w600k_mbf_tells_the_three_people_apart(identity_engine, people) -> None:
    assert identity_engine.identity.name == "w600k_mbf"
    same = {name: (_embed(identity_engine, image),
                   _embed(identity_engine, cv2.resize(image[:, ::-1], None, fx=0.7, fy=0.7)))
            for name, image in people.items()}
    for name, (a, b) in same.items():
        assert cosine_similarity(a, b) > 0.6, name
        for other, (c, _) in same.items():
            if other != name:
                assert cosine_similarity(a, c) < 0.3, (name, other)
                assert face_distance(a, c) > 0.3 > face_distance(a, b)


def _changed_columns(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    diff = np.abs(after.astype(int) - before.astype(int)).max(axis=2)
    return (diff > 12).sum(axis=0)


def _halves_changed(before: np.ndarray, after: np.ndarray, widths: list[int]) -> list[bool]:
    columns = _changed_columns(before, after)
    edges = np.cumsum([0, *widths])
    return [int(columns[a:b].sum()) > 500 for a, b in itertools.pairwise(edges)]


@pytest.mark.parametrize(("position", "expected"), [(0, [True, False, False]),
                                                     (1, [False, True, False]),
                                                     (2, [False, False, True])])
def test_reference_position_swaps_only_that_person(position, expected, people, tmp_path,
                                                   grace_path, capsys) -> None:
    target = _tile([people["camera"], people["astronaut"], people["grace"]])
    widths = [512, 512, round(512 * 512 / 600)]
    target_path = tmp_path / "three.png"
    cv2.imwrite(str(target_path), target)
    source = tmp_path / "source.png"  # a fourth face: Grace mirrored, as the source person
    cv2.imwrite(str(source), people["grace"][:, ::-1])
    output = tmp_path / "out.png"
    code = main(["headless-run", "-s", str(source), "-t", str(target_path), "-o", str(output),
                 "--face-selector-order", "left-right", "--reference-face-position",
                 str(position)])
    assert code == 0, capsys.readouterr().err
    assert _halves_changed(target, cv2.imread(str(output)), widths) == expected


def test_reference_follows_the_person_when_the_order_changes(people, tmp_path, grace_path,
                                                             capsys) -> None:
    """Frame 0 holds the astronaut on the left; the next frames show the people in another
    order, mirrored and smaller: only the astronaut's face changes in every frame."""
    first = _tile([people["astronaut"], people["grace"]])
    later = _tile([cv2.resize(people["grace"][:, ::-1], (512, 600)),
                   cv2.resize(people["camera"], (512, 512)),
                   people["astronaut"][:, ::-1]])
    height = 512
    frames = [first] * 3 + [later] * 3
    width = max(frame.shape[1] for frame in frames)
    width += width % 2
    padded = [cv2.copyMakeBorder(frame, 0, 0, 0, width - frame.shape[1], cv2.BORDER_CONSTANT)
              for frame in frames]
    from facefuse.video import ffmpeg_binary

    clip = tmp_path / "clip.mp4"
    import subprocess

    subprocess.run([ffmpeg_binary(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
                    "-s", f"{width}x{height}", "-r", "5", "-i", "-", "-c:v", "libx264", "-crf",
                    "0", "-pix_fmt", "yuv420p", str(clip)],
                   input=b"".join(frame.tobytes() for frame in padded), check=True)
    output = tmp_path / "out.mp4"
    code = main(["headless-run", "-s", str(grace_path), "-t", str(clip), "-o", str(output),
                 "--face-selector-order", "left-right", "--reference-face-position", "0",
                 "--reference-frame-number", "0", "--no-progress", "--output-video-quality", "100"])
    assert code == 0, capsys.readouterr().err
    from facefuse.video import read_frame

    first_out, later_out = read_frame(output, 1), read_frame(output, 4)
    first_in, later_in = read_frame(clip, 1), read_frame(clip, 4)
    grace_width = round(512 * 512 / 600)
    assert _halves_changed(first_in, first_out, [512, width - 512]) == [True, False]
    assert _halves_changed(later_in, later_out, [grace_width, 512, width - grace_width - 512]
                           ) == [False, False, True]


def test_a_position_beyond_the_faces_is_exit_4(people, tmp_path, grace_path, capsys) -> None:
    target = tmp_path / "two.png"
    cv2.imwrite(str(target), _tile([people["astronaut"], people["camera"]]))
    code = main(["headless-run", "-s", str(grace_path), "-t", str(target), "-o",
                 str(tmp_path / "out.png"), "--reference-face-position", "2"])
    err = capsys.readouterr().err
    assert code == 4 and "--reference-face-position 2" in err and "2 face(s)" in err, err


def test_facefusion_recognizer_is_preferred_when_present(tmp_path) -> None:
    assert identity_recognizer_name(tmp_path) == "w600k_mbf"
    model = tmp_path / "arcface_w600k_r50.onnx"
    model.write_bytes(b"stand-in bytes")
    assert identity_recognizer_name(tmp_path) == "w600k_mbf", "no .hash: not trusted"
    (tmp_path / "arcface_w600k_r50.hash").write_text(crc32_hex(model))
    assert identity_recognizer_name(tmp_path) == "arcface_w600k_r50"
