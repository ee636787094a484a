"""`--log-level`: FaceFusion's levels for what facefuse prints. Errors and warnings go to
stderr, the summary to stdout; one process-wide threshold, set once by the CLI."""

from __future__ import annotations

import sys

LEVELS = ("error", "warn", "info", "debug")
_threshold = ["info"]


def configure(level: str) -> None:
    _threshold[0] = level if level in LEVELS else "info"


def enabled(level: str) -> bool:
    return LEVELS.index(level) <= LEVELS.index(_threshold[0])


def error(message: str) -> None:
    print(message, file=sys.stderr)


def warn(message: str) -> None:
    if enabled("warn"):
        print(message, file=sys.stderr)


def info(message: str) -> None:
    if enabled("info"):
        print(message)


def debug(message: str) -> None:
    if enabled("debug"):
        print(message, file=sys.stderr)
