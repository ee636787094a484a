"""Discovery over real NVIDIA runtime files laid out the ways users have them."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from cudaswitch.toolkits import discover
from cudaswitch.versions import CudaVersion


def by_root(toolkits):
    return {t.root: t for t in toolkits}


def make_toolkit(base: Path, cudart: Path, soname: str, real_name: str | None = None,
                 version_json: dict | None = None, version_txt: str | None = None) -> Path:
    """A /usr/local/cuda-X.Y style folder around a real libcudart file."""
    (base / "lib64").mkdir(parents=True)
    (base / "include").mkdir()
    (base / "bin").mkdir()
    name = real_name or soname
    shutil.copy(cudart, base / "lib64" / name)
    if real_name:
        (base / "lib64" / soname).symlink_to(real_name)
    if version_json is not None:
        (base / "version.json").write_text(json.dumps(version_json))
    if version_txt is not None:
        (base / "version.txt").write_text(version_txt)
    return base


@pytest.fixture
def libs(runtime_targets):
    return {
        "11.8": runtime_targets["11.8"] / "nvidia/cuda_runtime/lib/libcudart.so.11.0",
        "12.4": runtime_targets["12.4"] / "nvidia/cuda_runtime/lib/libcudart.so.12",
        "13.0": runtime_targets["13.0"] / "nvidia/cu13/lib/libcudart.so.13",
    }


def test_pip_target_folders(runtime_targets, wheel_roots):
    found = [t for t in discover({"CUDASWITCH_PATH": str(wheel_roots)}) if t.layout == "pip-wheels"]
    versions = sorted(str(t.version) for t in found)
    assert versions == ["11.8.89", "12.4.127", "13.0.96"]
    for t in found:
        assert t.ok and t.components[0] == "cudart" and os.path.exists(t.cudart)
        assert t.version_source.startswith("dist-info")
    cu13 = next(t for t in found if t.version.major == 13)
    assert cu13.root.endswith("nvidia/cu13")


def test_version_sources_in_order(tmp_path, libs):
    root = tmp_path / "tk"
    make_toolkit(root / "cuda-12.4", libs["12.4"], "libcudart.so.12",
                 version_json={"cuda": {"name": "CUDA SDK", "version": "12.4.20240301"},
                               "cuda_nvcc": {"name": "nvcc", "version": "12.4.131"}},
                 version_txt="CUDA Version 12.3.0\n")
    make_toolkit(root / "cuda-10.2", libs["11.8"], "libcudart.so.11.0",
                 version_txt="CUDA Version 10.2.89\n")
    make_toolkit(root / "cuda-12.x", libs["12.4"], "libcudart.so.12",
                 real_name="libcudart.so.12.4.127")
    apt_tk = make_toolkit(root / "cuda-13.0-apt", libs["13.0"], "libcudart.so.13",
                          real_name="libcudart.so.13.0.96")
    header_tk = make_toolkit(root / "cuda-12.6-hdr", libs["12.4"], "libcudart.so.12")
    (header_tk / "include" / "cuda_runtime_api.h").write_text(
        "#ifndef __CUDA_RUNTIME_API_H__\n#define CUDART_VERSION 12060\n#endif\n")
    got = by_root(discover({"CUDASWITCH_PATH": str(root)}))
    j = got[str(root / "cuda-12.4")]
    assert (j.version, j.version_source) == (CudaVersion.parse("12.4.131"), "version.json")
    t = got[str(root / "cuda-10.2")]
    assert (t.version, t.version_source) == (CudaVersion.parse("10.2.89"), "version.txt")
    f = got[str(root / "cuda-12.x")]
    assert (f.version, f.version_source) == (CudaVersion.parse("12.4.127"), "libcudart file name")
    n = got[str(apt_tk)]
    assert (n.version, n.version_source) == (CudaVersion.parse("13.0.96"), "libcudart file name")
    h = got[str(header_tk)]
    assert (h.version, h.version_source) == (CudaVersion.parse("12.6"), "cuda_runtime_api.h")


def test_discovery_executes_nothing(tmp_path, libs):
    """A toolkit whose bin/nvcc is a script: listing it must not run it (it would cost every
    container start its run time, and it is code from wherever the toolkit came from)."""
    tk = make_toolkit(tmp_path / "tk" / "cuda-13.0", libs["13.0"], "libcudart.so.13")
    ran = tmp_path / "ran"
    nvcc = tk / "bin" / "nvcc"
    nvcc.write_text(f"#!/bin/sh\ntouch {ran}\necho 'Cuda compilation tools, release 13.0, "
                    "V13.0.88'\n")
    nvcc.chmod(0o755)
    out = subprocess.run([sys.executable, "-m", "cudaswitch.cli.main", "list", "--json",
                          "--search-path", str(tmp_path / "tk")],
                         env={**os.environ, "CUDASWITCH_CONFIG": os.devnull},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert not ran.exists()
    row = next(r for r in json.loads(out.stdout)["toolkits"] if r["root"] == str(tk))
    assert row["broken"] and "version" in row["broken"]


def _fifo(path):
    os.mkfifo(path)


def _huge(path):
    with open(path, "w") as f:
        f.write('{"cuda": {"version": "12.4.1"}, "pad": "' + "x" * (1 << 21) + '"}')


def _deep(path):
    path.write_text("[" * 100_000 + "]" * 100_000)


def _deep_small(path):
    path.write_text('{"cuda": ' + "[" * 5000 + "]" * 5000 + "}")


@pytest.mark.parametrize("make, why", [(_fifo, "FIFO"), (_huge, "bytes"),
                                       (_deep, "nested too deeply"),
                                       (_deep_small, "nested too deeply")],
                         ids=["fifo", "huge", "deep-100000", "deep-small"])
def test_hostile_version_json_is_broken_not_a_hang(tmp_path, libs, make, why):
    tk = make_toolkit(tmp_path / "tk" / "cuda-12.4", libs["12.4"], "libcudart.so.12",
                      real_name="libcudart.so.12.4.127")
    make(tk / "version.json")
    for cmd in (["-m", "cudaswitch.cli.main", "list", "--json", "--search-path",
                 str(tmp_path / "tk")],
                ["-m", "cudaswitch.entrypoint", "true"]):
        env = {**os.environ, "CUDASWITCH_CONFIG": os.devnull, "CUDASWITCH_NO_CACHE": "1",
               "CUDASWITCH_PATH": str(tmp_path / "tk"), "CUDASWITCH_CUDA": "12.4"}
        out = subprocess.run([sys.executable, *cmd], env=env, capture_output=True, text=True,
                             timeout=60)
        assert "Traceback" not in out.stderr
        if "list" in cmd:
            assert out.returncode == 0, out.stderr
            row = next(r for r in json.loads(out.stdout)["toolkits"] if r["root"] == str(tk))
            assert why in row["broken"] and "version.json" in row["broken"]
        else:
            assert out.returncode == 3 and "version.json" in out.stderr


def test_broken_toolkits_are_listed_not_fatal(tmp_path, libs):
    root = tmp_path / "tk"
    root.mkdir()
    (root / "cuda-11.2").symlink_to(tmp_path / "gone")
    (root / "cuda-12.0" / "lib64").mkdir(parents=True)
    (root / "cuda-12.0" / "version.json").write_text('{"cuda": {"version": "12.0.0"}}')
    (root / "cuda-12.1" / "lib64").mkdir(parents=True)
    (root / "cuda-12.1" / "version.json").write_text("{not json")
    shutil.copy(libs["12.4"], root / "cuda-12.1" / "lib64" / "libcudart.so.12")
    got = by_root(discover({"CUDASWITCH_PATH": str(root)}))
    assert "dangling symlink" in got[str(root / "cuda-11.2")].broken
    assert "no libcudart" in got[str(root / "cuda-12.0")].broken
    assert "version" in got[str(root / "cuda-12.1")].broken


def test_unreadable_toolkit(libs):
    """Listed as broken, never a crash. Root reads every folder, so as root the discovery runs
    in a child that drops to an unprivileged user first."""
    base = Path(tempfile.mkdtemp(prefix="cs-unreadable-", dir="/tmp"))
    try:
        base.chmod(0o755)
        tk = make_toolkit(base / "tk" / "cuda-12.4", libs["12.4"], "libcudart.so.12",
                          version_json={"cuda": {"version": "12.4.1"}})
        (base / "tk").chmod(0o755)
        tk.chmod(0)
        src = Path(__file__).resolve().parents[1] / "src"
        code = ("import json, os, sys\n"
                "if os.geteuid() == 0:\n"
                "    os.setgid(65534); os.setuid(65534)\n"
                f"sys.path.insert(0, {str(src)!r})\n"
                "from cudaswitch.toolkits import discover\n"
                f"print(json.dumps([t.as_dict() for t in discover({{}}, [{str(base / 'tk')!r}])]))")
        python = "/usr/bin/python3" if os.geteuid() == 0 and os.path.exists(
            "/usr/bin/python3") else sys.executable
        out = subprocess.run([python, "-I", "-c", code], capture_output=True, text=True, cwd="/")
        if out.returncode != 0 and ("Permission denied" in out.stderr
                                    or "ModuleNotFoundError" in out.stderr):
            pytest.skip("an unprivileged user cannot read this checkout or interpreter")
        assert out.returncode == 0, out.stderr
        found = {t["root"]: t for t in json.loads(out.stdout)}
        assert found[str(tk)]["broken"] == "not readable"
    finally:
        (base / "tk" / "cuda-12.4").chmod(0o755)
        shutil.rmtree(base, ignore_errors=True)


def test_cuda_home_and_alias_fold_into_one(tmp_path, libs):
    tk = make_toolkit(tmp_path / "cuda-12.4", libs["12.4"], "libcudart.so.12",
                      version_json={"cuda": {"version": "12.4.1"}})
    (tmp_path / "cuda").symlink_to(tk)
    found = discover({"CUDA_HOME": str(tmp_path / "cuda"), "CUDA_PATH": str(tk)})
    mine = [t for t in found if os.path.realpath(t.root) == str(tk)]
    assert len(mine) == 1
    assert mine[0].found_via == "CUDA_HOME"
    assert str(tk) in mine[0].aliases


def test_conda_prefix(tmp_path, libs):
    prefix = tmp_path / "env"
    (prefix / "conda-meta").mkdir(parents=True)
    (prefix / "conda-meta" / "cuda-cudart-12.4.127-0.json").write_text("{}")
    (prefix / "lib").mkdir()
    (prefix / "bin").mkdir()
    shutil.copy(libs["12.4"], prefix / "lib" / "libcudart.so.12")
    t = next(t for t in discover({"CONDA_PREFIX": str(prefix)}) if t.layout == "conda")
    assert t.version == CudaVersion.parse("12.4.127") and t.version_source == "conda-meta"
    assert t.bin_dirs == ()  # a conda env's bin/ is its python, not the toolkit's


def test_debian_layout(tmp_path, libs):
    (tmp_path / "usr/lib/nvidia-cuda-toolkit/bin").mkdir(parents=True)
    multiarch = tmp_path / "usr/lib/x86_64-linux-gnu"
    multiarch.mkdir(parents=True)
    shutil.copy(libs["11.8"], multiarch / "libcudart.so.11.8.89")
    (multiarch / "libcudart.so.11.0").symlink_to("libcudart.so.11.8.89")
    t = next(t for t in discover({"CUDASWITCH_SYSTEM_PREFIX": str(tmp_path)})
             if t.layout == "debian")
    assert t.version == CudaVersion.parse("11.8.89") and t.ok
    assert t.extra["system_libs"] is True


@pytest.mark.skipif(not os.path.isdir("/usr/local/cuda-13.0"), reason="machine toolkit absent")
def test_this_machines_toolkit_and_its_alias():
    t = next(t for t in discover({}) if t.root == "/usr/local/cuda-13.0")
    assert t.version.major_minor == "13.0" and t.ok
    if os.path.islink("/usr/local/cuda"):
        assert "/usr/local/cuda" in t.aliases


def test_search_path_root_can_be_a_single_wheel_folder(runtime_targets):
    found = discover({}, search_paths=[str(runtime_targets["12.4"])])
    assert found[0].version == CudaVersion.parse("12.4.127")
    assert found[0].found_via == "--search-path"
