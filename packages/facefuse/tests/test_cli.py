"""The command line on real photos: success, and each bad input with its exit code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from facefuse.cli import main
from facefuse.errors import EXIT_CODES


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial" in p.name)


def test_image_swap_writes_the_output(tmp_path, grace_path, astronaut_path, capsys):
    output = tmp_path / "out.png"
    code = main(["headless-run", "-s", str(grace_path), "-t", str(astronaut_path),
                 "-o", str(output)])
    assert code == 0, capsys.readouterr().err
    result = cv2.imread(str(output))
    target = cv2.imread(str(astronaut_path))
    assert result.shape == target.shape
    assert np.abs(result.astype(int) - target).max() > 50
    assert _leftovers(tmp_path) == []


def test_several_sources_and_one_face_mode(tmp_path, grace_path, astronaut_path, capsys):
    output = tmp_path / "out.jpg"
    code = main(["headless-run", "-s", str(grace_path), str(grace_path), "-t",
                 str(astronaut_path), "-o", str(output), "--face-selector-mode", "one"])
    assert code == 0, capsys.readouterr().err
    assert cv2.imread(str(output)).shape == (512, 512, 3)


def test_facefusion_provider_prefix_is_accepted(tmp_path, grace_path, astronaut_path):
    output = tmp_path / "out.png"
    assert main(["headless-run", "-s", str(grace_path), "-t", str(astronaut_path),
                 "-o", str(output), "--execution-provider", "cpu"]) == 0


def test_help_lists_the_exit_codes():
    result = subprocess.run([sys.executable, "-m", "facefuse", "headless-run", "--help"],
                            capture_output=True, text=True, check=True)
    for code, meaning in EXIT_CODES.items():
        assert f"{code:>3}  {meaning}" in result.stdout


def _truncated_jpeg(folder: Path, grace_path: Path) -> Path:
    data = grace_path.read_bytes()
    path = folder / "truncated.jpg"
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize(
    ("case", "code", "words"),
    [
        ("missing target", 3, "no such target"),
        ("truncated target", 3, "truncated"),
        ("text file as source", 3, "source must be an image"),
        ("source without face", 4, "no face found in source"),
        ("target without face", 4, "no face found in target"),
        ("output folder missing", 5, "does not exist"),
        ("unknown provider", 7, "unknown execution provider"),
    ],
)
def test_bad_input(case, code, words, tmp_path, grace_path, astronaut_path, no_face_path,
                   capsys):
    source, target, output = grace_path, astronaut_path, tmp_path / "out.png"
    extra: list[str] = []
    if case == "missing target":
        target = tmp_path / "nope.png"
    elif case == "truncated target":
        target = _truncated_jpeg(tmp_path, grace_path)
    elif case == "text file as source":
        source = tmp_path / "notes.txt"
        source.write_text("hello")
    elif case == "source without face":
        source = no_face_path
    elif case == "target without face":
        target = no_face_path
    elif case == "output folder missing":
        output = tmp_path / "missing" / "out.png"
    elif case == "unknown provider":
        extra = ["--execution-providers", "quantum"]
    result = main(["headless-run", "-s", str(source), "-t", str(target), "-o", str(output),
                   *extra])
    err = capsys.readouterr().err.strip()
    assert result == code, err
    assert len(err.splitlines()) == 1 and words in err, err
    assert not output.exists()
    if output.parent.exists():
        assert _leftovers(output.parent) == []


def test_keep_unmatched_copies_a_target_without_faces(tmp_path, grace_path, no_face_path):
    output = tmp_path / "out.png"
    assert main(["headless-run", "-s", str(grace_path), "-t", str(no_face_path), "-o",
                 str(output), "--keep-unmatched"]) == 0
    assert np.array_equal(cv2.imread(str(output)), cv2.imread(str(no_face_path)))


def test_failed_run_keeps_an_existing_output(tmp_path, grace_path, no_face_path):
    output = tmp_path / "out.png"
    output.write_bytes(b"previous")
    assert main(["headless-run", "-s", str(grace_path), "-t", str(no_face_path), "-o",
                 str(output)]) == 4
    assert output.read_bytes() == b"previous"
