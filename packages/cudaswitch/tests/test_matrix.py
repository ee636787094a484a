"""``cudaswitch matrix`` on real NVIDIA runtimes: isolation, failures, skips, copies.

Every run is the real command in a child process over the session's wheel roots (implicit
slots ``cuda11.8``, ``cuda12.4``, ``cuda13.0``); no GPU is needed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cs_helpers import PROBE, SONAMES, clean_env, cudaswitch_cmd

# Tries to load the 11.x and the 12.x libcudart by soname, the way a linked application would,
# after waiting (at most 60 s) until every slot of the run has arrived: a barrier that only
# passes when the slots really run at the same time. (13.x is left out: on some hosts a global
# loader entry makes it visible to every process, which is what `doctor` warns about.)
PROBE_ALL = textwrap.dedent(f"""
    import json, os, sys, time
    sys.path.insert(0, {str(PROBE.parent)!r})
    import probe
    barrier, expected = sys.argv[1], int(sys.argv[2])
    open(os.path.join(barrier, str(os.getpid())), "w").close()
    deadline = time.monotonic() + 60
    while len(os.listdir(barrier)) < expected and time.monotonic() < deadline:
        time.sleep(0.02)
    loaded = {{}}
    for so in ({SONAMES["11.8"]!r}, {SONAMES["12.4"]!r}):
        r = probe.probe(so, None, False)
        if r["loaded"]:
            loaded[so] = [r["runtime_rc"], r["runtime_version"]]
    print(json.dumps({{"met": len(os.listdir(barrier)) >= expected, "loaded": loaded,
                       "maps": probe.mapped_cuda_libs(), "cuda_home": os.environ["CUDA_HOME"]}}))
""")


def matrix(*args: str, env: dict[str, str], cwd: str | Path | None = None,
           timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(cudaswitch_cmd("matrix", *args), env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def as_json(proc: subprocess.CompletedProcess) -> dict:
    try:
        return json.loads(proc.stdout)
    except ValueError as e:
        raise AssertionError(f"not JSON (exit {proc.returncode}):\n{proc.stdout}\n"
                             f"{proc.stderr}") from e


def by_slot(data: dict) -> dict[str, dict]:
    return {s["slot"]: s for s in data["slots"]}


@pytest.fixture
def wenv(wheel_roots: Path, runtime_targets: dict[str, Path], tmp_path: Path) -> dict[str, str]:
    """The wheel roots as the only toolkits (no system prefix), with every runtime's folder
    already on LD_LIBRARY_PATH, as a careless profile leaves it: each slot must lose the
    others' folders."""
    libs = [str(runtime_targets["11.8"] / "nvidia/cuda_runtime/lib"),
            str(runtime_targets["12.4"] / "nvidia/cuda_runtime/lib"),
            str(runtime_targets["13.0"] / "nvidia/cu13/lib")]
    return clean_env(CUDASWITCH_PATH=str(wheel_roots), LD_LIBRARY_PATH=":".join(libs),
                     CUDASWITCH_SYSTEM_PREFIX=str(tmp_path / "no-system"))


def test_probe_under_11_and_12_in_parallel_sees_only_its_own_runtime(wenv, tmp_path):
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    logs = tmp_path / "logs"
    proc = matrix("--slots", "cuda11,cuda12", "--parallel", "2", "--json", "--log-dir",
                  str(logs), "--", sys.executable, "-I", "-S", "-c", PROBE_ALL, str(barrier),
                  "2", env=wenv)
    data = as_json(proc)
    assert proc.returncode == 0, proc.stderr
    slots = by_slot(data)
    assert sorted(slots) == ["cuda11.8", "cuda12.4"]
    for name, key, version in (("cuda11.8", "11.8", 11080), ("cuda12.4", "12.4", 12040)):
        s = slots[name]
        assert s["status"] == "pass" and s["exit_code"] == 0
        report = json.loads(Path(s["log"]).read_text().strip().splitlines()[-1])
        assert report["met"], f"{name} never saw the other slot running"
        assert list(report["loaded"]) == [SONAMES[key]], report
        rc, got = report["loaded"][SONAMES[key]]
        # 11.x asks the driver even for its own version: without one it answers 35.
        assert (rc, got) == (0, version) or (key == "11.8" and rc == 35), report
        cudarts = [m for m in report["maps"] if "/libcudart.so" in m]
        assert len(cudarts) == 1, report["maps"]
        assert cudarts[0].startswith(s["toolkit_root"] + os.sep), (cudarts, s["toolkit_root"])
        assert os.path.realpath(report["cuda_home"]) == s["toolkit_root"]
    assert slots["cuda11.8"]["toolkit_root"] != slots["cuda12.4"]["toolkit_root"]


