"""What the user sees while a matrix runs: a redrawn block on a terminal, plain lines elsewhere.

CI logs keep every byte written to them, so a redrawn display there would be noise; a terminal
keeps only the screen, so plain lines there would scroll the state out of sight. Both views go
to stderr: stdout carries the summary (or the JSON) alone.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from ..units import human_duration
from .result import SlotResult

# States that end a slot, and a one-word label for every state a slot passes through.
LABELS = {"queued": "queued", "running": "running", "pass": "pass", "fail": "FAIL",
          "timeout": "TIMEOUT", "error": "ERROR", "skip": "skip", "interrupted": "stopped",
          "not-run": "not run"}


def _line(r: SlotResult, width: int, now: float) -> str:
    elapsed = r.elapsed(now)
    when = (human_duration(elapsed) if r.status != "queued" and r.status != "skip"
            else "").rjust(7)
    cuda = f"CUDA {r.job.shown or r.job.cuda}" if r.job.cuda else ""
    extra = ""
    if r.exit_code is not None and r.status not in ("pass", "running"):
        extra = f"  exit {r.exit_code}"
    if r.status in ("skip", "error") and r.reason:
        extra = f"  {r.reason[:80]}"
    return f"  {r.job.name:<{width}}  {cuda:<14} {LABELS.get(r.status, r.status):<8} {when}{extra}"


class PlainView:
    """One line per change of state: what a CI log should keep."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.seen: dict[str, str] = {}

    def update(self, results: Sequence[SlotResult], now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        width = max((len(r.job.name) for r in results), default=4)
        for r in results:
            if self.seen.get(r.job.name) != r.status and r.status != "queued":
                self.seen[r.job.name] = r.status
                self.stream.write("matrix:" + _line(r, width, now)[1:] + "\n")
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()


class LiveView:
    """A block of one line per slot, redrawn in place (ANSI cursor-up and erase-line)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.drawn = 0

    def update(self, results: Sequence[SlotResult], now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        width = max((len(r.job.name) for r in results), default=4)
        out = [f"\x1b[{self.drawn}F"] if self.drawn else []
        for r in results:
            out.append("\x1b[2K" + _line(r, width, now) + "\n")
        self.stream.write("".join(out))
        self.stream.flush()
        self.drawn = len(results)

    def close(self) -> None:
        self.stream.flush()


def make_view(stream: TextIO | None = None, live: bool | None = None) -> PlainView | LiveView:
    """The live view only where a person watches a terminal that understands ANSI."""
    stream = stream or sys.stderr
    if live is None:
        live = stream.isatty() and os.environ.get("TERM", "dumb") != "dumb"
    return LiveView(stream) if live else PlainView(stream)
