"""Installing real slots from NVIDIA's PyPI wheels (cached across runs), in child processes.

Each slot must map only its own ``libcudart``/``libnvrtc``, and its NVRTC must compile a kernel
to PTX of the ISA its release emits (7.8 for 11.8, 8.x for 12.x); no GPU needed.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import slot_cli, slot_env

from cudaswitch.check import check
from cudaswitch.host import Host
from cudaswitch.install.sizes import on_disk, slot_sizes
from cudaswitch.plan import make_plan
from cudaswitch.slots import read_record, target_for_slot
from cudaswitch.toolkits import discover

SONAMES = {"11.8": ("libcudart.so.11.0", "libnvrtc.so.11.2"),
           "12.4": ("libcudart.so.12", "libnvrtc.so.12")}

NVRTC_PROBE = r"""
import ctypes, json, re, sys
cudart = ctypes.CDLL(sys.argv[1])
nvrtc = ctypes.CDLL(sys.argv[2])
src = b'extern "C" __global__ void axpy(float a, float *x, float *y) {' \
      b' int i = blockIdx.x * blockDim.x + threadIdx.x; y[i] = a * x[i] + y[i]; }'
prog = ctypes.c_void_p()
assert nvrtc.nvrtcCreateProgram(ctypes.byref(prog), src, b"axpy.cu", 0, None, None) == 0
rc = nvrtc.nvrtcCompileProgram(prog, 0, None)
size = ctypes.c_size_t()
nvrtc.nvrtcGetPTXSize(prog, ctypes.byref(size))
buf = ctypes.create_string_buffer(size.value)
nvrtc.nvrtcGetPTX(prog, buf)
ptx = buf.value.decode()
maps = sorted({line.split()[-1] for line in open("/proc/self/maps")
               if re.search(r"/lib(cudart|nvrtc)[^/]*\.so", line)})
print(json.dumps({"compile_rc": rc, "ptx_version": re.search(r"^\.version (\S+)", ptx,
                  re.M).group(1), "entry": ".entry axpy" in ptx, "maps": maps}))
