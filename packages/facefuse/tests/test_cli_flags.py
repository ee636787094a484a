"""FaceFusion's command line as its users type it: accepted where facefuse has the feature,
exit 2 naming the flag where it has not."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata

import cv2
import numpy as np
import pytest

from facefuse.cli import main


def _run(source, target, output, *extra: str) -> int:  # noqa: ANN001
    return main(["headless-run", "-s", str(source), "-t", str(target), "-o", str(output),
                 *extra])


@pytest.mark.parametrize(("extra", "words"), [
    (["--processors", "face_swapper", "face_enhancer"], "--processors face_enhancer"),
    (["--processors", "lip_syncer"], "facefuse has no such processor"),
    (["--face-enhancer-model", "gfpgan_1.4"], "--face-enhancer-model: a FaceFusion option"),
    (["--face-mask-types", "box", "occlusion"], "--face-mask-types: a FaceFusion option"),
    (["--face-swapper-pixel-boost=256x256"], "--face-swapper-pixel-boost: a FaceFusion option"),
    (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
])
def test_missing_features_are_exit_2_naming_the_flag(extra, words, tmp_path, grace_path,
                                                     astronaut_path, capsys) -> None:
    output = tmp_path / "out.png"
    code = _run(grace_path, astronaut_path, output, *extra)
    err = capsys.readouterr().err.strip()
    assert code == 2 and words in err and len(err.splitlines()) == 1, err
    assert not output.exists()


def test_unknown_processor_name_is_argparse_exit_2(tmp_path, grace_path, astronaut_path,
                                                   capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _run(grace_path, astronaut_path, tmp_path / "o.png", "--processors", "face_mixer")
    assert exit_info.value.code == 2
    assert "face_enhancer" in capsys.readouterr().err  # the choices are listed


def test_version() -> None:
    result = subprocess.run([sys.executable, "-m", "facefuse", "-v"], capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == f"facefuse {metadata.version('facefuse')}"


def test_output_folder_gets_the_target_name(tmp_path, grace_path, astronaut_path) -> None:
    folder = tmp_path / "results"
    folder.mkdir()
    assert _run(grace_path, astronaut_path, folder) == 0
    assert [p.name for p in folder.iterdir()] == ["astronaut-swapped.png"]
    assert cv2.imread(str(folder / "astronaut-swapped.png")).shape == (512, 512, 3)


def test_log_level_error_prints_nothing_on_success(tmp_path, grace_path, astronaut_path,
                                                   capsys) -> None:
    assert _run(grace_path, astronaut_path, tmp_path / "a.png", "--log-level", "error") == 0
    assert capsys.readouterr().out == ""
    assert _run(grace_path, astronaut_path, tmp_path / "b.png", "--log-level", "info") == 0
    assert "face(s) swapped" in capsys.readouterr().out


def test_output_image_quality_sets_the_jpeg_quality(tmp_path, grace_path,
                                                    astronaut_path) -> None:
    sizes = {}
    for quality in (10, 95):
        output = tmp_path / f"q{quality}.jpg"
        assert _run(grace_path, astronaut_path, output, "--output-image-quality",
                    str(quality)) == 0
        sizes[quality] = output.stat().st_size
    assert sizes[10] * 3 < sizes[95], sizes
    with pytest.raises(SystemExit):
        _run(grace_path, astronaut_path, tmp_path / "x.jpg", "--output-image-quality", "101")


@pytest.mark.parametrize(("order", "changed_left"), [("left-right", True),
                                                     ("right-left", False)])
def test_one_mode_follows_the_selector_order(order, changed_left, tmp_path, grace_path,
                                             astronaut_path) -> None:
    astronaut = cv2.imread(str(astronaut_path))
    camera = cv2.imread(str(astronaut_path.with_name("camera.png")))
    target = np.hstack([astronaut, camera])
    target_path = tmp_path / "two.png"
    cv2.imwrite(str(target_path), target)
    output = tmp_path / "out.png"
    assert _run(grace_path, target_path, output, "--face-selector-mode", "one",
                "--face-selector-order", order) == 0
    diff = np.abs(cv2.imread(str(output)).astype(int) - target.astype(int)).max(axis=2) > 12
    left, right = int(diff[:, :512].sum()), int(diff[:, 512:].sum())
    assert (left > 500, right > 500) == (changed_left, not changed_left), (left, right)


def test_models_list_json(tmp_path, capsys) -> None:
    assert main(["models", "list", "--json", "--models-dir", str(tmp_path)]) == 0
    listing = json.loads(capsys.readouterr().out)
    names = {row["name"]: row for row in listing["models"]}
    assert names["w600k_mbf"]["sha256"].startswith("9cc6e4a7")
    assert names["inswapper_128"]["installed"] is False
