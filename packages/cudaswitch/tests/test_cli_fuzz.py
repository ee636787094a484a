"""Generated arguments and CUDASWITCH_* environments against the real CLI and the entrypoint.

Every command's options are read from the parser itself, so a new flag is fuzzed without
editing this file. Each example runs the command in a child process inside a sandbox folder,
with the network closed (proxies at a refused port, pip without an index), and fails on a
traceback, an exit code that ``cudaswitch --help`` does not list, or a hang.

Values are hostile on purpose: newlines, quotes, ``$``, backslashes, unicode, 5,000 characters,
negative and huge numbers, files where folders are expected and folders where files are, a
deeply nested document. Paths stay inside the sandbox (no value starts with ``/`` or ``~`` or
holds ``..``), since this runs as root in CI. Commands that serve or loop (``portal worker``,
``k8s webhook``, ``k8s operator``) are left out; ``use`` always gets ``--link`` in the
sandbox, ``image build`` always ``--dry-run``, and the programs ``exec`` and ``matrix`` run
come from a short list of harmless ones.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from cudaswitch.cli.main import build_parser
from cudaswitch.registry import EXIT_CODES, VARIABLES

DOCUMENTED = {code for code, _, _ in EXIT_CODES}
TIMEOUT_S = 60
SKIP = {("portal", "worker"), ("k8s", "webhook"), ("k8s", "operator")}
# Child processes run with the network closed: nothing fuzzed may reach an index or a URL.
OFFLINE = {"http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
           "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
           "no_proxy": "", "NO_PROXY": "", "PIP_NO_INDEX": "1", "PIP_RETRIES": "0",
           "PIP_TIMEOUT": "2", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
PROGRAMS = [["true"], ["false"], ["sh", "-c", "exit 3"], ["no-such-program-xyz"],
            ["./no-such-file"]]


def _commands() -> list[tuple[tuple[str, ...], list[argparse.Action]]]:
    """(command words, its actions) for every leaf command of the real parser."""
    out = []

    def walk(parser: argparse.ArgumentParser, words: tuple[str, ...]) -> None:
        for a in parser._actions:
            if isinstance(a, argparse._SubParsersAction):
                for name, sub in a.choices.items():
                    walk(sub, (*words, name))
                return
        if words and words[:2] not in SKIP:
            out.append((words, [a for a in parser._actions if a.dest != "help"]))

    walk(build_parser(), ())
    return out


COMMANDS = _commands()

_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="\0")
_hostile_chars = st.sampled_from(list("\n\r\t'\"$`\\;|&*?[]{}<>=,.:!#%é漢\u202e\u00a0 -_9"))


def _safe(s: str) -> bool:
    return not s.startswith(("/", "~")) and ".." not in s


HOSTILE = st.one_of(
    st.text(_chars, max_size=30),
    st.text(_hostile_chars, min_size=1, max_size=30),
    st.sampled_from(["", "-", "--", "12.4", "11.8", "13.0", "12", "auto", "latest", "0", "-1",
                     "99999999999999999999", "1e309", "nan", ">=12,<13", "12.4.*", "cuda12.4",
                     "cudart,nvrtc", "a\nb", "$HOME", "${PATH}", "`id`", "x; rm -rf y",
                     "9" * 5000, "a" * 5000, "é" * 300, "github", "gitlab", "podman", "bash",
                     "json", "none", "host"]),
).filter(_safe)


def _sandbox_paths(box: Path) -> list[str]:
    return [str(box / n) for n in ("dir", "empty", "file", "nested.json", "deep.toml",
                                   "binary", "missing", "missing/deeper", "link-out",
                                   "dir-link", "manifest.toml")]


def _make_sandbox(box: Path) -> None:
    (box / "work").mkdir(parents=True)
    (box / "dir").mkdir()
    (box / "dir" / "keep.txt").write_text("keep")
    (box / "empty").mkdir()
    (box / "file").write_text("keep")
    (box / "nested.json").write_text("[" * 5000 + "]" * 5000)
    (box / "deep.toml").write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    (box / "binary").write_bytes(bytes(range(256)) * 4)
    (box / "link-out").symlink_to("/nonexistent-cudaswitch-fuzz")
    (box / "dir-link").symlink_to(box / "dir")
    (box / "manifest.toml").write_text(
        '[[slot]]\nname = "a\\nb"\ncuda = "12.4"\ncudnn = "' + "9" * 5000 + '"\n')


@st.composite
def invocations(draw: st.DrawFn, box: Path) -> list[str]:
    words, actions = draw(st.sampled_from(COMMANDS))
    paths = _sandbox_paths(box)
    value = st.one_of(HOSTILE, st.sampled_from(paths))
    argv = list(words)
    opts = [a for a in actions if a.option_strings]
    for a in draw(st.lists(st.sampled_from(opts), max_size=4, unique_by=id)) if opts else []:
        flag = draw(st.sampled_from(a.option_strings))
        if a.nargs == 0:
            argv.append(flag)
        elif a.choices and draw(st.booleans()):
            argv += [flag, str(draw(st.sampled_from(list(a.choices))))]
        else:
            argv += [flag, draw(value)]
    tail: list[str] = []
    for a in actions:
        if a.option_strings:
            continue
        if a.nargs == argparse.REMAINDER:
            tail = ["--", *draw(st.sampled_from(PROGRAMS))]
        elif a.nargs in ("?", "*"):
            argv += draw(st.lists(value, max_size=2 if a.nargs == "*" else 1))
        else:
            argv.append(draw(value))
    if words == ("use",):
        argv += ["--link", str(box / "cuda-link")]
    if words == ("image", "build"):
        argv.append("--dry-run")
    return argv + tail


def _env(box: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CUDASWITCH_", "NVIDIA_", "PIP_")) and k not in (
               "CUDA_VERSION", "CUDA_HOME", "CUDA_PATH", "LD_LIBRARY_PATH", "VIRTUAL_ENV",
               "CONDA_PREFIX", "XDG_DATA_HOME", "XDG_CACHE_HOME", "PYTHONUSERBASE")}
    env.update(OFFLINE)
    env.update(HOME=str(box / "home"), CUDASWITCH_HOME=str(box / "data"),
               CUDASWITCH_CACHE=str(box / "cache"), CUDASWITCH_CACHE_DIR=str(box / "ecache"),
               CUDASWITCH_CONFIG=os.devnull, CUDASWITCH_SYSTEM_PREFIX=str(box / "system"))
    env.update(extra or {})
    return env


def _run(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True,
                              errors="replace", timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail(f"hang: {argv!r:.600} ran past {TIMEOUT_S}s")


def _judge(proc: subprocess.CompletedProcess, what: str) -> None:
    assert "Traceback (most recent call last)" not in proc.stderr, f"{what}\n{proc.stderr}"
    assert proc.returncode in DOCUMENTED, \
        f"{what}: exit {proc.returncode} is not documented\n{proc.stderr[-2000:]}"


FUZZ = settings(max_examples=int(os.environ.get("CUDASWITCH_FUZZ_EXAMPLES", "150")),
                deadline=None, database=None, derandomize=False,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])


def test_every_command_is_fuzzed():
    names = {" ".join(w) for w, _ in COMMANDS}
    assert {"install", "uninstall", "exec", "matrix", "image init", "lock", "use"} <= names
    assert not {"portal worker", "k8s webhook"} & names


@FUZZ
@given(data=st.data())
def test_generated_arguments_end_with_a_documented_code(tmp_path_factory, data):
    box = tmp_path_factory.mktemp("fuzz-args")
    _make_sandbox(box)
    argv = data.draw(invocations(box), label="argv")
    proc = _run([sys.executable, "-m", "cudaswitch.cli.main", *argv], _env(box), box / "work")
    _judge(proc, f"cudaswitch {argv!r:.600}")
    event(f"exit {proc.returncode}")
    assert (box / "dir" / "keep.txt").read_text() == "keep", argv
    assert (box / "file").read_text() == "keep", argv


# Every variable the flow reads, with hostile values; the path-valued ones stay in the sandbox.
ENV_NAMES = sorted({name for name, _, _ in VARIABLES} - {"PATH", "HOME"}
                   | {"CUDASWITCH_CACHE", "CUDASWITCH_CONTAINERS_CONF"})
ENV_PROGRAMS = [["list", "--json"], ["which"], ["exec", "--", "true"], ["env", "12.4"],
                ["doctor", "--json"], ["slot", "list", "--json"], ["uninstall", "12.4"],
                ["require", "check", "--env"]]


@FUZZ
@given(data=st.data())
def test_generated_environments_end_with_a_documented_code(tmp_path_factory, data):
    box = tmp_path_factory.mktemp("fuzz-env")
    _make_sandbox(box)
    value = st.one_of(HOSTILE, st.sampled_from(_sandbox_paths(box)))
    extra = data.draw(st.dictionaries(st.sampled_from(ENV_NAMES), value, max_size=5),
                      label="env")
    env = _env(box, extra)
    args = data.draw(st.sampled_from(ENV_PROGRAMS), label="command")
    proc = _run([sys.executable, "-m", "cudaswitch.cli.main", *args], env, box / "work")
    _judge(proc, f"{extra!r:.800} cudaswitch {args}")
    event(f"{args[0]}: exit {proc.returncode}")
    entry = _run([sys.executable, "-m", "cudaswitch.entrypoint", "true"], env, box / "work")
    _judge(entry, f"{extra!r:.800} cudaswitch-entrypoint true")
    assert (box / "file").read_text() == "keep"
