"""Commands run by Python: the packages' CUDA against the chosen toolkit, through the real CLI
and entrypoint, with real NVIDIA wheels (small ones installed, large ones' real dist-info)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pyenv_helpers import add_dist_info, install, make_venv

from cs_helpers import clean_env, cudaswitch_cmd


@pytest.fixture
def torch13_venv(tmp_path) -> Path:
    """A venv holding torch 2.14.1's real dist-info (built for CUDA 13) and the real CUDA 13
    runtime wheel."""
    root = tmp_path / "venv"
    site = make_venv(root)
    install(site, "nvidia-cuda-runtime==13.0.96")
    add_dist_info(site, "torch-2.14.1.dist-info", "nvidia_cudnn_cu13-9.24.0.43.dist-info")
    return root


def run(args, env, cmd=None):
    return subprocess.run(cmd or cudaswitch_cmd(*args), env=env, capture_output=True,
                          text=True, timeout=120)


def venv_env(venv: Path, wheel_roots, **extra) -> dict:
    env = clean_env(CUDASWITCH_PATH=str(wheel_roots), **extra)
    env["PATH"] = f"{venv}/bin:{env['PATH']}"
    return env


def test_a_cuda13_torch_under_cuda12_is_refused_before_launch(torch13_venv, wheel_roots,
                                                              tmp_path):
    marker = tmp_path / "ran"
    out = run(["exec", "--cuda", "12.4", "--", "python3", "-c",
               f"open({str(marker)!r}, 'w')"], venv_env(torch13_venv, wheel_roots))
    assert out.returncode == 4, out.stderr
    assert not marker.exists()
    assert "torch 2.14.1" in out.stderr and "CUDA 13" in out.stderr
    assert "cuda-13.0" in out.stderr and "--cuda 13.0" in out.stderr
    assert "Traceback" not in out.stderr


def test_the_matching_major_runs_and_force_runs_with_a_note(torch13_venv, wheel_roots):
    env = venv_env(torch13_venv, wheel_roots)
    ok = run(["exec", "--cuda", "13.0", "--", "python3", "-c", "print('ran')"], env)
    assert ok.returncode == 0 and ok.stdout.strip() == "ran", ok.stderr
    forced = run(["exec", "--force", "--cuda", "12.4", "--", "python3", "-c", "print('ran')"],
                 env)
    assert forced.returncode == 0 and forced.stdout.strip() == "ran"
    assert "--force: torch 2.14.1" in forced.stderr


def test_a_command_not_run_by_python_is_not_inspected(torch13_venv, wheel_roots):
    out = run(["exec", "--cuda", "12.4", "--", "true"], venv_env(torch13_venv, wheel_roots))
    assert out.returncode == 0, out.stderr


def test_a_script_whose_shebang_names_the_venv_python_is_checked(torch13_venv, wheel_roots,
                                                                 tmp_path):
    script = tmp_path / "train"
    script.write_text(f"#!{torch13_venv}/bin/python3\nprint('ran')\n")
    script.chmod(0o755)
    out = run(["exec", "--cuda", "12.4", "--", str(script)], venv_env(torch13_venv, wheel_roots))
    assert out.returncode == 4 and "torch 2.14.1" in out.stderr


def test_entrypoint_cache_is_keyed_by_the_command(torch13_venv, wheel_roots, tmp_path):
    """A cached decision for `true` must not let `python3` skip the check."""
    env = venv_env(torch13_venv, wheel_roots, CUDASWITCH_CUDA="12.4",
                   CUDASWITCH_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("CUDASWITCH_NO_CACHE")
    entry = [sys.executable, "-m", "cudaswitch.entrypoint"]
    for _ in range(2):
        assert run(None, env, [*entry, "true"]).returncode == 0
    out = run(None, env, [*entry, "python3", "-c", "print('ran')"])
    assert out.returncode == 4 and "torch 2.14.1" in out.stderr


def test_entrypoint_sees_a_package_installed_after_a_cached_start(tmp_path, wheel_roots):
    root = tmp_path / "venv"
    site = make_venv(root)
    env = venv_env(root, wheel_roots, CUDASWITCH_CUDA="12.4",
                   CUDASWITCH_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("CUDASWITCH_NO_CACHE")
    entry = [sys.executable, "-m", "cudaswitch.entrypoint", "python3", "-c", "print('ran')"]
    for _ in range(2):
        assert run(None, env, entry).returncode == 0
    add_dist_info(site, "torch-2.14.1.dist-info")
    out = run(None, env, entry)
    assert out.returncode == 4 and "torch 2.14.1" in out.stderr


@pytest.mark.skipif(not any(Path(d, "libibverbs.so.1").exists()
                            for d in ("/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu")),
                    reason="libcufile_rdma.so.1 needs libibverbs1 and librdmacm1 (.ci/run)")
def test_one_cufile_build_per_process(tmp_path, runtime_targets):
    """A real toolkit whose lib64 holds cuFile 1.11 and a venv whose package carries cuFile
    1.13 (same sonames). The program loads the package's libcufile.so.0 by path, as a
    framework does through its RPATH, then libcufile_rdma.so.1 by soname: the plan must hand
    it the package's build of that too."""
    tk = tmp_path / "toolkits" / "cuda-12.4"
    (tk / "lib64").mkdir(parents=True)
    shutil.copy(runtime_targets["12.4"] / "nvidia/cuda_runtime/lib/libcudart.so.12", tk / "lib64")
    slotlib = tmp_path / "slotlib"
    install(slotlib, "nvidia-cufile-cu12==1.11.1.6")
    for n in ("libcufile.so.0", "libcufile_rdma.so.1"):
        shutil.copy(slotlib / "nvidia/cufile/lib" / n, tk / "lib64")
    (tk / "version.json").write_text(json.dumps({"cuda": {"version": "12.4.127"}}))
    root = tmp_path / "venv"
    site = make_venv(root)
    install(site, "nvidia-cufile-cu12==1.13.1.3")
    own = site / "nvidia/cufile/lib"
    prog = (f"import ctypes; ctypes.CDLL({str(own / 'libcufile.so.0')!r}); "
            "ctypes.CDLL('libcufile_rdma.so.1'); "
            "print('\\n'.join(sorted({l.split()[-1] for l in open('/proc/self/maps') "
            "if 'cufile' in l})))")
    env = clean_env(CUDASWITCH_PATH=str(tmp_path / "toolkits"))
    env["PATH"] = f"{root}/bin:{env['PATH']}"
    out = run(["exec", "--cuda", "12.4", "--", "python3", "-c", prog], env)
    assert out.returncode == 0, out.stderr
    mapped = out.stdout.split()
    assert mapped == [str((own / n).resolve()) for n in ("libcufile.so.0",
                                                         "libcufile_rdma.so.1")], mapped
    assert "cuFile" in out.stderr and "nvidia-cufile-cu12 1.13.1.3" in out.stderr
    # the same program under the toolkit's LD_LIBRARY_PATH alone maps two builds
    plain = dict(env, LD_LIBRARY_PATH=str(tk / "lib64"))
    two = subprocess.run([f"{root}/bin/python3", "-c", prog], env=plain, capture_output=True,
                         text=True)
    assert {os.path.dirname(p) for p in two.stdout.split()} == {
        str(own.resolve()), str((tk / "lib64").resolve())}


