"""Stopping a matrix (SIGTERM from CI, Ctrl-C at a terminal) leaves no process behind.

Every slot's command starts a grandchild and sleeps; one slot ignores SIGTERM so that only the
SIGKILL after the grace period can end it. Whatever was started carries a token in its
environment, and ``/proc`` is scanned for it afterwards: no token, no leftover.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from cs_helpers import clean_env, cudaswitch_cmd

SLEEPER = textwrap.dedent("""
    import os, signal, subprocess, sys, time
    out = sys.argv[1]
    if "cuda-12.4" in os.environ["CUDA_HOME"]:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    tmp = os.path.join(out, f".{os.getpid()}")
    with open(tmp, "w") as f:
        f.write(f"{os.getpid()} {child.pid}")
    os.rename(tmp, os.path.join(out, str(os.getpid())))
    time.sleep(300)
""")


def processes_with(token: str) -> list[int]:
    """Live processes whose environment holds ``token`` (zombies have an empty environ)."""
    found = []
    needle = token.encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle in f.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def wait_for_files(folder: Path, count: int, proc: subprocess.Popen, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while len([p for p in folder.iterdir() if not p.name.startswith(".")]) < count:
        if proc.poll() is not None or time.monotonic() > deadline:
            out, err = proc.communicate(timeout=10)
            raise AssertionError(f"slots did not start (exit {proc.returncode}):\n{out}\n{err}")
        time.sleep(0.05)


def gone_soon(pids: list[int], token: str, limit: float = 10) -> tuple[list[int], list[int]]:
    """What is still alive after a short wait (an orphan's exit is reaped by init, not us)."""
    deadline = time.monotonic() + limit
    while True:
        left = [p for p in pids if alive(p)]
        tagged = processes_with(token)
        if (not left and not tagged) or time.monotonic() > deadline:
            return left, tagged
        time.sleep(0.1)


@pytest.mark.parametrize("sig,as_json", [(signal.SIGTERM, True), (signal.SIGINT, False)],
                         ids=["SIGTERM-json", "SIGINT-text"])
def test_signal_mid_run_stops_every_slot_leaves_no_process_and_prints_summary(
        sig, as_json, wheel_roots, tmp_path):
    token = f"matrix-test-{uuid.uuid4().hex}"
    pids_dir = tmp_path / "pids"
    pids_dir.mkdir()
    env = clean_env(CUDASWITCH_PATH=str(wheel_roots), MATRIX_TEST_TOKEN=token,
                    CUDASWITCH_SYSTEM_PREFIX=str(tmp_path / "no-system"))
    args = ["matrix", "--slots", "cuda11,cuda12,cuda13", "--parallel", "2", "--grace", "2",
            "--log-dir", str(tmp_path / "logs"), "--no-live"]
    if as_json:
        args.append("--json")
    proc = subprocess.Popen(cudaswitch_cmd(*args, "--", sys.executable, "-c", SLEEPER,
                                           str(pids_dir)),
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        wait_for_files(pids_dir, 2, proc)
        pids = [int(x) for p in pids_dir.iterdir() if not p.name.startswith(".")
                for x in p.read_text().split()]
        assert all(alive(p) for p in pids)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 128 + sig, err
    left, tagged = gone_soon(pids, token)
    assert left == [] and tagged == [], f"leftovers: {left} {tagged}"
    if as_json:
        data = json.loads(out)
        statuses = sorted(s["status"] for s in data["slots"])
        assert statuses == ["interrupted", "interrupted", "not-run"], data
        assert data["interrupted"] == sig.name and data["exit_code"] == 128 + sig
        for s in data["slots"]:
            if s["status"] == "interrupted":
                assert s["reason"] == f"stopped by {sig.name}"
                assert s["exit_code"] is not None
    else:
        assert out.splitlines()[0].split()[0] == "SLOT"
        assert f"stopped by {sig.name}" in out
        assert "0 passed, 3 failed" in out


def test_finished_slot_leaves_no_background_process(wheel_roots, tmp_path):
    token = f"matrix-test-{uuid.uuid4().hex}"
    env = clean_env(CUDASWITCH_PATH=str(wheel_roots), MATRIX_TEST_TOKEN=token,
                    CUDASWITCH_SYSTEM_PREFIX=str(tmp_path / "no-system"))
    # The command exits at once but leaves a daemon-like child in its process group.
    proc = subprocess.run(
        cudaswitch_cmd("matrix", "--slots", "cuda12", "--log-dir", str(tmp_path), "--",
                       "sh", "-c", "sleep 300 & echo $! > bg.pid", ),
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    bg = int((tmp_path / "bg.pid").read_text())
    left, tagged = gone_soon([bg], token)
    assert left == [] and tagged == []