"""


def run_probe(env: dict[str, str], version: str, tmp_path: Path, via_exec: bool) -> dict:
    script = tmp_path / "nvrtc_probe.py"
    script.write_text(NVRTC_PROBE)
    argv = [sys.executable, "-I", str(script), *SONAMES[version]]
    if via_exec:
        proc = slot_cli("exec", "--slot", f"cuda{version}", "--", *argv, env=env)
    else:
        target = target_for_slot(f"cuda{version}", env, discover(env), None)
        plan = make_plan(check(target, Host(None, None), env), discover(env), env, argv)
        proc = subprocess.run(argv, env=dict(plan.env), capture_output=True, text=True,
                              check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("via_exec", [True, False], ids=["cudaswitch-exec", "plan-env"])
@pytest.mark.parametrize(("version", "isa"), [("11.8", r"7\.8"), ("12.4", r"8\.\d+")])
def test_each_slot_maps_only_its_own_libraries_and_compiles_ptx(runtime_slots, tmp_path,
                                                                version, isa, via_exec):
    home, env = runtime_slots
    got = run_probe(env, version, tmp_path, via_exec)
    root = home / "toolkits" / f"cuda{version}"
    assert got["compile_rc"] == 0 and got["entry"]
    assert re.fullmatch(isa, got["ptx_version"]), got
    assert got["maps"], got
    for path in got["maps"]:  # nothing of the other slot, of /usr/local/cuda or of the system
        assert os.path.realpath(path).startswith(str(root) + "/"), got["maps"]
    names = {os.path.basename(p) for p in got["maps"]}
    assert set(SONAMES[version]) <= names


def test_discovery_finds_slots_like_toolkits(runtime_slots):
    home, env = runtime_slots
    found = {t.root: t for t in discover(env)}
    for version, cudart in (("11.8", "11.8.89"), ("12.4", "12.4.127")):
        tk = found[str(home / "toolkits" / f"cuda{version}")]
        assert tk.ok and str(tk.version) == cudart and tk.version_source == "version.json"
        assert {"cudart", "nvrtc"} <= set(tk.components)
        rec = read_record(tk.root)
        assert {w["name"] for w in rec["wheels"]} >= {"cuda-toolkit"}
        assert all(re.fullmatch(r"[0-9a-f]{64}", f["sha256"]) for f in rec["files"].values())
        assert os.path.islink(os.path.join(tk.root, "lib64"))
        assert os.path.islink(os.path.join(tk.root, "lib", "libcudart.so"))


def test_second_install_changes_nothing(runtime_slots, slot_wheelhouse):
    _home, env = runtime_slots
    proc = slot_cli("install", "12.4", "--with", "cudart,nvrtc", "--wheelhouse",
                    str(slot_wheelhouse), "--json", env=env)
    assert json.loads(proc.stdout)["status"] == "unchanged"


def test_offline_install_from_wheelhouse(slot_wheelhouse, tmp_path):
    """No index reachable: pip gets an unreachable URL, the proxy variables point nowhere."""
    dead = "http://127.0.0.1:9/"
    env = slot_env(tmp_path / "home", PIP_INDEX_URL=dead, PIP_CONFIG_FILE=os.devnull,
                   http_proxy=dead, https_proxy=dead, HTTP_PROXY=dead, HTTPS_PROXY=dead,
                   CUDASWITCH_CACHE=str(tmp_path / "empty-cache"))
    proc = slot_cli("install", "11.8", "--with", "cudart,nvrtc", "--wheelhouse",
                    str(slot_wheelhouse), "--index-url", dead, "--json", env=env)
    out = json.loads(proc.stdout)
    assert out["status"] == "installed" and out["release"] == "11.8.0"
    assert (tmp_path / "home" / "toolkits" / "cuda11.8" / "lib" / "libnvrtc.so.11.2").exists()


def test_killed_install_leaves_nothing_then_resumes(slot_wheelhouse, tmp_path):
    home = tmp_path / "home"
    env = slot_env(home)
    argv = [sys.executable, "-m", "cudaswitch.cli.main", "install", "12.4", "--with",
            "cudart,nvrtc", "--wheelhouse", str(slot_wheelhouse)]
    child = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             text=True)
    seen = []
    assert child.stderr is not None
    for line in child.stderr:
        seen.append(line)
        if "nvidia-cuda-nvrtc-cu12 (" in line:  # unpacking the big wheel has begun
            child.send_signal(signal.SIGKILL)
            break
    child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL, seen
    toolkits = home / "toolkits"
    assert [p.name for p in toolkits.iterdir() if p.name.startswith(".partial-")], \
        "the kill should have hit the build folder"
    assert not (toolkits / "cuda12.4").exists()
    assert not [t for t in discover(env) if t.root.startswith(str(home))]
    proc = slot_cli("install", "12.4", "--with", "cudart,nvrtc", "--wheelhouse",
                    str(slot_wheelhouse), env=env)
    assert "removed an interrupted install" in proc.stderr
    assert sorted(p.name for p in toolkits.iterdir()) == ["cuda12.4"]
    mine = [t for t in discover(env) if t.root.startswith(str(home))]
    assert len(mine) == 1 and mine[0].ok and str(mine[0].version) == "12.4.127"


def test_shared_store_sizes_and_uninstall(slot_wheelhouse, tmp_path):
    home = tmp_path / "home"
    env = slot_env(home)
    for name, comps in (("a", "cudart,nvrtc"), ("b", "cudart")):
        done = slot_cli("install", "12.4", "--with", comps, "--name", name, "--wheelhouse",
                        str(slot_wheelhouse), env=env)
    assert done.stdout.split()[:5] == ["SLOT", "STATUS", "CUDA", "FILES", "ROOT"]
    assert re.split(r"\s{2,}", done.stdout.splitlines()[1])[:3] == [
        "b", "installed", "12.4.127 (release 12.4.1)"]
    assert "b: installed CUDA 12.4.127 (release 12.4.1) at " in done.stderr
    sizes = {v["name"]: v for v in slot_sizes(env).values()}
    a, b = sizes["a"], sizes["b"]
    assert (a["version"], a["release"]) == ("12.4.127", "12.4.1")
    listed = slot_cli("slot", "list", env=env).stdout.splitlines()
    assert listed[0].split() == ["SLOT", "CUDA", "APPARENT", "UNIQUE", "ROOT"]
    shown = "12.4.127 (release 12.4.1)"
    assert [re.split(r"\s{2,}", ln)[:2] for ln in listed[1:]] == [["a", shown], ["b", shown]]
    assert a["apparent"] > 60e6 and b["apparent"] < 10e6
    assert b["unique"] < 100e3  # cudart is shared with a: b costs only its own records
    assert a["unique"] > 60e6  # nvrtc is a's alone
    assert on_disk(env) < a["apparent"] + b["apparent"] - b["apparent"] / 2
    link = tmp_path / "cuda"
    link.symlink_to(home / "toolkits" / "b")
    refused = slot_cli("uninstall", "b", "--link", str(link), env=env, check=False)
    assert refused.returncode == 1 and "--force" in refused.stderr
    (home / "toolkits" / "a" / "notes.txt").write_text("mine")
    out = json.loads(slot_cli("uninstall", "a", "--link", str(link), "--json", env=env).stdout)
    assert out["left"] == [str(home / "toolkits" / "a" / "notes.txt")]
    assert out["store_bytes_freed"] > 60e6  # nvrtc left the store; cudart stays for b
    tk = [t for t in discover(env) if t.root == str(home / "toolkits" / "b")]
    assert tk and tk[0].ok and os.path.getsize(tk[0].cudart) > 0
    by_version = slot_cli("uninstall", "12.4", "--link", str(link), "--force", env=env,
                          check=False)  # no slot cuda12.4: b is named, not taken
    assert by_version.returncode == 3 and "b" in by_version.stderr
    slot_cli("uninstall", "b", "--link", str(link), "--force", env=env)
    assert not (home / "toolkits" / "b").exists()
    assert not any((home / "store" / "sha256").rglob("*"))  # nothing left in the store


def test_manifest_sync_lock_and_drift(slot_wheelhouse, tmp_path):
    home = tmp_path / "home"
    man = tmp_path / "cudaswitch.toml"
    man.write_text('default = "rt11"\n[[slot]]\nname = "rt11"\ncuda = "11.8"\n'
                   'components = ["cudart", "nvrtc"]\nenv = { MY_FLAG = "1" }\n\n'
                   '[[slot]]\nname = "rt12"\ncuda = "12.4"\ncomponents = ["cudart"]\n')
    env = slot_env(home, CUDASWITCH_CONFIG=str(man))
    wh = ["--wheelhouse", str(slot_wheelhouse)]
    slot_cli("lock", *wh, env=env)
    lock = json.loads((tmp_path / "cudaswitch.lock").read_text())
    assert set(lock["slots"]) == {"rt11", "rt12"}
    assert all(re.fullmatch(r"[0-9a-f]{64}", w["sha256"])
               for s in lock["slots"].values() for w in s["wheels"])
    first = json.loads(slot_cli("sync", "--locked", *wh, "--json", env=env).stdout)
    assert [s["status"] for s in first["slots"]] == ["installed", "installed"]
    again = slot_cli("sync", "--locked", *wh, env=env)
    assert "nothing to do" in again.stdout
    only = tmp_path / "only"
    slot_cli("sync", "--slot", "rt12", *wh, env=slot_env(only, CUDASWITCH_CONFIG=str(man)))
    assert sorted(p.name for p in (only / "toolkits").iterdir()) == ["rt12"]
    which = json.loads(slot_cli("which", "--json", env=env).stdout)
    assert which["slot"] == "rt11" and which["toolkit"]["version"].startswith("11.8")
    dry = json.loads(slot_cli("exec", "--slot", "rt11", "--dry-run", "--json", "--", "true",
                              env=env, check=False).stdout or "{}")
    if dry:  # the core's --json dry run shows the plan: the slot's variable is in it
        assert "MY_FLAG" in json.dumps(dry)
    man.write_text(man.read_text().replace('["cudart"]', '["cudart", "nvrtc"]'))
    drift = slot_cli("sync", "--locked", *wh, env=env, check=False)
    assert drift.returncode == 1 and "cudaswitch lock" in drift.stderr
    assert sorted(p.name for p in (home / "toolkits").iterdir()) == ["rt11", "rt12"]


def test_slot_with_python_environment(slot_wheelhouse, tmp_path):
    """The slot's own venv, made with the named interpreter; exec runs its python."""
    home = tmp_path / "home"
    wh = tmp_path / "wh"
    env = slot_env(home)
    args = ["12.4", "--with", "cudart", "--name", "py", "--python", "python3",
            "--package", "iniconfig==2.0.0"]
    slot_cli("download", *args, "--wheelhouse", str(wh), env=env)
    slot_cli("install", *args, "--wheelhouse", str(wh), env=env)
    code = "import sys, os, iniconfig; print(sys.prefix, os.environ['VIRTUAL_ENV'])"
    out = slot_cli("exec", "--slot", "py", "--", "python", "-c", code, env=env).stdout.split()
    assert out == [str(home / "venvs" / "py")] * 2
    # A version request that lands on the slot's toolkit gets the whole slot, venv included,
    # as `docker run -e CUDA_VERSION=12.4` does through the entrypoint.
    entry = subprocess.run([sys.executable, "-m", "cudaswitch.entrypoint", "python", "-c", code],
                           env={**env, "CUDA_VERSION": "12.4", "CUDASWITCH_NO_CACHE": "1"},
                           capture_output=True, text=True)
    assert entry.returncode == 0, entry.stderr
    assert entry.stdout.split() == [str(home / "venvs" / "py")] * 2
    assert "(slot py)" in entry.stderr
    slot_cli("uninstall", "py", env=env)
    assert not (home / "venvs" / "py").exists()


