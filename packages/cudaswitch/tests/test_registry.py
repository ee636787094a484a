"""One registry of the variables the flow reads and of the exit codes: the flow reads nothing
else, and the cache key, ``--help`` and the README are derived from it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cudaswitch import _fastpath, registry
from cudaswitch.errors import CudaswitchError

README = Path(__file__).resolve().parents[3] / "README.md"


class Recording(dict):
    """An environment that remembers every name looked up in it."""

    def __init__(self, data, read: set[str]):
        super().__init__(data)
        self.read = read

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        self.read.add(key)
        return super().__contains__(key)


SCENARIOS = [
    {}, {"CUDA_VERSION": "12"}, {"CUDASWITCH_CUDA": "11.8"}, {"CUDASWITCH_SLOT": "cuda12.4"},
    {"CUDASWITCH_CUDA": "latest", "CUDASWITCH_DRIVER_VERSION": "470.82.01",
     "CUDASWITCH_FORCE": "1", "CUDASWITCH_GPU_ARCH": "9.0", "CUDASWITCH_GPU_BRAND": "Tesla"},
    {"CUDASWITCH_DRIVER_CUDA": "12.4", "CUDASWITCH_DRIVER_VERSION": "550.54.15"},
    {"CUDA_HOME": "/nonexistent/cuda", "CONDA_PREFIX": "/nonexistent/conda",
     "LD_LIBRARY_PATH": "/opt/x", "CPATH": "/opt/y"},
]


@pytest.mark.parametrize("extra", SCENARIOS, ids=lambda e: ",".join(e) or "nothing")
def test_the_flow_reads_only_registered_variables(runtime_slots, tmp_path, monkeypatch, extra):
    """Every name the flow (and what the entrypoint's cache watches) looks up, through the
    environment given and through ``os.environ``, is in the registry."""
    from cudaswitch.flow import manifest_paths, run_flow, watch_paths

    _home, env = runtime_slots
    manifest = tmp_path / "cudaswitch.toml"
    manifest.write_text('default = "cuda11.8"\n')
    read: set[str] = set()
    monkeypatch.setattr(os, "environ", Recording(os.environ, read))
    base = Recording({**env, "CUDASWITCH_CONFIG": str(manifest), **extra}, read)
    monkeypatch.chdir(tmp_path)
    own: set[str] = set()
    for slot in (None, "cuda12.4"):
        seen: list[str] = []
        try:
            outcome = run_flow(["true"], base, slot=slot, seen=seen)
        except CudaswitchError:
            continue
        own |= {k for k, _ in outcome.target.extra_env}
        watch_paths(base, outcome, seen)
        manifest_paths(base)
    _fastpath.key_of(base)
    unlisted = sorted(read - set(registry.variable_names()) - own)
    assert unlisted == [], f"the flow read variables the registry does not list: {unlisted}"


def test_a_variable_the_registry_misses_is_caught(runtime_slots, monkeypatch):
    """The check above can fail: a flow that reads one more variable is reported."""
    from cudaswitch import flow

    _home, env = runtime_slots
    read: set[str] = set()
    real = flow.forced
    monkeypatch.setattr(flow, "forced", lambda e: bool(e.get("SOME_NEW_KNOB")) or real(e))
    flow.run_flow(["true"], Recording({**env, "CUDASWITCH_NO_CACHE": "1"}, read))
    assert "SOME_NEW_KNOB" in read - set(registry.variable_names())


def test_cache_key_is_the_registry_decision_variables():
    assert registry.decision_variables() == _fastpath.KEY_VARS
    for name in ("CUDASWITCH_SLOT", "CUDASWITCH_ACTIVE", "PYTHONUSERBASE", "CUDA_VERSION"):
        assert name in _fastpath.KEY_VARS
    assert "CUDASWITCH_QUIET" not in _fastpath.KEY_VARS


def test_help_and_readme_are_derived_from_the_registry():
    out = subprocess.run([sys.executable, "-m", "cudaswitch.cli.main", "--help"],
                         capture_output=True, text=True)
    assert registry.exit_codes_help() in out.stdout
    entry = subprocess.run([sys.executable, "-m", "cudaswitch.entrypoint", "--help"],
                           capture_output=True, text=True)
    assert registry.exit_codes_help() in entry.stderr
    text = README.read_text()
    assert registry.exit_codes_table() in text
    assert registry.variables_table() in text


def test_exit_code_seven_is_the_environment_fault():
    from cudaswitch.errors import EXIT_ENVIRONMENT

    assert EXIT_ENVIRONMENT == 7
    assert "environment fault" in dict((c, m) for c, _, m in registry.EXIT_CODES)[7]
