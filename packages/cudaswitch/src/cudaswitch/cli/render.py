"""The one place that turns results into text or JSON."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any


def emit(data: Any, as_json: bool, text: Callable[[Any], str]) -> None:
    if as_json:
        json.dump(data, sys.stdout, indent=2, sort_keys=False)
        sys.stdout.write("\n")
    else:
        out = text(data)
        if out:
            print(out)


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    cols = [header, *rows]
    widths = [max(len(str(r[i])) for r in cols) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in cols]
    return "\n".join(lines)


# -q / -v, set once by ``main`` from the command line.
_LEVEL = {"quiet": 0, "verbose": 0}


def configure(quiet: int = 0, verbose: int = 0) -> None:
    _LEVEL["quiet"], _LEVEL["verbose"] = quiet, verbose


def is_quiet() -> bool:
    return _LEVEL["quiet"] > 0


def use_color(stream=None) -> bool:
    """Colour on a terminal; ``NO_COLOR`` (https://no-color.org) always wins, then
    ``FORCE_COLOR`` / ``CLICOLOR_FORCE`` for pipes that render it (CI logs)."""
    env = os.environ
    if env.get("NO_COLOR"):
        return False
    if env.get("FORCE_COLOR", "0") not in ("", "0") or env.get("CLICOLOR_FORCE", "0") not in (
            "", "0"):
        return True
    stream = stream or sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)()) and env.get("TERM") != "dumb"


def _label(word: str, code: str) -> str:
    return f"\x1b[{code}m{word}\x1b[0m" if use_color(sys.stderr) else word


def error(message: str) -> None:
    print(f"cudaswitch: {_label('error', '1;31')}: {message}", file=sys.stderr)


def warn(message: str) -> None:
    if not is_quiet():
        print(f"cudaswitch: {_label('warning', '1;33')}: {message}", file=sys.stderr)


def info(message: str) -> None:
    """A status line on stderr (what was switched, restored, written); hidden by ``-q``."""
    if not is_quiet():
        print(f"cudaswitch: {message}", file=sys.stderr)


def detail(message: str) -> None:
    """Reasoning shown only with ``-v``."""
    if _LEVEL["verbose"] > 0 and not is_quiet():
        print(f"cudaswitch: {message}", file=sys.stderr)
