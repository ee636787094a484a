"""CI matrix definitions generated from the slots: one job per slot, each one ``exec``.

Where CI runs each job on its own machine, the CI tool is the better scheduler, so instead of
running ``cudaswitch matrix`` in one job, it can write the matrix for GitHub Actions or GitLab
CI: every job installs cudaswitch from a source the pipeline can reach (``--install-from``: a
wheel in the repository or at a hash-pinned URL, or a git repository at a commit), installs its
slot (``cudaswitch sync --slot NAME`` from the manifest, or ``cudaswitch install X.Y`` for a slot
that only exists on this host) and runs the command under ``cudaswitch exec --slot``.

YAML is written by hand (no YAML library at run time) from structures: every string goes
through :func:`yaml_string`, every comment through :func:`comment_line`, and a test proves both
with generated text through a real YAML parser, so no value can add a key or end a line.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Sequence
from typing import Any, Literal

from ..errors import UsageError
from ..versions import CudaVersion, SpecError
from .jobs import SlotRef

Flavour = Literal["github", "gitlab"]
FLAVOURS: tuple[str, ...] = ("github", "gitlab", "kubernetes")
DEFAULT_COMMAND = ("python", "-m", "pytest")
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
# Words YAML 1.1 reads unquoted as something other than a string: booleans (GitHub's ``on:``
# is the famous one) and null; the key pattern already keeps out numbers, ``~`` and ``.inf``.
_YAML11_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})
_PINNED_REV = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_SHA256_FRAGMENT = re.compile(r"sha256=[0-9a-f]{64}")
INSTALL_FROM_HELP = (
    "where CI gets cudaswitch (it is not on any package index): a wheel in the repository "
    "(dist/cudaswitch-0.1.0-py3-none-any.whl, built with `uv build`), a wheel URL with "
    "#sha256=HASH, or git+https://HOST/REPO@COMMIT[#subdirectory=packages/cudaswitch]; "
    "for kubernetes, the multi-CUDA image the Jobs run (cudaswitch image build)"
)


def _plain(c: str) -> bool:
    """A character YAML and a terminal both show as itself on one line.

    Excludes control characters, every line break YAML 1.1 knows (NEL, LS, PS), the byte-order
    mark and surrogates; ``str.isprintable`` already rules out all of them but the BOM.
    """
    return c.isprintable() and c != "\ufeff"


def _check_utf8(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise UsageError(f"{text[:40]!r} is not valid UTF-8 text; a CI file cannot hold it") from e


def _escape(c: str) -> str:
    n = ord(c)
    if n < 0x100:
        return f"\\x{n:02x}"
    if n < 0x10000:
        return f"\\u{n:04x}"
    return f"\\U{n:08x}"


def yaml_string(text: str) -> str:
    """``text`` as a YAML double-quoted scalar that reads back exactly, on one line."""
    _check_utf8(text)
    body = "".join(
        "\\\\" if c == "\\" else '\\"' if c == '"' else c if _plain(c) else _escape(c)
        for c in text)
    return f'"{body}"'


def comment_line(text: str) -> str:
    """A YAML comment that cannot end early: every unprintable character shown escaped."""
    _check_utf8(text)
    return "# " + "".join(c if _plain(c) else _escape(c) for c in text)


def shell_word(arg: str) -> str:
    """One bash word for ``arg``: plain quoting where it is printable, else ``$'...'`` with the
    UTF-8 bytes of each unprintable character escaped, so the word stays on one line."""
    _check_utf8(arg)
    if all(_plain(c) for c in arg):
        return shlex.quote(arg)
    out = []
    for c in arg:
        if c in "\\'":
            out.append("\\" + c)
        elif _plain(c):
            out.append(c)
        else:
            out.extend(f"\\x{b:02x}" for b in c.encode("utf-8"))
    return "$'" + "".join(out) + "'"


def _key(k: str) -> str:
    return k if _PLAIN_KEY.match(k) and k.lower() not in _YAML11_WORDS else yaml_string(k)


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return yaml_string(str(v))


def to_yaml(data: Any, indent: int = 0) -> str:
    """Block-style YAML for dicts, lists and scalars (the subset CI files need)."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(data, dict):
        for k, v in data.items():
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}{_key(k)}:")
                lines.append(to_yaml(v, indent + 2))
            else:
                value = _empty(v) if isinstance(v, (dict, list)) else _scalar(v)
                lines.append(f"{pad}{_key(k)}: {value}")
    elif isinstance(data, list):
        for item in data:
            if isinstance(item, (dict, list)) and item:
                body = to_yaml(item, indent + 2)
                lines.append(f"{pad}- {body[indent + 2:]}")
            else:
                lines.append(f"{pad}- {_scalar(item)}")
    else:
        lines.append(pad + _scalar(data))
    return "\n".join(lines)


def _empty(v: dict | list) -> str:
    return "{}" if isinstance(v, dict) else "[]"


