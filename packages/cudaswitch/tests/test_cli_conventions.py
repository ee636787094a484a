"""Conventions users know from uv and the like: ``-q``/``-v`` anywhere, ``NO_COLOR``, help on
every option and an example for every command, and completions for bash, zsh and fish that a
real shell loads and answers from."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cs_helpers import clean_env, cudaswitch_cmd
from cudaswitch.cli.main import build_parser


def walk(p: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    yield path, p
    for a in p._actions:
        if isinstance(a, argparse._SubParsersAction):
            for name, child in a.choices.items():
                yield from walk(child, (*path, name))


PARSERS = list(walk(build_parser()))


@pytest.mark.parametrize("path,parser", PARSERS, ids=[" ".join(p) or "cudaswitch"
                                                     for p, _ in PARSERS])
def test_every_option_has_help_and_every_command_an_example(path, parser):
    missing = [a.option_strings[0] if a.option_strings else a.dest for a in parser._actions
               if not isinstance(a, argparse._SubParsersAction) and not a.help]
    assert missing == [], f"cudaswitch {' '.join(path)}: options without help: {missing}"
    text = parser.format_help()
    assert "example" in text, f"cudaswitch {' '.join(path)} --help shows no example"
    assert "-q, --quiet" in text or "--quiet" in text


def cs(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cudaswitch_cmd(*args), capture_output=True, text=True, timeout=60,
                          env=clean_env(**extra))


@pytest.mark.parametrize("argv", [("-q", "env", "12.4", "--shell", "bash"),
                                  ("env", "12.4", "--shell", "bash", "-q"),
                                  ("env", "-q", "12.4", "--shell", "bash")])
def test_quiet_anywhere_leaves_only_the_result(argv, wheel_roots):
    loud = cs("env", "12.4", "--shell", "bash", CUDASWITCH_PATH=str(wheel_roots))
    quiet = cs(*argv, CUDASWITCH_PATH=str(wheel_roots))
    assert loud.returncode == quiet.returncode == 0, quiet.stderr
    assert "CUDA 12.4" in loud.stderr
    assert quiet.stderr == ""
    assert quiet.stdout == loud.stdout


def test_verbose_says_why(wheel_roots):
    plain = cs("env", "12.4", "--shell", "bash", CUDASWITCH_PATH=str(wheel_roots))
    verbose = cs("-v", "env", "12.4", "--shell", "bash", CUDASWITCH_PATH=str(wheel_roots))
    assert verbose.returncode == 0, verbose.stderr
    assert "requested 12.4" in verbose.stderr and "requested 12.4" not in plain.stderr


def test_quiet_still_shows_errors():
    proc = cs("-q", "which", "not-a-spec")
    assert proc.returncode == 2 and "error" in proc.stderr


@pytest.mark.parametrize("extra,colored", [
    ({"FORCE_COLOR": "1"}, True),
    ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, False),
    ({"CLICOLOR_FORCE": "1", "NO_COLOR": "yes"}, False),
    ({}, False),  # a pipe, not a terminal
])
def test_no_color_wins(extra, colored):
    env = {k: v for k, v in extra.items()}
    proc = subprocess.run(cudaswitch_cmd("which", "not-a-spec"), capture_output=True, text=True,
                          timeout=60, env={**{k: v for k, v in clean_env().items()
                                              if k not in ("NO_COLOR", "FORCE_COLOR",
                                                           "CLICOLOR_FORCE")}, **env})
    assert proc.returncode == 2
    assert ("\x1b[" in proc.stderr) is colored


def completion_env() -> dict[str, str]:
    env = clean_env()
    env["PATH"] = f"{os.path.dirname(sys.executable)}{os.pathsep}{env['PATH']}"
    return env


def test_bash_completes_commands_and_options_for_real():
    if not shutil.which("cudaswitch", path=completion_env()["PATH"]):
        pytest.skip("the cudaswitch script is not installed beside this interpreter")
    script = """
source <(cudaswitch completions bash)
complete_line() {
    COMP_LINE="$1"; COMP_POINT=${#COMP_LINE}; read -ra COMP_WORDS <<< "$1 "
    [[ "$1" == *" " ]] && COMP_WORDS+=("")
    COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
    COMPREPLY=()
    _python_argcomplete cudaswitch "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    printf '%s\\n' "${COMPREPLY[@]}"
}
echo ---; complete_line "cudaswitch ex"
echo ---; complete_line "cudaswitch env --o"
echo ---; complete_line "cudaswitch completions "
"""
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60,
                          env=completion_env())
    assert proc.returncode == 0, proc.stderr
    _, first, second, third = proc.stdout.split("---\n")
    assert "exec" in first.split()
    assert "--off" in second.split()
    assert set(third.split()) == {"bash", "zsh", "fish"}


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_parse_in_their_shell(shell):
    if not shutil.which(shell):
        pytest.skip(f"{shell} is not installed (.ci/run installs it)")
    proc = cs("completions", shell)
    assert proc.returncode == 0 and proc.stdout
    check = subprocess.run([shell, "-n"], input=proc.stdout, capture_output=True, text=True,
                           timeout=30)
    assert check.returncode == 0, check.stderr


def test_fish_completes_for_real():
    if not shutil.which("fish"):
        pytest.skip("fish is not installed (.ci/run installs it)")
    script = "cudaswitch completions fish | source; complete -C 'cudaswitch env --o'"
    proc = subprocess.run(["fish", "-c", script], capture_output=True, text=True, timeout=60,
                          env=completion_env())
    assert proc.returncode == 0, proc.stderr
    assert "--off" in proc.stdout.split()


@pytest.mark.parametrize("n,text", [(0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"),
                                    (3 * 2**20 + 2**19, "3.5 MiB"), (3_000_000_000, "2.8 GiB"),
                                    (2**50, "1024.0 TiB")])
def test_one_size_style(n, text):
    from cudaswitch.units import human_size
    assert human_size(n) == text


SIZE_HANDMADE = re.compile(r"1e6|1000\s*\*\*\s*2|/\s*2\s*\*\*\s*20|\bMB\b|:,\.\df")


def test_no_command_formats_sizes_by_itself():
    """Sizes go through ``units.human_size`` (binary units, as uv prints them), so that
    ``list --sizes``, ``slot list``, ``uninstall``, ``image`` and the install progress agree."""
    src = Path(__file__).resolve().parents[1] / "src" / "cudaswitch"
    files = [*(src / "cli").glob("*.py"), src / "install" / "progress.py"]
    offenders = [f"{f.name}:{i}" for f in files
                 for i, line in enumerate(f.read_text().splitlines(), 1)
                 if SIZE_HANDMADE.search(line.split("#")[0])]
    assert offenders == []
