"""Python environments with real CUDA-carrying distributions, for the pydists / pycheck tests.

Small NVIDIA wheels are installed for real (``pip install --no-deps --target``); the
dist-info folders of the large ones (torch, cuDNN, NCCL, JAX, CuPy, onnxruntime-gpu) are the
real files from those wheels, kept in ``data/dists`` (its README names each wheel).
"""

import shutil
import subprocess
import sys
import venv
from pathlib import Path

from conftest import fetch_wheel

DISTS = Path(__file__).resolve().parent / "data" / "dists"


def site_of(env_root: Path) -> Path:
    return env_root / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"


def make_venv(root: Path) -> Path:
    """A real venv without pip (fast); returns its site-packages."""
    venv.create(root, with_pip=False, symlinks=True)
    return site_of(root)


def install(site: Path, *requirements: str) -> None:
    """Real wheels into ``site``, as pip lays them out (dist-info and files)."""
    wheels = [str(fetch_wheel(r)) for r in requirements]
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                    "--disable-pip-version-check", "--no-compile", "--upgrade", "--target",
                    str(site), *wheels], check=True)


def add_dist_info(site: Path, *folders: str) -> None:
    """Real dist-info folders of large wheels, without their libraries."""
    site.mkdir(parents=True, exist_ok=True)
    for name in folders:
        shutil.copytree(DISTS / name, site / name)