def test_doctor_names_two_majors_and_a_shadowing_folder(torch13_venv, wheel_roots, tmp_path):
    site = next(torch13_venv.glob("lib/python3.*/site-packages"))
    add_dist_info(site, "nvidia_nccl_cu12-2.32.3.dist-info")
    other = tmp_path / "cudnn12"
    other.mkdir()
    (other / "libcudnn.so.9").write_bytes(b"")
    env = venv_env(torch13_venv, wheel_roots, LD_LIBRARY_PATH=str(other))
    out = run(["doctor", "--json"], env)
    found = {f["id"]: f for f in json.loads(out.stdout)["findings"]}
    assert out.returncode == 1
    assert "nvidia-nccl-cu12" in found["python-cuda-majors"]["message"]
    assert "torch 2.14.1" in found["python-cuda-majors"]["message"]
    assert str(other) in found["python-lib-shadow"]["message"]
    clean = run(["doctor", "--json"], venv_env(make_venv_root(tmp_path), wheel_roots))
    ids = {f["id"] for f in json.loads(clean.stdout)["findings"]}
    assert not ids & {"python-cuda-majors", "python-lib-shadow", "python-cuda-mismatch"}


def make_venv_root(tmp_path: Path) -> Path:
    make_venv(tmp_path / "empty")
    return tmp_path / "empty"
