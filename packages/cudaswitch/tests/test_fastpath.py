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
    _fastpath.store(env, {"VIRTUAL_ENV": "/venvs/slot"}, "banner", [],
                    [(str(watched), _fastpath.stamp(str(watched)))], [],
                    _fastpath.host_facts(env))
    assert _fastpath.lookup(env)["changes"] == {"VIRTUAL_ENV": "/venvs/slot"}
    assert _fastpath.lookup({**env, "VIRTUAL_ENV": "/venvs/b"}) is None
    (watched / "cuda-12.9").mkdir()
    assert _fastpath.lookup(env) is None  # a watched folder changed


# --- a cached decision equals the full flow's, whatever changes between starts -------------

SELECTORS = [{}, {"CUDA_VERSION": "12.4"}, {"CUDA_VERSION": "12"}, {"CUDASWITCH_CUDA": "auto"},
             {"CUDASWITCH_CUDA": "11"}, {"CUDASWITCH_CUDA": "latest"}]
DRIVERS = [None, "550.54.15", "470.82.01", "580.95.05"]
MANIFESTS = [None, 'default = "11.8"\n', "default = '13'\n", 'default = "12.4"\n[[slot]\n']


def _state_steps():
    """A first state, then changes of one thing at a time: each change must turn a cached
    start into a miss exactly when the full flow would decide otherwise."""
    from hypothesis import strategies as st

    values = {
        "selector": st.sampled_from(range(len(SELECTORS))),
        "driver": st.sampled_from(DRIVERS),
        "pythonpath": st.booleans(),
        "manifest": st.sampled_from(range(len(MANIFESTS))),
        "present": st.sets(st.sampled_from(["11.8", "12.4", "13.0"])),
        "ld": st.sampled_from(["", "/opt/mine/lib"]),
    }
    first = st.fixed_dictionaries(values)
    change = st.sampled_from(sorted(values)).flatmap(
        lambda k: values[k].map(lambda v, k=k: (k, v)))

    def states(pair):
        state, changes = pair
        out = [state]
        for k, v in changes:
            out.append({**out[-1], k: v})
        return out

    return st.tuples(first, st.lists(change, min_size=2, max_size=5)).map(states)


def _apply_state(base, roots, manifest, site, runtime_targets, s):
    for key in ("11.8", "12.4", "13.0"):
        link = roots / f"cuda-{key}"
        if key in s["present"] and not link.is_symlink():
            link.symlink_to(runtime_targets[key])
        elif key not in s["present"] and link.is_symlink():
            link.unlink()
    text = MANIFESTS[s["manifest"]]
    if text is None:
        manifest.unlink(missing_ok=True)
    else:
        manifest.write_text(text)
    env = {**base, **SELECTORS[s["selector"]]}
    if s["driver"]:
        env["CUDASWITCH_DRIVER_VERSION"] = s["driver"]
    if s["pythonpath"]:
        env["PYTHONPATH"] = str(site)
    if s["ld"]:
        env["LD_LIBRARY_PATH"] = s["ld"]
    return env


def _decision(env):
    out = entry(env, sys.executable, "-c", DUMP)
    seen = {k: v for k, v in json.loads(out.stdout).items()
            if k not in DROP} if out.returncode == 0 else None
    return out.returncode, seen, out.stderr


def test_cached_equals_uncached_over_generated_environments(runtime_targets, tmp_path_factory):
    """Selectors, drivers, a PYTHONPATH folder of NVIDIA wheels, manifests (one that does not
    parse) and toolkits appearing and vanishing between starts: every cached start gives what
    the full flow gives at that moment."""
    from hypothesis import HealthCheck, example, given, settings

    first = {"selector": 5, "driver": None, "pythonpath": False, "manifest": 0,
             "present": {"12.4"}, "ld": ""}

    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
    @given(_state_steps())
    @example([first, {**first, "pythonpath": True}, first])
    @example([first, {**first, "present": {"12.4", "13.0"}}, first])
    @example([{**first, "selector": 0, "manifest": 1}, {**first, "selector": 0, "manifest": 2},
              {**first, "selector": 0, "manifest": 3}])
    @example([{**first, "driver": "580.95.05"}, {**first, "driver": "470.82.01"}])
    def run(steps):
        tmp = tmp_path_factory.mktemp("prop")
        roots, cache = tmp / "roots", tmp / "cache"
        roots.mkdir()
        site = tmp / "pp" / "site-packages"
        site.parent.mkdir()
        site.symlink_to(runtime_targets["13.0"])
        manifest = tmp / "cudaswitch.toml"
        base = cached_env(CUDASWITCH_PATH=str(roots), CUDASWITCH_CACHE_DIR=str(cache),
                          CUDASWITCH_CONFIG=str(manifest),
                          CUDASWITCH_SYSTEM_PREFIX=str(tmp / "no-system"))
        for s in steps:
            env = _apply_state(base, roots, manifest, site, runtime_targets, s)
            cached = _decision(env)
            full = _decision({**env, "CUDASWITCH_NO_CACHE": "1"})
            assert cached == full, s
            assert _decision(env) == full, s  # now surely from the cache, when cacheable

    run()


def test_a_pythonpath_folder_of_nvidia_wheels_is_part_of_the_key(tmp_path, runtime_targets):
    site = tmp_path / "pp" / "site-packages"
    site.parent.mkdir()
    site.symlink_to(runtime_targets["13.0"])
    env = cached_env(CUDASWITCH_SYSTEM_PREFIX=str(tmp_path / "none"), CUDASWITCH_CUDA="13.0",
                     CUDASWITCH_CACHE_DIR=str(tmp_path / "c"))
    assert entry(env, "true").returncode == 3
    with_wheels = {**env, "PYTHONPATH": str(site)}
    out = entry(with_wheels, sys.executable, "-c", DUMP)
    assert out.returncode == 0 and "CUDA 13.0.96" in out.stderr, out.stderr
    assert entry(env, "true").returncode == 3


def test_a_toolkit_removed_during_a_start_is_not_cached(tmp_path, runtime_targets, monkeypatch):
    """The toolkit goes away after discovery found it and before the record is written: the
    record must not serve it to the next start."""
    from cudaswitch import entrypoint, flow

    roots = tmp_path / "roots"
    shutil.copytree(runtime_targets["12.4"], roots / "cuda-12.4", symlinks=True)
    env = cached_env(CUDASWITCH_PATH=str(roots), CUDA_VERSION="12.4",
                     CUDASWITCH_SYSTEM_PREFIX=str(tmp_path / "none"),
                     CUDASWITCH_CACHE_DIR=str(tmp_path / "c"))
    real_watch = flow.watch_paths

    def removing(*a, **kw):
        paths = real_watch(*a, **kw)
        shutil.rmtree(roots / "cuda-12.4" / "nvidia" / "cuda_runtime" / "lib")
        return paths

    monkeypatch.setattr(flow, "watch_paths", removing)
    monkeypatch.setattr(entrypoint, "_exec", lambda args, env: 0)
    monkeypatch.chdir(tmp_path)
    assert entrypoint._full(["true"], env) == 0
    out = entry(env, "true")
    assert out.returncode == 3, out.stderr
