"""Shell life like conda and Lmod: ``cudaswitch env`` in real bash, zsh, fish and dash shells.

Each test dumps the whole environment (``env -0``) before the first switch and after the way
back, and compares them: ``env --off`` and ``cudaswitch_deactivate`` restore it exactly, values
with quotes, newlines, ``$`` and unicode included.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from cs_helpers import clean_env, cudaswitch_cmd
from cudaswitch.errors import UsageError
from cudaswitch.shellenv import detect_shell

CS = shlex.join(cudaswitch_cmd())
HOSTILE_HOME = "/opt/it's \"mine\"\n$HOME `id` ünï 🚀\\"
# What the shell itself changes between two dumps, whatever cudaswitch does.
SHELL_OWN = {"_", "SHLVL", "PWD", "OLDPWD"}

SCRIPTS = {
    "bash": ('env -0 > before; eval "$({cs} env 11.8)"; eval "$({cs} env 12.4)"; '
             'printf %s "$CUDA_HOME" > during; {back}; env -0 > after'),
    "zsh": ('env -0 > before; eval "$({cs} env 11.8)"; eval "$({cs} env 12.4)"; '
            'printf %s "$CUDA_HOME" > during; {back}; env -0 > after'),
    "dash": ('env -0 > before; eval "$({cs} env 11.8)"; eval "$({cs} env 12.4)"; '
             'printf %s "$CUDA_HOME" > during; {back}; env -0 > after'),
    "fish": ("env -0 > before; {cs} env 11.8 | source; {cs} env 12.4 | source; "
             "printf %s \"$CUDA_HOME\" > during; {back}; env -0 > after"),
}
BACK = {
    "off": {"bash": 'eval "$({cs} env --off)"', "zsh": 'eval "$({cs} env --off)"',
            "dash": 'eval "$({cs} env --off)"', "fish": "{cs} env --off | source"},
    "function": {s: "cudaswitch_deactivate" for s in SCRIPTS},
}


def dump(path: Path) -> dict[str, str]:
    items = path.read_bytes().split(b"\0")
    return dict(i.decode().split("=", 1) for i in items if i)


def shell_env(wheel_roots: Path, **extra: str) -> dict[str, str]:
    env = clean_env(CUDASWITCH_PATH=str(wheel_roots))
    env["LD_LIBRARY_PATH"] = "/usr/local/nvidia/lib64:/opt/mine/lib:/usr/local/cuda-10.2/lib64"
    env["PATH"] = "/usr/local/cuda-10.2/bin:" + env["PATH"]
    env.update(extra)
    return env


@pytest.mark.parametrize("how", ["off", "function"])
@pytest.mark.parametrize("shell", list(SCRIPTS))
def test_the_way_back_restores_the_environment_exactly(shell, how, wheel_roots, tmp_path):
    if not shutil.which(shell):
        pytest.skip(f"{shell} is not installed (.ci/run installs it)")
    env = shell_env(wheel_roots, CUDA_HOME=HOSTILE_HOME, CUDA_PATH="/opt/x y")
    env.pop("SHELL", None)  # the shell must be found from the parent process
    back = BACK[how][shell].format(cs=CS)
    script = SCRIPTS[shell].format(cs=CS, back=back)
    proc = subprocess.run([shell, "-c", script], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "cuda-12.4" in (tmp_path / "during").read_text()
    before, after = dump(tmp_path / "before"), dump(tmp_path / "after")
    for key in SHELL_OWN:
        before.pop(key, None)
        after.pop(key, None)
    assert after == before
    assert before["CUDA_HOME"] == HOSTILE_HOME


def test_off_without_a_switch_changes_nothing(wheel_roots):
    proc = subprocess.run(cudaswitch_cmd("env", "--off", "--shell", "bash"),
                          env=shell_env(wheel_roots), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""
    assert "nothing to restore" in proc.stderr


def test_off_with_a_spec_is_a_usage_error(wheel_roots):
    proc = subprocess.run(cudaswitch_cmd("env", "12", "--off", "--shell", "bash"),
                          env=shell_env(wheel_roots), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "--off" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("parent,shell_var,want", [
    ("bash", "/usr/bin/fish", "bash"),
    ("-zsh", "/bin/bash", "zsh"),
    ("fish", "/bin/bash", "fish"),
    ("dash", "", "sh"),
    ("python3", "/usr/bin/fish", "fish"),
    ("uv", "/bin/zsh", "zsh"),
    (None, "/bin/bash", "bash"),
])
def test_detect_shell(parent, shell_var, want):
    assert detect_shell({"SHELL": shell_var}, parent) == want


@pytest.mark.parametrize("parent,shell_var", [("python3", "/bin/tcsh"), (None, ""),
                                              ("make", "/bin/csh\nbash")])
def test_an_unknown_shell_is_named_not_guessed(parent, shell_var):
    with pytest.raises(UsageError, match="--shell"):
        detect_shell({"SHELL": shell_var}, parent)


def test_fish_parent_gets_fish_code_even_when_SHELL_says_bash(wheel_roots):
    if not shutil.which("fish"):
        pytest.skip("fish is not installed (.ci/run installs it)")
    env = shell_env(wheel_roots, SHELL="/bin/bash")
    proc = subprocess.run(["fish", "-c", f"{CS} env 12.4"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "set -gx CUDA_HOME " in proc.stdout and "export " not in proc.stdout