DUMP_ENV = "import json, os; print(json.dumps(dict(os.environ), sort_keys=True))"


@pytest.mark.parametrize("slot,version", [("cuda11.8", "11.8.89"), ("cuda13.0", "13.0.96")])
def test_each_slot_gets_exactly_the_exec_environment(wenv, tmp_path, slot, version):
    proc = matrix("--slots", slot, "--json", "--log-dir", str(tmp_path), "--",
                  sys.executable, "-c", DUMP_ENV, env=wenv)
    assert proc.returncode == 0, proc.stderr
    in_matrix = json.loads(Path(by_slot(as_json(proc))[slot]["log"]).read_text())
    direct = subprocess.run(cudaswitch_cmd("exec", "--cuda", version, "--", sys.executable,
                                           "-c", DUMP_ENV),
                            env=wenv, capture_output=True, text=True, timeout=120, check=True)
    assert in_matrix == json.loads(direct.stdout)


FAIL_ON_12 = ("import os, sys; home = os.environ['CUDA_HOME']; print('ran under', home); "
              "sys.exit(7 if 'cuda-12.4' in home else 0)")


def test_one_failing_slot_fails_the_matrix_shows_its_output_and_others_complete(wenv, tmp_path):
    proc = matrix("--json", "--log-dir", str(tmp_path), "--", sys.executable, "-c",
                  FAIL_ON_12, env=wenv)
    assert proc.returncode == 1, proc.stderr
    slots = by_slot(as_json(proc))
    assert {k: v["status"] for k, v in slots.items()} == {
        "cuda11.8": "pass", "cuda12.4": "fail", "cuda13.0": "pass"}
    assert slots["cuda12.4"]["exit_code"] == 7
    assert "----- cuda12.4 (exit 7, fail) -----" in proc.stderr
    assert "ran under" in proc.stderr.split("----- cuda12.4")[1]
    assert "----- cuda11.8" not in proc.stderr


def test_text_summary_table_and_plain_progress_when_not_a_tty(wenv, tmp_path):
    proc = matrix("--log-dir", str(tmp_path), "--", sys.executable, "-c", FAIL_ON_12, env=wenv)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["SLOT", "CUDA", "VERDICT", "EXIT", "TIME", "RESULT"]
    row = next(x for x in lines if x.startswith("cuda12.4 ")).split()
    assert row[:4] == ["cuda12.4", "12.4.127", "unknown", "7"] and row[-1] == "fail"
    assert "2 passed, 1 failed, 0 skipped" in proc.stdout
    assert "\x1b[" not in proc.stderr  # no redraw codes in a log
    assert any(x.startswith("matrix: cuda12.4") and "FAIL" in x for x in proc.stderr.splitlines())


def test_unsupported_slots_are_skipped_with_the_reason_and_strict_fails(wenv, tmp_path):
    # A CUDA 11.4 driver: 11.8 runs through minor-version compatibility, 12.x and 13.x cannot.
    env = {**wenv, "CUDASWITCH_DRIVER_VERSION": "470.57.02"}
    cmd = ("--", sys.executable, "-c", "print('ok')")
    proc = matrix("--json", "--log-dir", str(tmp_path / "a"), *cmd, env=env)
    assert proc.returncode == 0, proc.stderr
    slots = by_slot(as_json(proc))
    assert slots["cuda11.8"]["status"] == "pass"
    assert slots["cuda11.8"]["verdict"] == "minor-compat"
    for name in ("cuda12.4", "cuda13.0"):
        assert slots[name]["status"] == "skip" and slots[name]["outcome"] == "skip"
        assert slots[name]["verdict"] == "unsupported"
        assert "driver 470.57.02" in slots[name]["reason"], slots[name]["reason"]
        assert slots[name]["exit_code"] is None and slots[name]["log"] is None

    strict = matrix("--strict", "--json", "--log-dir", str(tmp_path / "b"), *cmd, env=env)
    assert strict.returncode == 1
    s = by_slot(as_json(strict))
    assert s["cuda11.8"]["status"] == "pass"
    assert s["cuda12.4"]["status"] == "fail" and "--strict" in s["cuda12.4"]["reason"]