@pytest.mark.slow
def test_cuda13_slot_compiles_with_its_nvcc(tmp_path):
    """CUDA 13's nvcc wheel is the whole compiler: a .cu file becomes an object file."""
    home = tmp_path / "home"
    env = slot_env(home)
    slot_cli("install", "13.0", "--with", "cudart,nvcc", env=env)
    root = home / "toolkits" / "cuda13.0"
    assert (root / "bin" / "nvcc").exists() and (root / "nvvm" / "bin" / "cicc").exists()
    src = tmp_path / "k.cu"
    src.write_text('#include <cuda_runtime.h>\n__global__ void k(float *x) { x[threadIdx.x] '
                   '*= 2.0f; }\nint launch(float *x) { k<<<1, 32>>>(x); '
                   'return (int)cudaGetLastError(); }\n')
    obj = tmp_path / "k.o"
    proc = slot_cli("exec", "--slot", "cuda13.0", "--", "nvcc", "-c", str(src), "-o", str(obj),
                    env=env)
    assert obj.read_bytes()[:4] == b"\x7fELF", proc.stderr
    which = slot_cli("exec", "--slot", "cuda13.0", "--", "sh", "-c", "command -v nvcc",
                     env=env).stdout.strip()
    assert which == str(root / "bin" / "nvcc")
