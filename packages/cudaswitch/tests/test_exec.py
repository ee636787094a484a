"""Each selection runs a real child through ``cudaswitch exec`` / the entrypoint and reports
what it mapped: exactly one libcudart, the selected one, with the right version.

No GPU is needed: 12.x and 13.x runtimes report their version without a driver; 11.8's
returns cudaErrorInsufficientDriver (35) there, so for it the mapped file is checked and the
version is read from the toolkit.
"""

import json
import os
import subprocess
import sys

import pytest

from cs_helpers import PROBE, SONAMES, clean_env, cudaswitch_cmd

EXPECT = {"11.8": (11080, "11.8.89"), "12.4": (12040, "12.4.127"), "13.0": (13000, "13.0.96")}


def run_probe(args, env, soname):
    out = subprocess.run([*args, "--", sys.executable, "-I", "-S", str(PROBE), "--soname", soname],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout), out.stderr


def polluted_env(wheel_roots, runtime_targets):
    """Every runtime's folder already on LD_LIBRARY_PATH: what a careless profile leaves."""
    libs = [str(runtime_targets["11.8"] / "nvidia/cuda_runtime/lib"),
            str(runtime_targets["12.4"] / "nvidia/cuda_runtime/lib"),
            str(runtime_targets["13.0"] / "nvidia/cu13/lib")]
    return clean_env(CUDASWITCH_PATH=str(wheel_roots), LD_LIBRARY_PATH=":".join(libs[::-1]))


@pytest.mark.parametrize("key", ["11.8", "12.4", "13.0"])
def test_exec_maps_only_the_selected_runtime(key, wheel_roots, runtime_targets):
    env = polluted_env(wheel_roots, runtime_targets)
    spec = EXPECT[key][1]
    report, _ = run_probe(cudaswitch_cmd("exec", "--cuda", spec), env, SONAMES[key])
    cudarts = [m for m in report["maps"] if "/libcudart.so" in m]
    assert len(cudarts) == 1, report["maps"]
    assert cudarts[0].startswith(str(runtime_targets[key])), cudarts
    if key == "11.8":
        assert report["runtime_rc"] in (0, 35)
        if report["runtime_rc"] == 0:
            assert report["runtime_version"] == EXPECT[key][0]
    else:
        assert (report["runtime_rc"], report["runtime_version"]) == (0, EXPECT[key][0])


@pytest.mark.parametrize("var", ["CUDA_VERSION", "CUDASWITCH_CUDA"])
@pytest.mark.parametrize("key", ["11.8", "12.4"])
def test_entrypoint_picks_from_variables(var, key, wheel_roots, runtime_targets):
    env = polluted_env(wheel_roots, runtime_targets)
    env[var] = key
    report, err = run_probe([sys.executable, "-m", "cudaswitch.entrypoint"], env, SONAMES[key])
    cudarts = [m for m in report["maps"] if "/libcudart.so" in m]
    assert len(cudarts) == 1 and cudarts[0].startswith(str(runtime_targets[key]))
    line = err.strip().splitlines()[-1]
    assert line.startswith(f"cudaswitch: CUDA {EXPECT[key][1]} from {wheel_roots}/cuda-{key}/")
    assert line.endswith("with no NVIDIA driver found (unknown)")


def test_entrypoint_quiet_and_exit_status(wheel_roots):
    env = clean_env(CUDASWITCH_PATH=str(wheel_roots), CUDA_VERSION="12.4", CUDASWITCH_QUIET="1")
    out = subprocess.run([sys.executable, "-m", "cudaswitch.entrypoint", "sh", "-c", "exit 7"],
                         env=env, capture_output=True, text=True)
    assert out.returncode == 7 and out.stderr == ""


def test_entrypoint_unsupported_value_lists_what_exists(wheel_roots):
    env = clean_env(CUDASWITCH_PATH=str(wheel_roots), CUDA_VERSION="10.2")
    out = subprocess.run([sys.executable, "-m", "cudaswitch.entrypoint", "true"], env=env,
                         capture_output=True, text=True)
    assert out.returncode == 3
    assert "no installed CUDA toolkit matches 10.2" in out.stderr
    assert "11.8.89" in out.stderr and "12.4.127" in out.stderr


