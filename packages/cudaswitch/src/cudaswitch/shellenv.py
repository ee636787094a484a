"""A plan's environment as shell code to ``eval``: bash, zsh, fish or POSIX sh; and the way back.

The first switch saves, in ``CUDASWITCH_SAVED``, the value every variable it changes had before
(``null`` for one that was unset); later switches add only variables not saved yet. ``env
--off`` and the ``cudaswitch_deactivate`` function the code defines put those values back and
unset the rest, so the shell ends exactly as it was before the first switch (conda's
``deactivate``, Lmod's ``module purge``).

The function is not called ``deactivate``: a Python venv's ``activate`` script first runs
``deactivate nondestructive``, which would undo the CUDA switch whenever a venv is entered.

``CUDASWITCH_ACTIVE`` (``NAME@ROOT``, set by :mod:`cudaswitch.plan`) is how the rest of
cudaswitch (``which``, ``exec``, ``list``) knows what this shell is switched to: a switch sets
it, the way back restores its earlier value (usually unset). Keep its name and meaning.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Mapping

from .errors import UsageError
from .plan import Plan

SHELLS = ("bash", "zsh", "fish", "sh")
SAVED_ENV = "CUDASWITCH_SAVED"
DEACTIVATE = "cudaswitch_deactivate"
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Process names as ``/proc/PID/comm`` or ``$SHELL`` show them, and the syntax each one reads.
_SHELL_NAMES = {"bash": "bash", "zsh": "zsh", "fish": "fish", "sh": "sh", "dash": "sh",
                "ash": "sh", "ksh": "sh", "mksh": "sh", "busybox": "sh"}


def detect_shell(env: Mapping[str, str], parent: str | None) -> str:
    """The shell that will ``eval`` the output: the parent process first (the shell running
    ``eval "$(cudaswitch env ...)"``), then ``$SHELL`` (when run through ``uv run`` and the
    like); anything else is an error asking for ``--shell``."""
    for candidate in (parent or "", env.get("SHELL") or ""):
        name = os.path.basename(candidate.strip().lstrip("-"))
        if name in _SHELL_NAMES:
            return _SHELL_NAMES[name]
    raise UsageError(f"cannot tell which shell reads this (parent process {parent!r}, "
                     f"SHELL={env.get('SHELL', '')!r:.60}); pass --shell "
                     f"{'|'.join(SHELLS)}")


def parent_process_name() -> str | None:
    try:
        with open(f"/proc/{os.getppid()}/comm", encoding="utf-8", errors="replace") as f:
            return f.read(64).strip() or None
    except OSError:
        return None


def _quote(value: str, shell: str) -> str:
    if shell == "fish":
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return shlex.quote(value)


def _assign(key: str, value: str | None, shell: str) -> str:
    if value is None:
        return f"set -e {key};" if shell == "fish" else f"unset {key};"
    if shell == "fish":
        return f"set -gx {key} {_quote(value, shell)};"
    return f"export {key}={_quote(value, shell)};"


def saved(base: Mapping[str, str]) -> dict[str, str | None]:
    """What the first switch saved; anything unreadable counts as nothing saved."""
    try:
        data = json.loads(base.get(SAVED_ENV) or "{}")
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items()
            if isinstance(k, str) and _NAME_RE.match(k) and (v is None or isinstance(v, str))}


def _restore_lines(before: Mapping[str, str | None], shell: str) -> list[str]:
    lines = [_assign(k, v, shell) for k, v in sorted(before.items()) if k != SAVED_ENV]
    lines.append(_assign(SAVED_ENV, None, shell))
    return lines


def _function(before: Mapping[str, str | None], shell: str) -> str:
    body = _restore_lines(before, shell)
    if shell == "fish":
        return " ".join([f"function {DEACTIVATE};", *body, f"functions -e {DEACTIVATE};",
                         "end;"])
    return "\n".join([f"{DEACTIVATE}() {{", *(f"    {b}" for b in body),
                      f"    unset -f {DEACTIVATE};", "}"])


def _check(shell: str) -> None:
    if shell not in SHELLS:
        raise UsageError(f"unknown shell {shell!r}; choose one of {', '.join(SHELLS)}")


def render(plan: Plan, base: Mapping[str, str], shell: str) -> str:
    """Only what differs from ``base``: switching twice rewrites the same variables."""
    _check(shell)
    changed, unset = plan.changes(base)
    before = saved(base)
    lines = []
    for key in sorted(changed):
        if _NAME_RE.match(key) and key != SAVED_ENV:
            lines.append(_assign(key, changed[key], shell))
            before.setdefault(key, base.get(key))
    for key in sorted(unset):
        if _NAME_RE.match(key) and key != SAVED_ENV:
            lines.append(_assign(key, None, shell))
            before.setdefault(key, base.get(key))
    lines.append(_assign(SAVED_ENV, json.dumps(before, sort_keys=True, ensure_ascii=False),
                         shell))
    lines.append(_function(before, shell))
    return "\n".join(lines)


def render_off(base: Mapping[str, str], shell: str) -> str:
    """The way back to before the first switch; empty when this shell was never switched."""
    _check(shell)
    if SAVED_ENV not in base:
        return ""
    lines = _restore_lines(saved(base), shell)
    lines.append(f"functions -e {DEACTIVATE};" if shell == "fish"
                 else f"unset -f {DEACTIVATE} 2>/dev/null || true;")
    return "\n".join(lines)
