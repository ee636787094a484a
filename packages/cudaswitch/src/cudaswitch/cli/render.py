"""The one place that turns results into text or JSON."""

from __future__ import annotations

import json
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


def error(message: str) -> None:
    print(f"cudaswitch: error: {message}", file=sys.stderr)


def warn(message: str) -> None:
    print(f"cudaswitch: warning: {message}", file=sys.stderr)