def test_entrypoint_driver_too_old_exits_4_naming_the_driver(wheel_roots):
    env = clean_env(CUDASWITCH_PATH=str(wheel_roots), CUDASWITCH_CUDA="13",
                    CUDASWITCH_DRIVER_VERSION="535.104.05")
    out = subprocess.run([sys.executable, "-m", "cudaswitch.entrypoint", "true"], env=env,
                         capture_output=True, text=True)
    assert out.returncode == 4 and "580.65.06" in out.stderr


def test_nvidia_image_cuda_version_means_major_minor(wheel_roots):
    """NVIDIA's images set CUDA_VERSION=12.4.1 (a release label, not a component version)."""
    env = clean_env(CUDASWITCH_PATH=str(wheel_roots), CUDA_VERSION="12.4.1")
    out = subprocess.run(cudaswitch_cmd("which", "--json"), env=env, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["toolkit"]["version"] == "12.4.127"


def test_exec_argv_is_verbatim_and_status_is_the_commands(wheel_roots, tmp_path):
    env = clean_env(CUDASWITCH_PATH=str(wheel_roots))
    args = ["a b", "$(touch pwned)", ";", "'", "*"]
    code = "import sys, json; print(json.dumps(sys.argv[1:])); sys.exit(9)"
    out = subprocess.run(cudaswitch_cmd("exec", "--cuda", "12", "--", sys.executable, "-c", code,
                                        *args), env=env, capture_output=True, text=True,
                         cwd=tmp_path)
    assert out.returncode == 9
    assert json.loads(out.stdout) == args
    assert not (tmp_path / "pwned").exists()


def test_exec_missing_command_is_127(wheel_roots):
    env = clean_env(CUDASWITCH_PATH=str(wheel_roots))
    out = subprocess.run(cudaswitch_cmd("exec", "--cuda", "12", "--", "no-such-command-xyz"),
                         env=env, capture_output=True, text=True)
    assert out.returncode == 127 and "no-such-command-xyz" in out.stderr


def test_auto_picks_newest_runnable_and_force(wheel_roots):
    env = clean_env(CUDASWITCH_PATH=str(wheel_roots), CUDASWITCH_DRIVER_VERSION="550.54.15",
                    CUDASWITCH_GPU_ARCH="9.0")
    out = subprocess.run(cudaswitch_cmd("which", "auto", "--json"), env=env, capture_output=True,
                         text=True)
    d = json.loads(out.stdout)
    assert d["toolkit"]["version"] == "12.4.127" and d["verdict"] == "native"
    out = subprocess.run(cudaswitch_cmd("which", "latest", "--json"), env=env,
                         capture_output=True, text=True)
    assert out.returncode == 4
    out = subprocess.run(cudaswitch_cmd("which", "latest", "--force", "--json"), env=env,
                         capture_output=True, text=True)
    assert out.returncode == 0 and json.loads(out.stdout)["toolkit"]["version"].startswith("13.")


def test_verify_passes_on_real_runtimes(wheel_roots):
    env = clean_env(CUDASWITCH_PATH=str(wheel_roots))
    for spec in ("11.8", "12.4", "13.0.96"):
        out = subprocess.run(cudaswitch_cmd("exec", "--cuda", spec, "--verify", "--", "true"),
                             env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert "verified" in out.stderr


def test_verify_catches_a_runtime_that_is_not_what_the_toolkit_claims(tmp_path, runtime_targets):
    tk = tmp_path / "tk" / "cuda-12.9"
    (tk / "lib64").mkdir(parents=True)
    (tk / "lib64" / "libcudart.so.12").write_bytes(
        (runtime_targets["12.4"] / "nvidia/cuda_runtime/lib/libcudart.so.12").read_bytes())
    (tk / "version.json").write_text('{"cuda": {"version": "12.9.1"}}')
    env = clean_env(CUDASWITCH_PATH=str(tmp_path / "tk"))
    out = subprocess.run(cudaswitch_cmd("exec", "--cuda", "12.9", "--verify", "--", "true"),
                         env=env, capture_output=True, text=True)
    assert out.returncode == 5 and "12040" in out.stderr and "12.9" in out.stderr


def test_verify_catches_a_truncated_runtime(tmp_path, runtime_targets):
    tk = tmp_path / "tk" / "cuda-12.4"
    (tk / "lib64").mkdir(parents=True)
    data = (runtime_targets["12.4"] / "nvidia/cuda_runtime/lib/libcudart.so.12").read_bytes()
    (tk / "lib64" / "libcudart.so.12").write_bytes(data[:4096])
    (tk / "version.json").write_text('{"cuda": {"version": "12.4.1"}}')
    env = clean_env(CUDASWITCH_PATH=str(tmp_path / "tk"))
    out = subprocess.run(cudaswitch_cmd("exec", "--cuda", "12.4", "--verify", "--", "true"),
                         env=env, capture_output=True, text=True)
    assert out.returncode == 5
    assert "did not load" in out.stderr or "crashed the runtime probe" in out.stderr


def test_dry_run_shows_the_plan_and_runs_nothing(wheel_roots, tmp_path):
    env = clean_env(CUDASWITCH_PATH=str(wheel_roots))
    out = subprocess.run(cudaswitch_cmd("exec", "--cuda", "11.8", "--dry-run", "--json", "--",
                                        "touch", str(tmp_path / "ran")),
                         env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert d["toolkit"]["version"] == "11.8.89"
    assert d["set"]["LD_LIBRARY_PATH"].split(":")[0].endswith("nvidia/cuda_runtime/lib")
    assert not (tmp_path / "ran").exists()


def test_configured_default(wheel_roots, tmp_path):
    cfg = tmp_path / "cudaswitch.toml"
    cfg.write_text('default = "11.8"\n\n[slots]\n')
    env = clean_env(CUDASWITCH_PATH=str(wheel_roots), CUDASWITCH_CONFIG=str(cfg))
    d = json.loads(subprocess.run(cudaswitch_cmd("which", "--json"), env=env,
                                  capture_output=True, text=True).stdout)
    assert d["toolkit"]["version"] == "11.8.89" and d["request"]["origin"].startswith("default")
    env["CUDA_VERSION"] = "12.4"
    d = json.loads(subprocess.run(cudaswitch_cmd("which", "--json"), env=env,
                                  capture_output=True, text=True).stdout)
    assert d["toolkit"]["version"] == "12.4.127" and d["request"]["origin"] == "CUDA_VERSION"
    env["CUDASWITCH_CUDA"] = "13"
    d = json.loads(subprocess.run(cudaswitch_cmd("which", "--json"), env=env,
                                  capture_output=True, text=True).stdout)
    assert d["request"]["origin"] == "CUDASWITCH_CUDA" and d["toolkit"]["version"].startswith("13")
    assert any("wins over CUDA_VERSION" in n for n in d["request"]["notes"])
    d = json.loads(subprocess.run(cudaswitch_cmd("which", "11", "--json"), env=env,
                                  capture_output=True, text=True).stdout)
    assert d["request"]["origin"] == "the SPEC argument" and d["toolkit"]["version"] == "11.8.89"


@pytest.mark.parametrize("argv", [
    ["-m", "cudaswitch.entrypoint", "true"],
    ["-m", "cudaswitch.cli.main", "which"],
    ["-m", "cudaswitch.cli.main", "exec", "--", "true"],
])
def test_a_configuration_nested_too_deeply_is_a_usage_error(wheel_roots, tmp_path, argv):
    cfg = tmp_path / "cudaswitch.toml"
    cfg.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    env = clean_env(CUDASWITCH_PATH=str(wheel_roots), CUDASWITCH_CONFIG=str(cfg))
    out = subprocess.run([sys.executable, *argv], env=env, capture_output=True, text=True,
                         timeout=60)
    assert "Traceback" not in out.stderr
    assert out.returncode == 2 and str(cfg) in out.stderr and "nested too deeply" in out.stderr


def test_non_version_cuda_version_is_ignored_with_a_note(wheel_roots):
    env = clean_env(CUDASWITCH_PATH=str(wheel_roots), CUDA_VERSION="auto")
    out = subprocess.run(cudaswitch_cmd("which", "--json"), env=env, capture_output=True,
                         text=True)
    d = json.loads(out.stdout)
    assert d["request"]["origin"] == "nothing requested" and "ignored" in d["request"]["notes"][0]


@pytest.mark.skipif(not os.path.exists("/usr/local/cuda-13.0/lib64/libcudart.so.13"),
                    reason="machine toolkit absent")
def test_wheel_runtime_beats_the_global_loader_entry(wheel_roots):
    """/etc/ld.so.conf.d puts /usr/local/cuda-13.0 on every process's path here: the chosen
    13.0 wheel must still be the one mapped."""
    env = clean_env(CUDASWITCH_PATH=str(wheel_roots))
    report, _ = run_probe(cudaswitch_cmd("exec", "--cuda", "13.0.96"), env, SONAMES["13.0"])
    cudarts = [m for m in report["maps"] if "/libcudart.so" in m]
    assert len(cudarts) == 1 and "/usr/local/cuda-13.0/" not in cudarts[0]


def test_forward_compat_puts_the_compat_folder_first(tmp_path, runtime_targets):
    """A data-center GPU on an R535 driver runs CUDA 13 through the toolkit's compat libcuda."""
    tk = tmp_path / "tk" / "cuda-13.0"
    (tk / "lib64").mkdir(parents=True)
    (tk / "compat").mkdir()
    cudart = runtime_targets["13.0"] / "nvidia/cu13/lib/libcudart.so.13"
    (tk / "lib64" / "libcudart.so.13").write_bytes(cudart.read_bytes())
    (tk / "compat" / "libcuda.so.580.95.05").write_bytes(cudart.read_bytes())
    (tk / "version.json").write_text('{"cuda": {"version": "13.0.2"}}')
    base = dict(CUDASWITCH_PATH=str(tmp_path / "tk"), CUDASWITCH_DRIVER_VERSION="535.104.05",
                CUDASWITCH_GPU_ARCH="9.0")
    out = subprocess.run(cudaswitch_cmd("exec", "--cuda", "13.0", "--dry-run", "--json", "--",
                                        "true"), env=clean_env(**base), capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert d["selection"]["verdict"] == "forward-compat"
    assert d["set"]["LD_LIBRARY_PATH"].split(":")[:2] == [str(tk / "compat"), str(tk / "lib64")]
    geforce = clean_env(**base, CUDASWITCH_GPU_BRAND="GeForce RTX")
    out = subprocess.run(cudaswitch_cmd("exec", "--cuda", "13.0", "--", "true"), env=geforce,
                         capture_output=True, text=True)
    assert out.returncode == 4 and "580.65.06" in out.stderr


def _wrapper_dir(tmp_path):
    """A pinned wrapper for another toolkit's nvcc, the way /usr/local/bin/nvcc is here."""
    bin_dir = tmp_path / "wrappers"
    bin_dir.mkdir()
    nvcc = bin_dir / "nvcc"
    nvcc.write_text(f"#!/bin/sh\ntouch {tmp_path / 'wrapper-ran'}\necho other toolkit\n")
    nvcc.chmod(0o755)
    return bin_dir


@pytest.mark.parametrize("how", ["exec", "exec child", "entrypoint"])
def test_a_tool_the_toolkit_lacks_is_not_answered_by_another(wheel_roots, tmp_path, how):
    bin_dir = _wrapper_dir(tmp_path)
    env = clean_env(CUDASWITCH_PATH=str(wheel_roots), PATH=f"{bin_dir}:/usr/bin:/bin")
    if how == "entrypoint":
        cmd = [sys.executable, "-m", "cudaswitch.entrypoint", "nvcc", "--version"]
        env["CUDA_VERSION"] = "12.4"
    elif how == "exec child":
        cmd = cudaswitch_cmd("exec", "--cuda", "12.4", "--", "sh", "-c", "nvcc --version")
    else:
        cmd = cudaswitch_cmd("exec", "--cuda", "12.4", "--", "nvcc", "--version")
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 127, out.stderr
    assert "nvcc is not part of" in out.stderr and "other toolkit" not in out.stdout
    assert not (tmp_path / "wrapper-ran").exists()
    if how == "exec":
        assert "CUDA 12.4.127" in out.stderr and f"{bin_dir}/nvcc" in out.stderr


def test_the_toolkits_own_tool_answers(tmp_path, runtime_targets):
    bin_dir = _wrapper_dir(tmp_path)
    tk = tmp_path / "tk" / "cuda-12.4"
    (tk / "lib64").mkdir(parents=True)
    (tk / "bin").mkdir()
    (tk / "lib64" / "libcudart.so.12").symlink_to(
        runtime_targets["12.4"] / "nvidia/cuda_runtime/lib/libcudart.so.12")
    (tk / "version.json").write_text('{"cuda": {"version": "12.4.1"}}')
    (tk / "bin" / "nvcc").write_text("#!/bin/sh\necho ours\n")
    (tk / "bin" / "nvcc").chmod(0o755)
    env = clean_env(CUDASWITCH_PATH=str(tmp_path / "tk"), PATH=f"{bin_dir}:/usr/bin:/bin")
    out = subprocess.run(cudaswitch_cmd("exec", "--cuda", "12.4", "--", "nvcc"), env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ours", out.stderr
