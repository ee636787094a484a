"""Faults of the environment end in one line and a documented code, never a traceback.

Closed pipes, a data home that is a file or read-only, a full disk (a small tmpfs, mounted
where the suite runs as root), flags naming the wrong kind of path.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import slot_env

from cudaswitch.errors import EXIT_ENVIRONMENT, EXIT_USAGE

CLI = [sys.executable, "-m", "cudaswitch.cli.main"]


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=300)


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("cudaswitch: error:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


@contextlib.contextmanager
def tmpfs(where: Path, *options: str):
    where.mkdir(parents=True, exist_ok=True)
    opts = ",".join(("size=1m", *options))
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (not root, or no mount rights): "
                    f"{proc.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.mark.parametrize("args", [["list"], ["list", "--json"], ["compat", "12.4", "--json"],
                                  ["compat", "12.4"], ["--help"]])
def test_output_into_a_closed_pipe_is_no_traceback(tmp_path, args):
    env = slot_env(tmp_path / "home")
    proc = subprocess.Popen([*CLI, *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # `| head -0`: the reader is gone before the first line
    err = proc.stderr.read()
    rc = proc.wait(timeout=60)
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert rc in (0, 141), (rc, err)


@pytest.mark.parametrize("args", [["install", "12.4"], ["uninstall", "12.4"],
                                  ["slot", "list"], ["list"]])
def test_a_data_home_that_is_a_file(tmp_path, args, slot_wheelhouse):
    f = tmp_path / "home"
    f.write_text("not a folder")
    env = slot_env(f)
    if args[0] == "install":
        args = [*args, "--with", "cudart", "--wheelhouse", str(slot_wheelhouse)]
    proc = cli(*args, env=env)
    if proc.returncode != 0:
        line = one_line_error(proc)
        assert proc.returncode == EXIT_USAGE and "CUDASWITCH_HOME" in line, proc.stderr
    assert f.read_text() == "not a folder"


def test_a_read_only_data_home_is_an_environment_fault(tmp_path, slot_wheelhouse):
    with tmpfs(tmp_path / "ro", "ro") as ro:
        proc = cli("install", "12.4", "--with", "cudart", "--wheelhouse", str(slot_wheelhouse),
                   env=slot_env(ro / "home", CUDASWITCH_CACHE=str(tmp_path / "cache")))
    line = one_line_error(proc)
    assert proc.returncode == EXIT_ENVIRONMENT, proc.stderr
    assert "read-only" in line.lower() and str(ro) in line


def test_a_full_disk_is_an_environment_fault_and_leaves_no_slot(tmp_path, slot_wheelhouse):
    with tmpfs(tmp_path / "small") as small:
        env = slot_env(small / "home", CUDASWITCH_CACHE=str(tmp_path / "cache"))
        proc = cli("install", "12.4", "--with", "cudart", "--wheelhouse", str(slot_wheelhouse),
                   env=env)
        line = one_line_error(proc)
        assert proc.returncode == EXIT_ENVIRONMENT, proc.stderr
        assert "no space left" in line.lower()
        toolkits = small / "home" / "toolkits"
        assert not [p for p in toolkits.iterdir() if not p.name.startswith(".")] \
            if toolkits.exists() else True
        left = list((small / "home" / "store" / "tmp").iterdir()) \
            if (small / "home" / "store" / "tmp").exists() else []
        assert left == [], left


@pytest.mark.parametrize("flag", ["--junit", "--log-dir"])
def test_matrix_report_flags_naming_the_wrong_kind_of_path(tmp_path, flag):
    folder = tmp_path / "a-folder"
    folder.mkdir()
    afile = tmp_path / "a-file"
    afile.write_text("keep")
    target = folder if flag == "--junit" else afile
    env = slot_env(tmp_path / "home")
    proc = cli("matrix", flag, str(target), "--", "true", env=env)
    assert "Traceback" not in proc.stderr, proc.stderr
    if proc.returncode != 0:
        one_line_error(proc)
        assert proc.returncode in (EXIT_USAGE, EXIT_ENVIRONMENT, 3), proc.stderr
    assert afile.read_text() == "keep"


def test_matrix_junit_replaces_only_its_own_report(tmp_path, wheel_roots):
    """--junit naming a user's file is refused before any slot runs, the file as it was; an
    earlier report of the matrix is replaced."""
    afile = tmp_path / "notes.xml"
    afile.write_text("<notes>mine</notes>\n")
    ran = tmp_path / "ran"
    env = slot_env(tmp_path / "home", CUDASWITCH_PATH=str(wheel_roots))
    proc = cli("matrix", "--junit", str(afile), "--", "touch", str(ran), env=env)
    assert proc.returncode == EXIT_USAGE and "did not write" in proc.stderr, proc.stderr
    one_line_error(proc)
    assert afile.read_text() == "<notes>mine</notes>\n" and not ran.exists()
    report = tmp_path / "report.xml"
    for _ in range(2):
        proc = cli("matrix", "--junit", str(report), "--", "true", env=env)
        assert proc.returncode == 0, proc.stderr
        assert report.read_bytes().startswith(b"<?xml") and b"cudaswitch matrix" in \
            report.read_bytes()


def test_exit_7_is_in_the_help(tmp_path):
    out = cli("--help", env=slot_env(tmp_path / "home")).stdout
    assert f"  {EXIT_ENVIRONMENT}    " in out


@pytest.mark.parametrize("provider", ["cuda", "torch"])
def test_a_provider_check_child_that_crashes_is_named_not_an_index_error(tmp_path, wheel_roots,
                                                                         provider):
    """The check's child process dies of SIGSEGV before it prints a line (a stand-in python3
    that crashes, as a broken CUDA library would make the real one crash)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "python3"
    fake.write_text("#!/bin/sh\nkill -SEGV $$\n")
    fake.chmod(0o755)
    env = slot_env(tmp_path / "home", CUDASWITCH_PATH=str(wheel_roots))
    env["PATH"] = f"{bindir}:{env['PATH']}"
    proc = cli("exec", "--cuda", "12.4", "--provider", provider, "--", "true", env=env)
    line = one_line_error(proc)
    assert proc.returncode == 5, proc.stderr
    assert "SIGSEGV" in line and "index" not in line, line


def test_a_password_prompt_with_stdin_closed_is_exit_2(tmp_path):
    """Found by the fuzz test: ``portal user add`` without a terminal raised EOFError."""
    env = slot_env(tmp_path / "home")
    proc = subprocess.run([*CLI, "portal", "user", "add", "--role", "viewer", "x",
                           "--data", str(tmp_path / "portal")], env=env, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if "cudaswitch: error:" in ln]
    assert len(errors) == 1 and "standard input" in errors[0], proc.stderr
    assert proc.returncode == EXIT_USAGE, proc.stderr


@pytest.mark.parametrize("args", [["require", "check", "--env"], ["compat", "12.4"]])
@pytest.mark.parametrize("var,value", [("CUDASWITCH_GPU_ARCH", "0"),
                                       ("CUDASWITCH_DRIVER_VERSION", "x\ny")])
def test_a_bad_host_override_is_exit_2(tmp_path, args, var, value):
    """Found by the fuzz test: ``require check --env`` under CUDASWITCH_GPU_ARCH=0 raised."""
    proc = cli(*args, env=slot_env(tmp_path / "home", **{var: value}))
    line = one_line_error(proc)
    assert proc.returncode == EXIT_USAGE and var in line, proc.stderr
