"""A plan's environment as shell code to ``eval``: bash, zsh or fish."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping

from .plan import Plan

SHELLS = ("bash", "zsh", "fish")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _fish_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def render(plan: Plan, base: Mapping[str, str], shell: str) -> str:
    """Only what differs from ``base``: switching twice rewrites the same variables."""
    if shell not in SHELLS:
        raise ValueError(f"unknown shell {shell!r}; choose one of {', '.join(SHELLS)}")
    changed, unset = plan.changes(base)
    lines = []
    for key in sorted(changed):
        if not _NAME_RE.match(key):
            continue
        if shell == "fish":
            lines.append(f"set -gx {key} {_fish_quote(changed[key])};")
        else:
            lines.append(f"export {key}={shlex.quote(changed[key])};")
    for key in sorted(unset):
        if not _NAME_RE.match(key):
            continue
        lines.append(f"set -e {key};" if shell == "fish" else f"unset {key};")
    return "\n".join(lines)
