"""The stubs that hide another toolkit's CUDA tools: one per shadowed name, executable in the
checkout and in the built wheel (a stub without its exec bit would let the search go on to the
other toolkit's copy), and each answering with the chosen toolkit's name and exit 127.

How a launch puts them on PATH is tested in test_exec.py with real runtimes.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import zipfile
from pathlib import Path

import pytest

from cudaswitch import __version__
from cudaswitch.plan import SHADOW_DIR, SHADOWED_TOOLS

PKG = Path(__file__).resolve().parents[1]


def test_every_shadowed_tool_has_an_executable_stub_and_nothing_else_is_there():
    names = {n for n in os.listdir(SHADOW_DIR) if not n.startswith((".", "__"))}
    assert names == set(SHADOWED_TOOLS)
    for name in names:
        mode = os.stat(os.path.join(SHADOW_DIR, name)).st_mode
        assert mode & stat.S_IXOTH and mode & stat.S_IXUSR, name


@pytest.mark.parametrize("name", SHADOWED_TOOLS)
def test_a_stub_names_the_chosen_toolkit_and_exits_127(name, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "CUDASWITCH_ACTIVE": "12.4.127@/opt/cuda-12.4",
           "CUDA_HOME": "/opt/cuda-12.4"}
    out = subprocess.run([os.path.join(SHADOW_DIR, name), "--version"], env=env,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 127
    assert f"{name} is not part of 12.4.127 (CUDA_HOME=/opt/cuda-12.4)" in out.stderr
    assert out.stdout == ""


@pytest.mark.skipif(shutil.which("uv") is None, reason="uv is not on PATH")
def test_the_built_wheel_keeps_the_stubs_exec_bit(tmp_path):
    subprocess.run(["uv", "build", "--wheel", "--out-dir", str(tmp_path), str(PKG)],
                   check=True, capture_output=True, timeout=600)
    wheel = zipfile.ZipFile(tmp_path / f"cudaswitch-{__version__}-py3-none-any.whl")
    modes = {i.filename.rsplit("/", 1)[1]: i.external_attr >> 16
             for i in wheel.infolist() if i.filename.startswith("cudaswitch/shadow/")}
    assert set(modes) == set(SHADOWED_TOOLS)
    assert all(m & 0o111 == 0o111 for m in modes.values()), {k: oct(m) for k, m in modes.items()}
