"""Outputs never replace an input, follow the umask, and bad numbers are refused up front."""

from __future__ import annotations

import os
import shutil
import stat

import pytest

from facefuse.cli import main


@pytest.fixture()
def photos(tmp_path, grace_path, astronaut_path):  # noqa: ANN001, ANN201
    source = tmp_path / "grace.jpg"
    target = tmp_path / "astronaut.png"
    shutil.copy(grace_path, source)
    shutil.copy(astronaut_path, target)
    return source, target


def _run(source, target, output, *extra: str) -> int:  # noqa: ANN001
    return main(["headless-run", "-s", str(source), "-t", str(target), "-o", str(output),
                 "--face-selector-mode", "many", *extra])


@pytest.mark.parametrize("which", ["target", "target via ..", "target via symlink", "source"])
def test_output_that_is_an_input_is_refused(which, photos, tmp_path, capsys):
    source, target = photos
    (tmp_path / "sub").mkdir()
    output = {
        "target": target,
        "target via ..": tmp_path / "sub" / ".." / target.name,
        "target via symlink": tmp_path / "link.png",
        "source": tmp_path / "sub" / ".." / source.name,
    }[which]
    if which == "target via symlink":
        output.symlink_to(target)
    before = {path: path.read_bytes() for path in (source, target)}
    code = _run(source, target, output)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert "is an input" in err and len(err.splitlines()) == 1, err
    assert {path: path.read_bytes() for path in (source, target)} == before


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_image_output_follows_the_umask(mask, mode, photos, tmp_path):
    source, target = photos
    output = tmp_path / "out.png"
    old = os.umask(mask)
    try:
        assert _run(source, target, output) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(output.stat().st_mode) == mode


@pytest.mark.parametrize(("flag", "value"), [("--execution-thread-count", "-1"),
                                              ("--execution-device-id", "-1"),
                                              ("--execution-device-id", "-7")])
def test_negative_thread_count_and_device_id_are_usage_errors(flag, value, photos, tmp_path,
                                                               capsys):
    source, target = photos
    output = tmp_path / "out.png"
    with pytest.raises(SystemExit) as exit_info:
        _run(source, target, output, flag, value)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert flag in err and "0 or more" in err, err
    assert not output.exists()
