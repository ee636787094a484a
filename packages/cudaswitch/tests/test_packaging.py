"""Installing cudaswitch the way the README says: ``uv build`` (sdist and wheel), then
``uv tool install`` / ``pipx install`` from the checkout and from the wheel, ``pip install`` of
the wheel into a fresh venv, and the install step ``matrix --emit`` writes, executed.

Every install goes into folders of its own under the test's temporary folder (tool dirs, bin
dirs, pipx home), never the user's. Dependencies come from uv's cache where it has them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest
import yaml

from cs_helpers import clean_env, cudaswitch_cmd
from cudaswitch import __version__

PKG = Path(__file__).resolve().parents[1]
WHEEL_NAME = f"cudaswitch-{__version__}-py3-none-any.whl"
UV = shutil.which("uv")
needs_uv = pytest.mark.skipif(UV is None, reason="uv is not on PATH")


def run(argv: list[str], **kw) -> subprocess.CompletedProcess[str]:
    kw.setdefault("env", clean_env())
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, **kw)
    assert proc.returncode == 0, f"{argv}: {proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    if UV is None:
        pytest.skip("uv is not on PATH")
    out = tmp_path_factory.mktemp("dist")
    run([UV, "build", "--sdist", "--wheel", "--out-dir", str(out), str(PKG)])
    return out


def check_installed(bindir: Path) -> None:
    exe = bindir / "cudaswitch"
    assert run([str(exe), "--version"]).stdout.strip() == f"cudaswitch {__version__}"
    assert "usage: cudaswitch" in run([str(exe), "list", "--help"]).stdout


def test_uv_build_makes_a_complete_wheel_and_sdist(dist: Path):
    wheel = dist / WHEEL_NAME
    sdist = dist / f"cudaswitch-{__version__}.tar.gz"
    assert wheel.is_file() and sdist.is_file()
    names = set(zipfile.ZipFile(wheel).namelist())
    for member in ("cudaswitch/__main__.py", "cudaswitch/compat/nvidia.json",
                   "cudaswitch/entrypoint.py", "cudaswitch/cli/main.py"):
        assert member in names
    entry = zipfile.ZipFile(wheel).read(
        f"cudaswitch-{__version__}.dist-info/entry_points.txt").decode()
    assert "cudaswitch = cudaswitch.cli.main:main" in entry
    with tarfile.open(sdist) as tar:
        members = {m.split("/", 1)[1] for m in tar.getnames() if "/" in m}
    assert {"pyproject.toml", "src/cudaswitch/__main__.py",
            "src/cudaswitch/compat/nvidia.json"} <= members


@needs_uv
@pytest.mark.parametrize("source", ["checkout", "wheel"])
def test_uv_tool_install(source: str, dist: Path, tmp_path: Path):
    env = clean_env(UV_TOOL_DIR=str(tmp_path / "tools"), UV_TOOL_BIN_DIR=str(tmp_path / "bin"))
    what = str(PKG) if source == "checkout" else str(dist / WHEEL_NAME)
    run([UV, "tool", "install", "--python", sys.executable, what], env=env)
    check_installed(tmp_path / "bin")


@pytest.mark.parametrize("source", ["checkout", "wheel"])
def test_pipx_install(source: str, dist: Path, tmp_path: Path):
    env = clean_env(PIPX_HOME=str(tmp_path / "pipx"), PIPX_BIN_DIR=str(tmp_path / "bin"),
                    PIPX_MAN_DIR=str(tmp_path / "man"))
    what = str(PKG) if source == "checkout" else str(dist / WHEEL_NAME)
    run([sys.executable, "-m", "pipx", "install", "--python", sys.executable, what], env=env)
    check_installed(tmp_path / "bin")


def fresh_venv(where: Path) -> Path:
    """A venv with pip and nothing else, as a CI runner's Python has."""
    venv.EnvBuilder(with_pip=True, clear=True).create(where)
    return where / "bin"


def test_pip_install_of_the_wheel_and_python_m(dist: Path, tmp_path: Path):
    bindir = fresh_venv(tmp_path / "v")
    run([str(bindir / "python"), "-m", "pip", "install", "--quiet",
         str(dist / WHEEL_NAME)])
    check_installed(bindir)
    out = run([str(bindir / "python"), "-m", "cudaswitch", "--version"]).stdout
    assert out.strip() == f"cudaswitch {__version__}"


@pytest.mark.parametrize("flavour", ["github", "gitlab"])
def test_the_emitted_install_step_runs(flavour: str, dist: Path, tmp_path: Path):
    """The step is taken from the emitted YAML and run by sh in a checkout-like folder that
    holds the wheel where --install-from says, with a fresh venv's python first on PATH."""
    repo = tmp_path / "repo"
    (repo / "tools").mkdir(parents=True)
    shutil.copy(dist / WHEEL_NAME, repo / "tools" / WHEEL_NAME)
    manifest = repo / "cudaswitch.toml"
    manifest.write_text('[[slot]]\nname = "cuda12"\ncuda = "12.4"\n')
    emitted = run(cudaswitch_cmd("matrix", "--emit", flavour, "--install-from",
                                 f"tools/{WHEEL_NAME}", "--", "true"),
                  env=clean_env(CUDASWITCH_CONFIG=str(manifest),
                                CUDASWITCH_HOME=str(tmp_path / "h")), cwd=repo).stdout
    doc = yaml.safe_load(emitted)
    if flavour == "github":
        steps = doc["jobs"]["cuda"]["steps"]
        step = next(s["run"] for s in steps if s.get("name") == "Install cudaswitch")
    else:
        step = doc["cuda-matrix"]["script"][0]
    bindir = fresh_venv(tmp_path / "ci-python")
    env = clean_env(PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}")
    run(["sh", "-c", step], env=env, cwd=repo)
    check_installed(bindir)


README = PKG.parents[1] / "README.md"


def test_the_readme_shows_the_installs_these_tests_run():
    """The README's install lines are the ones run above (the checkout, the built wheel with
    this version's name, uv tool and pipx), so that the documented way is the tested way."""
    section = README.read_text().split("## Install\n", 1)[1].split("\n## ", 1)[0]
    lines = [line.split("  #")[0].strip() for line in section.splitlines()]
    for want in ("uv tool install ./packages/cudaswitch", "pipx install ./packages/cudaswitch",
                 "uv build packages/cudaswitch --out-dir dist",
                 f"uv tool install dist/{WHEEL_NAME}", f"pipx install dist/{WHEEL_NAME}",
                 "python -m cudaswitch --version"):
        assert want in lines, f"README's install section lacks: {want}"