def test_gpu_arch_a_toolkit_cannot_build_for_is_a_skip(wenv, tmp_path):
    # sm_120 (Blackwell): neither 11.8 nor 12.4 has code for it (12.8 is the first); 13.0 has.
    env = {**wenv, "CUDASWITCH_DRIVER_VERSION": "580.95.05", "CUDASWITCH_GPU_ARCH": "12.0"}
    proc = matrix("--json", "--log-dir", str(tmp_path), "--", sys.executable, "-c", "pass",
                  env=env)
    slots = by_slot(as_json(proc))
    for name in ("cuda11.8", "cuda12.4"):
        assert slots[name]["status"] == "skip"
        assert "sm_120" in slots[name]["reason"], slots[name]["reason"]
    assert slots["cuda13.0"]["status"] == "pass"
    assert proc.returncode == 0


def test_a_matrix_where_nothing_could_run_fails(wenv, tmp_path):
    env = {**wenv, "CUDASWITCH_DRIVER_VERSION": "418.40.04"}
    proc = matrix("--log-dir", str(tmp_path), "--", sys.executable, "-c", "pass", env=env)
    assert proc.returncode == 1
    assert "0 passed, 0 failed, 3 skipped" in proc.stdout
    assert "no slot could run on this host" in proc.stdout


def test_manifest_slots_not_installed_are_skipped_with_the_sync_hint(wenv, tmp_path):
    manifest = tmp_path / "cudaswitch.toml"
    manifest.write_text('[[slot]]\nname = "cuda11"\ncuda = "11.8"\n\n'
                        '[[slot]]\nname = "cuda12"\ncuda = "12.4"\n')
    env = {**wenv, "CUDASWITCH_CONFIG": str(manifest), "CUDASWITCH_HOME": str(tmp_path / "home")}
    proc = matrix("--json", "--log-dir", str(tmp_path / "logs"), "--", "true", env=env)
    slots = by_slot(as_json(proc))
    assert list(slots) == ["cuda11", "cuda12"]  # the manifest's, not the implicit ones
    assert all(s["status"] == "skip" and s["verdict"] == "not-installed"
               and "cudaswitch sync" in s["reason"] for s in slots.values())
    assert proc.returncode == 1


def test_installed_slots_run_with_the_exec_slot_environment(runtime_slots, tmp_path):
    _home, env = runtime_slots
    proc = matrix("--json", "--log-dir", str(tmp_path), "--", sys.executable, "-c", DUMP_ENV,
                  env=env)
    assert proc.returncode == 0, proc.stderr
    slots = by_slot(as_json(proc))
    assert sorted(slots) == ["cuda11.8", "cuda12.4"]
    for name, s in slots.items():
        assert s["source"] == "installed" and s["exec"][:4] == ["cudaswitch", "exec", "--slot",
                                                                 name]
        direct = subprocess.run(cudaswitch_cmd("exec", "--slot", name, "--", sys.executable,
                                               "-c", DUMP_ENV),
                                env=env, capture_output=True, text=True, timeout=120,
                                check=True)
        assert json.loads(Path(s["log"]).read_text()) == json.loads(direct.stdout)


def test_unknown_slot_and_missing_command_are_usage_errors(wenv):
    bad = matrix("--slots", "cuda9", "--", "true", env=wenv)
    assert bad.returncode == 2
    assert "no slot 'cuda9'" in bad.stderr and "cuda11.8" in bad.stderr
    assert matrix(env=wenv).returncode == 2


def test_a_command_missing_from_the_slot_path_is_an_error_with_127(wenv, tmp_path):
    proc = matrix("--slots", "cuda12", "--json", "--log-dir", str(tmp_path), "--",
                  "no-such-command-xyz", env=wenv)
    assert proc.returncode == 1
    s = by_slot(as_json(proc))["cuda12.4"]
    assert s["status"] == "error" and s["exit_code"] == 127
    assert "command not found" in s["reason"]


