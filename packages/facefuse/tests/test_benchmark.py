"""`facefuse benchmark` where scikit-image, whose astronaut photo is its default source and
target, is not installed: the message names the package, before any model loads."""

from __future__ import annotations

import sys

from facefuse.cli import main


def test_without_scikit_image_the_default_photo_names_the_package(monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "skimage", None)  # what find_spec reports when absent
    code = main(["benchmark", "--resolution", "360p", "--frames", "2", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 3, err
    assert "scikit-image is not installed (pip install scikit-image)" in err
    assert "--source-paths" in err
