"""Shared fixtures: real NVIDIA runtime wheels from PyPI, downloaded once and kept.

The cache folder is ``$CUDASWITCH_TEST_CACHE`` (default ``~/.cache/cudaswitch-tests``); a second
run needs no network. Each wheel is unpacked the way ``pip install --target`` lays it out.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cs_helpers import PROBE, SONAMES, clean_env, cudaswitch_cmd  # noqa: F401

CACHE = Path(os.environ.get("CUDASWITCH_TEST_CACHE",
                            Path.home() / ".cache" / "cudaswitch-tests"))

RUNTIME_WHEELS = {
    "11.8": "nvidia-cuda-runtime-cu11==11.8.89",
    "12.4": "nvidia-cuda-runtime-cu12==12.4.127",
    "13.0": "nvidia-cuda-runtime==13.0.96",
}


def fetch_wheel(requirement: str) -> Path:
    """The wheel file for ``name==version``, from the cache or PyPI."""
    name, _, version = requirement.partition("==")
    stem = name.replace("-", "_")
    wheels = CACHE / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    found = sorted(wheels.glob(f"{stem}-{version}-*.whl"))
    if not found:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
             "--disable-pip-version-check", "-q", "-d", str(wheels), requirement],
            check=True,
        )
        found = sorted(wheels.glob(f"{stem}-{version}-*.whl"))
    assert found, f"pip did not produce a wheel for {requirement}"
    return found[0]


def unpack_wheel(requirement: str, dest: Path) -> Path:
    """``pip install --no-deps --target dest`` of the cached wheel; reused when already there."""
    marker = dest / ".complete"
    if not marker.exists():
        if dest.exists():
            shutil.rmtree(dest)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
             "--disable-pip-version-check", "--no-compile", "--target", str(dest),
             str(fetch_wheel(requirement))],
            check=True,
        )
        marker.write_text(requirement)
    return dest


@pytest.fixture(scope="session")
def runtime_targets() -> dict[str, Path]:
    """Three real CUDA runtimes (11.8, 12.4, 13.0), each in its own ``--target`` folder."""
    out = {}
    for key, req in RUNTIME_WHEELS.items():
        out[key] = unpack_wheel(req, CACHE / "targets" / req.replace("==", "-"))
    return out


@pytest.fixture(scope="session")
def wheel_roots(runtime_targets: dict[str, Path], tmp_path_factory) -> Path:
    """One folder holding the three ``--target`` folders: a CUDASWITCH_PATH root."""
    root = tmp_path_factory.mktemp("wheelroots")
    for key, target in runtime_targets.items():
        (root / f"cuda-{key}").symlink_to(target)
    return root


# --- slots and installs (test_slots*, test_install*, test_cli_slots) -------------------------

SLOT_WHEELHOUSE = CACHE / "slot-wheelhouse"
SLOT_CACHE = CACHE / "slot-cache"


def slot_cli(*args: str, env: dict[str, str], check: bool = True,
             timeout: float = 600) -> subprocess.CompletedProcess:
    """The real ``cudaswitch`` command in a child process, with ``env``."""
    proc = subprocess.run([sys.executable, "-m", "cudaswitch.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"cudaswitch {' '.join(args)} -> {proc.returncode}\n"
                             f"{proc.stdout}\n{proc.stderr}")
    return proc


def slot_env(home: Path, **extra: str) -> dict[str, str]:
    """A child environment with its own data home, the shared wheel cache, no manifest."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CUDASWITCH_", "NVIDIA_REQUIRE")) and k not in (
               "CUDA_VERSION", "CUDA_HOME", "CUDA_PATH", "LD_LIBRARY_PATH", "VIRTUAL_ENV")}
    env.update(CUDASWITCH_HOME=str(home), CUDASWITCH_CACHE=str(SLOT_CACHE),
               CUDASWITCH_CONFIG=os.devnull)
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def slot_wheelhouse(tmp_path_factory) -> Path:
    """Wheels for a CUDA 11.8 and a 12.4 slot with cudart and nvrtc, fetched once from PyPI
    by ``cudaswitch download`` (resolution through the index) and kept across runs."""
    marker = SLOT_WHEELHOUSE / ".complete-v1"
    if not marker.exists():
        home = tmp_path_factory.mktemp("download-home")
        for version in ("11.8", "12.4"):
            slot_cli("download", version, "--with", "cudart,nvrtc", "--wheelhouse",
                     str(SLOT_WHEELHOUSE), env=slot_env(home))
        marker.write_text("11.8 12.4 cudart,nvrtc\n")
    return SLOT_WHEELHOUSE


@pytest.fixture(scope="session")
def runtime_slots(slot_wheelhouse: Path, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A data home with slots ``cuda11.8`` and ``cuda12.4`` (cudart + nvrtc) installed."""
    home = tmp_path_factory.mktemp("slots-home")
    env = slot_env(home)
    for version in ("11.8", "12.4"):
        slot_cli("install", version, "--with", "cudart,nvrtc", "--wheelhouse",
                 str(slot_wheelhouse), env=env)
    return home, env