WRITE_HERE = ("import os, pathlib; p = pathlib.Path('out.txt'); "
              "p.write_text(os.environ['CUDA_HOME']); "
              "print(sorted(os.listdir('.')))")


def test_isolated_dir_gives_each_slot_its_own_copy_of_the_tree(wenv, tmp_path):
    tree = tmp_path / "tree"
    (tree / "src").mkdir(parents=True)
    (tree / "src" / "app.py").write_text("x = 1\n")
    (tree / ".git").mkdir()
    (tree / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    copies = tmp_path / "copies"
    proc = matrix("--slots", "cuda11,cuda12", "--isolated-dir", str(copies), "--json",
                  "--log-dir", str(tmp_path / "logs"), "--", sys.executable, "-c", WRITE_HERE,
                  env=wenv, cwd=tree)
    assert proc.returncode == 0, proc.stderr
    slots = by_slot(as_json(proc))
    for name, s in slots.items():
        copy = copies / name
        assert s["cwd"] == str(copy)
        assert (copy / "src" / "app.py").read_text() == "x = 1\n"
        assert not (copy / ".git").exists()
        assert os.path.realpath((copy / "out.txt").read_text()) == s["toolkit_root"]
    assert not (tree / "out.txt").exists()
    # A second run replaces its own copies; a folder it did not make is never deleted.
    again = matrix("--slots", "cuda11", "--isolated-dir", str(copies), "--log-dir",
                   str(tmp_path / "logs2"), "--", "true", env=wenv, cwd=tree)
    assert again.returncode == 0, again.stderr
    (copies / "cuda12.4").joinpath(".cudaswitch-matrix-copy").unlink()
    (copies / "cuda12.4" / "precious").write_text("keep")
    third = matrix("--slots", "cuda12", "--isolated-dir", str(copies), "--json", "--log-dir",
                   str(tmp_path / "logs3"), "--", "true", env=wenv, cwd=tree)
    assert third.returncode == 1
    assert "not made by cudaswitch matrix" in by_slot(as_json(third))["cuda12.4"]["reason"]
    assert (copies / "cuda12.4" / "precious").read_text() == "keep"


def test_timeout_stops_the_slot_and_everything_it_started(wenv, tmp_path):
    proc = matrix("--slots", "cuda12", "--timeout", "1", "--grace", "1", "--json",
                  "--log-dir", str(tmp_path), "--", "sh", "-c",
                  "trap '' TERM; sleep 300 & echo started; wait", env=wenv)
    assert proc.returncode == 1
    s = by_slot(as_json(proc))["cuda12.4"]
    assert s["status"] == "timeout" and "no exit within 1.0s" in s["reason"]
    assert s["exit_code"] == 128 + 9  # ignored SIGTERM, so SIGKILL after the grace period


def test_live_view_redraws_its_block_in_place_and_plain_view_prints_changes_once():
    import io

    from cudaswitch.matrix import LiveView, PlainView, SlotJob, SlotRef, SlotResult

    jobs = [SlotJob(SlotRef(n, "implicit", v), ("true",), v, "native", "", {}, "/x")
            for n, v in (("cuda11.8", "11.8.89"), ("cuda12.4", "12.4.127"))]
    results = [SlotResult(j) for j in jobs]
    live, plain = io.StringIO(), io.StringIO()
    lv, pv = LiveView(live), PlainView(plain)
    for step in range(2):
        results[0].status, results[0].started = "running", 1.0
        if step:
            results[0].status, results[0].ended, results[0].exit_code = "fail", 3.5, 2
        lv.update(results, now=2.0)
        pv.update(results, now=2.0)
        pv.update(results, now=2.5)  # no change of state: no new line
    text = live.getvalue()
    assert text.count("\x1b[2F") == 1 and text.count("\x1b[2K") == 4
    assert "FAIL" in text.split("\x1b[2F")[1] and "exit 2" in text
    lines = plain.getvalue().splitlines()
    assert len(lines) == 2 and "\x1b" not in plain.getvalue()
    assert lines[0].startswith("matrix: cuda11.8") and "running" in lines[0]
    assert "FAIL" in lines[1] and "2.5s" in lines[1]
