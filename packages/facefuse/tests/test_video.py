"""A short clip made from a real photo (pan, zoom, audio) through `headless-run`."""

from __future__ import annotations

import json
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import pytest

from facefuse.benchmark import make_clip
from facefuse.cli import main

FRAMES, FPS = 24, 12


def ffprobe(path: Path) -> dict:
    binary = shutil.which("ffprobe")
    if binary is None:
        pytest.skip("ffprobe not installed (Debian package ffmpeg)")
    result = subprocess.run(
        [binary, "-v", "error", "-count_frames", "-show_streams", "-show_format", "-of", "json",
         str(path)], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def clip(tmp_path_factory, grace_path) -> Path:
    folder = tmp_path_factory.mktemp("clip")
    return make_clip(grace_path, folder / "target.mp4", 320, 240, FRAMES, fps=FPS)


def _streams(info: dict, kind: str) -> list[dict]:
    return [s for s in info["streams"] if s["codec_type"] == kind]


def test_video_keeps_frames_rate_duration_and_audio(tmp_path, clip, astronaut_path, capsys):
    output = tmp_path / "swapped.mp4"
    code = main(["headless-run", "-s", str(astronaut_path), "-t", str(clip), "-o", str(output),
                 "--no-progress"])
    assert code == 0, capsys.readouterr().err
    assert f"{FRAMES} frames ({FRAMES} with faces)" in capsys.readouterr().out
    source, result = ffprobe(clip), ffprobe(output)
    (video_in,), (video_out,) = _streams(source, "video"), _streams(result, "video")
    assert int(video_out["nb_read_frames"]) == int(video_in["nb_read_frames"]) == FRAMES
    assert Fraction(video_out["r_frame_rate"]) == Fraction(video_in["r_frame_rate"]) == FPS
    assert (video_out["width"], video_out["height"]) == (320, 240)
    assert abs(float(video_out["duration"]) - FRAMES / FPS) < 0.1
    assert len(_streams(result, "audio")) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["swapped.mp4"]


def test_truncated_video_fails_cleanly(tmp_path, clip, astronaut_path, capsys):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(clip.read_bytes()[:2000])
    output = tmp_path / "out.mp4"
    code = main(["headless-run", "-s", str(astronaut_path), "-t", str(broken), "-o",
                 str(output), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 3, err
    assert len(err.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.mp4"]


def test_video_without_faces_fails_unless_kept(tmp_path, no_face_path, grace_path, capsys):
    clip = make_clip(no_face_path, tmp_path / "cup.mp4", 160, 120, 6, fps=6, audio=False)
    output = tmp_path / "out.mp4"
    assert main(["headless-run", "-s", str(grace_path), "-t", str(clip), "-o", str(output),
                 "--no-progress"]) == 4
    assert not output.exists()
    assert main(["headless-run", "-s", str(grace_path), "-t", str(clip), "-o", str(output),
                 "--no-progress", "--keep-unmatched"]) == 0
    assert int(_streams(ffprobe(output), "video")[0]["nb_read_frames"]) == 6
    capsys.readouterr()


def test_ctrl_c_removes_the_temporary_output(tmp_path, grace_path, astronaut_path):
    import signal
    import sys
    import time

    long_clip = make_clip(grace_path, tmp_path / "long.mp4", 320, 240, 300, fps=25)
    output = tmp_path / "out.mp4"
    process = subprocess.Popen(
        [sys.executable, "-m", "facefuse", "headless-run", "-s", str(astronaut_path), "-t",
         str(long_clip), "-o", str(output), "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not any(".partial" in p.name for p in tmp_path.iterdir()):
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.mp4"]


def test_progress_in_a_pipe_writes_no_carriage_return(tmp_path, clip, astronaut_path):
    """A log or a pipe gets lines, not a bar redrawn with carriage returns and escape codes.
    Read as bytes: text mode would turn each carriage return into a newline."""
    import os
    import sys

    output = tmp_path / "swapped.mp4"
    proc = subprocess.run(
        [sys.executable, "-m", "facefuse.cli", "headless-run", "-s", str(astronaut_path),
         "-t", str(clip), "-o", str(output)],
        capture_output=True, timeout=600, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    assert b"\r" not in proc.stderr and b"\x1b[" not in proc.stderr, proc.stderr[-400:]
    assert b"\r" not in proc.stdout and b"frames" in proc.stdout