def install_step(source: str) -> str:
    """The shell line that installs cudaswitch in a pipeline, from ``source`` (see
    ``INSTALL_FROM_HELP``); anything that could drift or be squatted is refused."""
    if not source or not all(_plain(c) for c in source):
        raise UsageError(f"--install-from {source[:60]!r}: empty or holds a control character")
    if source.startswith("git+"):
        url = source.split("#", 1)[0]
        rev = url.rpartition("@")[2] if "@" in url.split("://", 1)[-1] else ""
        if not _PINNED_REV.fullmatch(rev):
            raise UsageError(f"--install-from {source}: name a full commit hash "
                             f"(git+URL@<40 hex digits>), not a branch or tag, so every job "
                             f"installs the same code")
        return "python -m pip install " + shlex.quote(f"cudaswitch @ {source}")
    url, _, fragment = source.partition("#")
    if not url.endswith(".whl"):
        raise UsageError(f"--install-from {source}: not a wheel file or a git URL; "
                         f"{INSTALL_FROM_HELP}")
    if "://" in url:
        if not _SHA256_FRAGMENT.fullmatch(fragment):
            raise UsageError(f"--install-from {source}: a wheel URL needs #sha256=<64 hex "
                             f"digits> so pip checks what it downloads")
        return "python -m pip install " + shlex.quote(f"cudaswitch @ {source}")
    path = os.path.normpath(url)
    if not os.path.isabs(path) and not path.startswith(".."):
        path = "./" + path
    return "python -m pip install " + shlex.quote(path)


def _setup(ref: SlotRef) -> str:
    """The shell line that installs this slot on a fresh CI machine."""
    if ref.source == "manifest":
        return shlex.join(["cudaswitch", "sync", "--slot", ref.name])
    try:
        mm = CudaVersion.parse(ref.cuda or "").major_minor
    except SpecError as e:
        raise UsageError(f"slot {ref.name!r}: no CUDA version recorded, so CI cannot install "
                         f"it; declare it in cudaswitch.toml") from e
    return shlex.join(["cudaswitch", "install", mm, "--name", ref.name])


def github_workflow(refs: Sequence[SlotRef], argv: Sequence[str], install: str,
                    runs_on: Sequence[str] = ("ubuntu-latest",), python: str = "3.11",
                    timeout_minutes: int = 60) -> dict:
    command = shlex.join(["cudaswitch", "exec", "--slot"]) + ' "${{ matrix.slot }}" -- ' \
        + shlex.join(argv)
    return {
        "name": "cuda-matrix",
        "on": ["push", "pull_request"],
        "jobs": {
            "cuda": {
                "name": "${{ matrix.slot }}",
                "runs-on": runs_on[0] if len(runs_on) == 1 else list(runs_on),
                "timeout-minutes": timeout_minutes,
                "strategy": {
                    "fail-fast": False,
                    "matrix": {"include": [{"slot": r.name, "setup": _setup(r)} for r in refs]},
                },
                "steps": [
                    {"uses": "actions/checkout@v4"},
                    {"uses": "actions/setup-python@v5", "with": {"python-version": python}},
                    {"name": "Install cudaswitch", "run": install},
                    {"name": "Install slot ${{ matrix.slot }}", "run": "${{ matrix.setup }}"},
                    {"name": "Run under ${{ matrix.slot }}", "run": command},
                ],
            },
        },
    }


def gitlab_ci(refs: Sequence[SlotRef], argv: Sequence[str], install: str, tags: Sequence[str] = (),
              image: str = "python:3.11") -> dict:
    job: dict[str, Any] = {
        "image": image,
        "parallel": {"matrix": [{"CUDA_SLOT": r.name, "CUDA_SLOT_SETUP": _setup(r)}
                                for r in refs]},
        "script": [
            install,
            'sh -c "$CUDA_SLOT_SETUP"',
            'cudaswitch exec --slot "$CUDA_SLOT" -- ' + shlex.join(argv),
        ],
    }
    if tags:
        job["tags"] = list(tags)
    return {"stages": ["test"], "cuda-matrix": {"stage": "test", **job}}


def emit(flavour: str, refs: Sequence[SlotRef], argv: Sequence[str] = (),
         runs_on: Sequence[str] = (), install_from: str | None = None) -> str:
    """The CI file as text, headed by how it was produced so it can be regenerated."""
    if flavour not in FLAVOURS:
        raise UsageError(f"--emit: one of {', '.join(FLAVOURS)} (got {flavour!r})")
    if flavour == "kubernetes":
        from .kubejobs import emit_kubernetes
        return emit_kubernetes(refs, list(argv) or list(DEFAULT_COMMAND), install_from, runs_on)
    if not install_from:
        raise UsageError(f"--emit {flavour} needs --install-from: {INSTALL_FROM_HELP}")
    install = install_step(install_from)
    if not refs:
        raise UsageError("--emit: no slots to put in the matrix")
    if len(refs) > 200:
        raise UsageError(f"--emit: {len(refs)} slots; CI matrices take at most 200 jobs")
    argv = list(argv) or list(DEFAULT_COMMAND)
    if flavour == "github":
        data = github_workflow(refs, argv, install, runs_on or ("ubuntu-latest",))
        where = ".github/workflows/cuda-matrix.yml"
    else:
        data = gitlab_ci(refs, argv, install, runs_on)
        where = ".gitlab-ci.yml"
    names = [r.name for r in refs]
    again = ["cudaswitch", "matrix", "--emit", flavour, "--slots", ",".join(names)]
    if runs_on:
        again += ["--runs-on", ",".join(runs_on)]
    again += ["--install-from", install_from, "--", *argv]
    head = [comment_line(f"{where}: one job per cudaswitch slot ({', '.join(names)})."),
            comment_line("Regenerate with: " + " ".join(shell_word(a) for a in again))]
    return "\n".join(head) + "\n" + to_yaml(data) + "\n"
