"""CI matrix definitions generated from the slots: one job per slot, each one ``exec``.

Where CI runs each job on its own machine, the CI tool is the better scheduler, so instead of
running ``cudaswitch matrix`` in one job, it can write the matrix for GitHub Actions or GitLab
CI: every job installs its slot (``cudaswitch sync --slot NAME`` from the manifest, or ``cudaswitch
install X.Y`` for a slot that only exists on this host) and runs the command under
``cudaswitch exec --slot``.

YAML is written by hand (no YAML library at run time): every scalar is a JSON string, which is
a valid YAML double-quoted scalar, so no value is ever read back as a boolean or a number.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Sequence
from typing import Any, Literal

from ..errors import UsageError
from ..versions import CudaVersion, SpecError
from .jobs import SlotRef

Flavour = Literal["github", "gitlab"]
FLAVOURS: tuple[str, ...] = ("github", "gitlab")
DEFAULT_COMMAND = ("python", "-m", "pytest")
INSTALL_CUDASWITCH = "python -m pip install cudaswitch"
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
# YAML 1.1 reads these unquoted as booleans (GitHub's ``on:`` is the famous one).
_YAML11_BOOLS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false"})


def _key(k: str) -> str:
    return k if _PLAIN_KEY.match(k) and k.lower() not in _YAML11_BOOLS else json.dumps(k)


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return json.dumps(str(v))


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


def github_workflow(refs: Sequence[SlotRef], argv: Sequence[str],
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
                    {"name": "Install cudaswitch", "run": INSTALL_CUDASWITCH},
                    {"name": "Install slot ${{ matrix.slot }}", "run": "${{ matrix.setup }}"},
                    {"name": "Run under ${{ matrix.slot }}", "run": command},
                ],
            },
        },
    }


def gitlab_ci(refs: Sequence[SlotRef], argv: Sequence[str], tags: Sequence[str] = (),
              image: str = "python:3.11") -> dict:
    job: dict[str, Any] = {
        "image": image,
        "parallel": {"matrix": [{"CUDA_SLOT": r.name, "CUDA_SLOT_SETUP": _setup(r)}
                                for r in refs]},
        "script": [
            INSTALL_CUDASWITCH,
            'sh -c "$CUDA_SLOT_SETUP"',
            'cudaswitch exec --slot "$CUDA_SLOT" -- ' + shlex.join(argv),
        ],
    }
    if tags:
        job["tags"] = list(tags)
    return {"stages": ["test"], "cuda-matrix": {"stage": "test", **job}}


def emit(flavour: str, refs: Sequence[SlotRef], argv: Sequence[str] = (),
         runs_on: Sequence[str] = ()) -> str:
    """The CI file as text, headed by how it was produced so it can be regenerated."""
    if flavour not in FLAVOURS:
        raise UsageError(f"--emit: one of {', '.join(FLAVOURS)} (got {flavour!r})")
    if not refs:
        raise UsageError("--emit: no slots to put in the matrix")
    if len(refs) > 200:
        raise UsageError(f"--emit: {len(refs)} slots; CI matrices take at most 200 jobs")
    argv = list(argv) or list(DEFAULT_COMMAND)
    if flavour == "github":
        data = github_workflow(refs, argv, runs_on or ("ubuntu-latest",))
        where = ".github/workflows/cuda-matrix.yml"
    else:
        data = gitlab_ci(refs, argv, runs_on)
        where = ".gitlab-ci.yml"
    head = (f"# {where}: one job per cudaswitch slot "
            f"({', '.join(r.name for r in refs)}).\n"
            f"# Regenerate with: cudaswitch matrix --emit {flavour} -- {shlex.join(argv)}\n")
    return head + to_yaml(data) + "\n"
