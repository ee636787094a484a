"""The entrypoint's decision cache: a hit must give exactly what the full flow gives, and any
change to what the flow read must be a miss."""

import json
import os
import shutil
import subprocess
import sys

from cs_helpers import clean_env

DUMP = "import json, os; print(json.dumps(dict(os.environ)))"
DROP = ("CUDASWITCH_NO_CACHE",)


def cached_env(**kw):
    env = clean_env(**kw)
    env.pop("CUDASWITCH_NO_CACHE")
    return env


def entry(env, *args):
    return subprocess.run([sys.executable, "-m", "cudaswitch.entrypoint", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def dump(env):
    out = entry(env, sys.executable, "-c", DUMP)
    assert out.returncode == 0, out.stderr
    return {k: v for k, v in json.loads(out.stdout).items() if k not in DROP}, out.stderr


def records(folder):
    if not os.path.isdir(folder):
        return []
    return sorted(p for p in os.listdir(folder) if p.endswith(".bin"))


def test_hit_equals_full_flow(tmp_path, wheel_roots):
    cache = tmp_path / "cache"
    env = cached_env(CUDASWITCH_PATH=str(wheel_roots), CUDA_VERSION="12.4",
                    CUDASWITCH_CACHE_DIR=str(cache), LD_LIBRARY_PATH="/opt/mine/lib")
    first, err1 = dump(env)
    assert len(records(cache)) == 1
    second, err2 = dump(env)
    uncached, _ = dump({**env, "CUDASWITCH_NO_CACHE": "1"})
    assert first == second == uncached
    assert err1 == err2 and "CUDA 12.4.127" in err2
    assert first["LD_LIBRARY_PATH"].endswith(":/opt/mine/lib")


def test_new_toolkit_or_other_driver_is_a_miss(tmp_path, runtime_targets):
    cache = tmp_path / "cache"
    roots = tmp_path / "roots"
    roots.mkdir()
    (roots / "cuda-12.4").symlink_to(runtime_targets["12.4"])
    env = cached_env(CUDASWITCH_PATH=str(roots), CUDASWITCH_CUDA="auto",
                     CUDASWITCH_SYSTEM_PREFIX=str(tmp_path / "empty"),
                    CUDASWITCH_CACHE_DIR=str(cache))
    before, _ = dump(env)
    assert "cuda-12.4" in before["CUDA_HOME"]
    (roots / "cuda-13.0").symlink_to(runtime_targets["13.0"])
    after, _ = dump(env)
    assert "cuda-13.0" in after["CUDA_HOME"]
    old_driver, err = dump({**env, "CUDASWITCH_DRIVER_VERSION": "550.54.15"})
    assert "cuda-12.4" in old_driver["CUDA_HOME"] and "driver 550.54.15" in err


def test_errors_are_never_cached(tmp_path, wheel_roots):
    cache = tmp_path / "cache"
    env = cached_env(CUDASWITCH_PATH=str(wheel_roots), CUDA_VERSION="10.2",
                    CUDASWITCH_CACHE_DIR=str(cache))
    assert entry(env, "true").returncode == 3
    assert records(cache) == []
    assert entry(env, "true").returncode == 3


def test_a_removed_toolkit_is_not_served_from_the_cache(tmp_path, runtime_targets):
    cache = tmp_path / "cache"
    roots = tmp_path / "roots"
    shutil.copytree(runtime_targets["12.4"], roots / "cuda-12.4", symlinks=True)
    env = cached_env(CUDASWITCH_PATH=str(roots), CUDA_VERSION="12.4",
                    CUDASWITCH_CACHE_DIR=str(cache))
    assert entry(env, "true").returncode == 0
    shutil.rmtree(roots / "cuda-12.4")
    out = entry(env, "true")
    assert out.returncode == 3 and "no installed CUDA toolkit matches 12.4" in out.stderr


def test_launcher_runs_with_isolated_interpreter(tmp_path, wheel_roots):
    launcher = tmp_path / "cudaswitch-entrypoint"
    out = subprocess.run([sys.executable, "-m", "cudaswitch.cli.main", "launcher", str(launcher)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert launcher.read_text().startswith(f"#!{sys.executable} -IS\n")
    env = cached_env(CUDASWITCH_PATH=str(wheel_roots), CUDA_VERSION="11.8",
                    CUDASWITCH_CACHE_DIR=str(tmp_path / "c"))
    code = "import sys, os; print(sys.flags.no_site, os.environ['CUDA_HOME'])"
    run = subprocess.run([str(launcher), sys.executable, "-c", code], env=env,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split()[1].endswith("cuda-11.8/nvidia/cuda_runtime")


def test_a_variable_the_plan_overrides_is_part_of_the_key(tmp_path):
    """A slot's variable (VIRTUAL_ENV, say) is recorded with its old value to restore it on
    the next switch: a different old value must not be served from the cache."""
    from cudaswitch import _fastpath

    watched = tmp_path / "toolkits"
    watched.mkdir()
    env = {"HOME": str(tmp_path), "CUDASWITCH_CACHE_DIR": str(tmp_path / "c"),
           "VIRTUAL_ENV": "/venvs/a", "PATH": "/usr/bin"}
    _fastpath.store(env, {"VIRTUAL_ENV": "/venvs/slot"}, "banner", [], [str(watched)])
    assert _fastpath.lookup(env)["changes"] == {"VIRTUAL_ENV": "/venvs/slot"}
    assert _fastpath.lookup({**env, "VIRTUAL_ENV": "/venvs/b"}) is None
    (watched / "cuda-12.9").mkdir()
    assert _fastpath.lookup(env) is None  # a watched folder changed
