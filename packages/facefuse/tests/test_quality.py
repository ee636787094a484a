"""`facefuse benchmark --quality`: ArcFace similarity of each swapped face to the source and
to the target, on the real photos (source Grace Hopper, target the astronaut)."""

from __future__ import annotations

import json

from facefuse.cli import main


def test_quality_figures_show_identity_moving_to_the_source(capsys) -> None:
    code = main(["benchmark", "--resolution", "360p", "--frames", "3", "--quality", "--json",
                 "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0, out
    quality = json.loads(out)["quality"]
    assert quality["recognizer"] == "w600k_mbf"
    assert quality["faces"] == len(quality["per_face"]) >= 3
    before = quality["source_to_target_before"]["mean"]
    assert before < 0.2, "source and target are different people"
    assert quality["to_source"]["mean"] > before + 0.2
    assert quality["to_target"]["mean"] < 0.9
    for face in quality["per_face"]:
        assert -1 <= face["to_source"] <= 1 and -1 <= face["to_target"] <= 1


def test_quality_with_the_target_person_as_source_is_near_one(astronaut_path, capsys) -> None:
    """The hostile case for the measure itself: swapping a person onto themselves must read
    as close to both."""
    code = main(["benchmark", "--resolution", "360p", "--frames", "3", "--quality", "--json",
                 "--no-progress", "-s", str(astronaut_path)])
    quality = json.loads(capsys.readouterr().out)["quality"]
    assert code == 0
    assert quality["source_to_target_before"]["mean"] > 0.6
    assert quality["to_source"]["mean"] > 0.6


def test_quality_with_a_faceless_source_is_exit_4(no_face_path, capsys) -> None:
    code = main(["benchmark", "--resolution", "360p", "--frames", "2", "--quality",
                 "--no-progress", "-s", str(no_face_path)])
    assert code == 4 and "no face found in source" in capsys.readouterr().err
