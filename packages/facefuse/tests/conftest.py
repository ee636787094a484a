"""Shared fixtures: real photos that PyPI packages ship, and one engine per session."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

from facefuse.pipeline import Settings, build_engine


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.submodule_search_locations, f"{name} is not installed"
    return Path(next(iter(spec.submodule_search_locations)))


@pytest.fixture(scope="session")
def grace_path() -> Path:
    return _package_dir("matplotlib") / "mpl-data" / "sample_data" / "grace_hopper.jpg"


@pytest.fixture(scope="session")
def astronaut_path() -> Path:
    return _package_dir("skimage") / "data" / "astronaut.png"


@pytest.fixture(scope="session")
def no_face_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real photo without a person: scikit-image's coffee cup."""
    path = _package_dir("skimage") / "data" / "coffee.png"
    assert path.is_file()
    return path


@pytest.fixture(scope="session")
def models_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One models folder for the whole run, so nothing lands in the working directory."""
    return tmp_path_factory.mktemp("models-home")


@pytest.fixture(autouse=True)
def _models_dir_variable(models_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACEFUSE_MODELS_DIR", str(models_home))


@pytest.fixture(scope="session")
def engine():  # noqa: ANN201
    return build_engine(Settings(face_selector_mode="many"))


def face_region(shape: tuple[int, ...], box: np.ndarray, grow: float) -> np.ndarray:
    """Boolean mask of the face box grown by `grow` of its size on every side."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    region = np.zeros(shape[:2], dtype=bool)
    top, bottom = int(max(y1 - grow * h, 0)), int(min(y2 + grow * h, shape[0]))
    left, right = int(max(x1 - grow * w, 0)), int(min(x2 + grow * w, shape[1]))
    region[top:bottom, left:right] = True
    return region


def structure_distance(a: np.ndarray, b: np.ndarray) -> float:
    """1 - normalised cross-correlation of two grey crops: 0 for the same face structure
    whatever the colour balance, near 1 for unrelated ones."""
    ga = cv2.cvtColor(a, cv2.COLOR_BGR2GRAY).astype(np.float64)
    gb = cv2.cvtColor(b, cv2.COLOR_BGR2GRAY).astype(np.float64)
    ga = (ga - ga.mean()) / (ga.std() + 1e-9)
    gb = (gb - gb.mean()) / (gb.std() + 1e-9)
    return float(1.0 - (ga * gb).mean())


@pytest.fixture(scope="session")
def measure():  # noqa: ANN201
    """The measuring helpers above, for test modules (importlib mode cannot import conftest)."""
    from types import SimpleNamespace

    return SimpleNamespace(face_region=face_region, structure_distance=structure_distance)
