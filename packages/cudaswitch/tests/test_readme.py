"""Every `cudaswitch ...` line in the README parses with the real parser, and the read-only ones
run against real runtimes and exit as documented."""

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from cs_helpers import clean_env, cudaswitch_cmd
from cudaswitch.cli.main import COMMANDS, build_parser

README = Path(__file__).resolve().parents[3] / "README.md"


def readme_commands() -> list[list[str]]:
    out = []
    for block in re.findall(r"```sh\n(.*?)```", README.read_text(), re.S):
        for line in block.splitlines():
            line = line.split("  #")[0].split(" > ")[0].strip()
            if line.startswith("#"):
                continue
            for cmd in re.findall(r"(?:^|\$\(|&& )(cudaswitch [^)&|]+)", line):
                out.append(shlex.split(cmd.replace('"', "").strip()))
    return out


COMMANDS_IN_README = readme_commands()


def test_readme_has_examples():
    assert len(COMMANDS_IN_README) >= 20


@pytest.mark.parametrize("argv", COMMANDS_IN_README, ids=lambda a: " ".join(a[1:4]))
def test_readme_line_parses(argv):
    assert argv[1] in COMMANDS, f"README names an unknown command: {argv}"
    args = build_parser(COMMANDS[argv[1]]).parse_args(argv[1:])
    assert callable(args.func)


READ_ONLY = ("list", "which", "compat", "require", "doctor", "slot")


@pytest.mark.parametrize("argv", [a for a in COMMANDS_IN_README if a[1] in READ_ONLY],
                         ids=lambda a: " ".join(a[1:4]))
def test_readme_read_only_lines_run(argv, wheel_roots):
    out = subprocess.run(cudaswitch_cmd(*argv[1:]), env=clean_env(CUDASWITCH_PATH=str(wheel_roots)),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode in (0, 1), (argv, out.stderr)
    assert "Traceback" not in out.stderr
