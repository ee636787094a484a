"""The video path with frames kept on the execution device, run here on the CPU provider
with a narrow stand-in of inswapper_128 (its architecture and interface, random weights):
it must give the frames the host path gives, for every group size, and keep order."""

from __future__ import annotations

import subprocess

import cv2
import numpy as np
import pytest

from facefuse.benchmark import pan_zoom_frames
from facefuse.cli import main
from facefuse.standin import arcface_standin, inswapper_standin, is_standin, save_standin
from facefuse.video import ffmpeg_binary, read_frame


@pytest.fixture(scope="module")
def standin_dir(tmp_path_factory):  # noqa: ANN001, ANN201
    folder = tmp_path_factory.mktemp("standin-models")
    save_standin(inswapper_standin(width=1 / 32), folder, "inswapper_128")
    save_standin(arcface_standin(), folder, "arcface_w600k_r50")
    return folder


@pytest.fixture(scope="module")
def clip(tmp_path_factory, astronaut_path):  # noqa: ANN001, ANN201
    frames = pan_zoom_frames(cv2.imread(str(astronaut_path)), 320, 240, 7)
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    subprocess.run([ffmpeg_binary(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
                    "-s", "320x240", "-r", "10", "-i", "-", "-c:v", "libx264", "-crf", "0",
                    "-pix_fmt", "yuv444p", str(path)],
                   input=b"".join(f.tobytes() for f in frames), check=True)
    return path


def test_standin_is_inswapper_sized_and_labelled(standin_dir) -> None:
    model = inswapper_standin(width=1.0)
    params = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    assert 135e6 < params < 140e6  # the real file holds 554,253,681 bytes of float32
    assert model.graph.initializer[-1].name == "emap"
    assert "stand-in" in model.doc_string
    assert is_standin(standin_dir / "inswapper_128.onnx")


def _swap(clip, standin_dir, output, *extra: str) -> int:  # noqa: ANN001
    return main(["headless-run", "-s", str(clip.with_name("src.png")), "-t", str(clip), "-o",
                 str(output), "--face-swapper-model", "inswapper_128", "--models-dir",
                 str(standin_dir), "--skip-download", "--no-progress", "--face-selector-mode",
                 "many", "--output-video-quality", "100", *extra])


@pytest.mark.parametrize("batch", ["1", "3", "8"])
def test_device_path_gives_the_host_frames(batch, clip, standin_dir, grace_path, tmp_path,
                                           capsys) -> None:
    cv2.imwrite(str(clip.with_name("src.png")), cv2.imread(str(grace_path)))
    host, device = tmp_path / "host.mp4", tmp_path / "device.mp4"
    assert _swap(clip, standin_dir, host, "--frame-pipeline", "host") == 0
    assert _swap(clip, standin_dir, device, "--frame-pipeline", "device",
                 "--frame-batch-size", batch) == 0, capsys.readouterr().err
    assert "7 frames (7 with faces)" in capsys.readouterr().out
    for index in (0, 3, 6):
        original = read_frame(clip, index).astype(int)
        a, b = read_frame(host, index).astype(int), read_frame(device, index).astype(int)
        changed = np.abs(a - original).max(axis=2) > 20
        assert changed.sum() > 300, "the host path changed nothing"
        assert np.abs(a - b)[changed].mean() < 6, index
        assert np.abs(a - b)[~changed].mean() < 1.0, index


def test_device_path_with_the_classical_swapper_is_exit_2(clip, tmp_path, capsys) -> None:
    code = main(["headless-run", "-s", str(clip.with_name("src.png")), "-t", str(clip), "-o",
                 str(tmp_path / "o.mp4"), "--frame-pipeline", "device", "--no-progress"])
    assert code == 2 and "--frame-pipeline device" in capsys.readouterr().err
