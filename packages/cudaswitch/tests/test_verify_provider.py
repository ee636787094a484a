"""`exec --provider`: a tiny ONNX Runtime session in the planned environment, with the real
onnxruntime (the CPU build this workspace has; the GPU fallback case runs on the GPU host,
docs/gpu-results.md)."""

import os
import subprocess
import sys
import venv

import pytest

from cs_helpers import clean_env, cudaswitch_cmd

pytest.importorskip("onnxruntime")


def env_with_python_first(folder: str, **extra) -> dict:
    env = clean_env(**extra)
    env["PATH"] = f"{folder}:{env['PATH']}"
    return env


def test_cpu_build_cannot_pass_for_cuda(wheel_roots):
    env = env_with_python_first(os.path.dirname(sys.executable), CUDASWITCH_PATH=str(wheel_roots))
    out = subprocess.run(cudaswitch_cmd("exec", "--cuda", "12.4", "--provider", "cuda", "--",
                                        "true"), env=env, capture_output=True, text=True)
    assert out.returncode == 5
    assert "CUDAExecutionProvider is not in this build" in out.stderr
    assert "CPUExecutionProvider" in out.stderr


def test_cpu_provider_passes_and_runs_the_command(wheel_roots, tmp_path):
    env = env_with_python_first(os.path.dirname(sys.executable), CUDASWITCH_PATH=str(wheel_roots))
    marker = tmp_path / "ran"
    out = subprocess.run(cudaswitch_cmd("exec", "--cuda", "12.4", "--provider", "cpu", "--",
                                        "touch", str(marker)),
                         env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "runs on CPUExecutionProvider" in out.stderr and marker.exists()


def test_an_interpreter_without_onnxruntime_is_named(wheel_roots, tmp_path):
    bare = tmp_path / "bare"
    venv.create(bare, with_pip=False)
    env = env_with_python_first(str(bare / "bin"), CUDASWITCH_PATH=str(wheel_roots))
    out = subprocess.run(cudaswitch_cmd("exec", "--cuda", "11.8", "--provider", "cuda", "--",
                                        "true"), env=env, capture_output=True, text=True)
    assert out.returncode == 5
    assert "onnxruntime is not importable" in out.stderr and str(bare) in out.stderr


@pytest.fixture(scope="session")
def ort_gpu_118_python():
    """A venv with the real onnxruntime-gpu 1.18.1 (built for CUDA 11.8 + cuDNN 8), kept in the
    test cache: 200 MB downloaded once per machine."""
    from cs_helpers import CACHE

    if sys.version_info[:2] not in ((3, 10), (3, 11), (3, 12)):
        pytest.skip("onnxruntime-gpu 1.18.1 has wheels for Python 3.10-3.12 only")
    home = CACHE / "venvs" / f"ort-gpu-1.18.1-py{sys.version_info[0]}{sys.version_info[1]}"
    python = home / "bin" / "python"
    ok = home / ".complete"
    if not ok.exists():
        venv.create(home, with_pip=True, clear=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        "onnxruntime-gpu==1.18.1", "numpy<2"], check=True)
        ok.write_text("ok")
    return python


def test_gpu_build_without_its_cuda_libraries_names_the_missing_one(wheel_roots,
                                                                    ort_gpu_118_python):
    """The field's silent failure: a CUDA 11.8 onnxruntime-gpu in a slot that has only cudart
    would run on the CPU; here it stops and says what is missing."""
    env = env_with_python_first(str(ort_gpu_118_python.parent), CUDASWITCH_PATH=str(wheel_roots))
    out = subprocess.run(cudaswitch_cmd("exec", "--cuda", "11.8", "--provider", "cuda", "--",
                                        "true"), env=env, capture_output=True, text=True)
    assert out.returncode == 5, out.stderr
    assert "onnxruntime 1.18.1" in out.stderr
    assert "missing libcublasLt.so.11" in out.stderr or "missing libcudnn" in out.stderr


def test_foreign_libraries_are_another_toolkits(runtime_targets):
    from cudaswitch.check import check
    from cudaswitch.host import Host
    from cudaswitch.launch import foreign_libs
    from cudaswitch.plan import Target, make_plan
    from cudaswitch.toolkits import discover

    found = [t for t in discover({"CUDASWITCH_SYSTEM_PREFIX": "/nonexistent"},
                                 [str(runtime_targets["12.4"]), str(runtime_targets["13.0"])])
             if t.ok]
    tk12 = next(t for t in found if t.version.major == 12)
    tk13 = next(t for t in found if t.version.major == 13)
    plan = make_plan(check(Target(tk12), Host(None, None), {}), found, {})
    maps = [tk12.cudart, tk13.cudart,
            "/usr/lib/x86_64-linux-gnu/libcuda.so.580.159.04",
            "/usr/lib/x86_64-linux-gnu/libcudnn.so.9.14.0",
            "/usr/local/cuda-13.0/targets/x86_64-linux/lib/libcudart.so.13.0.96"]
    assert foreign_libs(maps, plan, found) == [maps[1], maps[4]]
