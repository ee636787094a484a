"""Progress on stderr: a bar per download and per slot on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


class Reporter:
    """``mode``: ``bar`` (a terminal), ``plain`` (logs, pipes) or ``quiet``."""

    def __init__(self, stream: TextIO | None = None, mode: str | None = None):
        self.stream = stream or sys.stderr
        if mode is None:
            mode = "bar" if getattr(self.stream, "isatty", lambda: False)() else "plain"
        self.mode = mode
        self._last = 0.0
        self._open: str | None = None

    def line(self, text: str) -> None:
        if self.mode == "quiet":
            return
        self._close()
        print(f"cudaswitch: {text}", file=self.stream, flush=True)

    def _close(self) -> None:
        if self._open is not None:
            self.stream.write("\n")
            self._open = None

    def bar(self, label: str, done: int, total: int, unit: str = "bytes") -> None:
        """Report progress of one task; the plain mode prints its start and its end only."""
        if self.mode == "quiet":
            return
        finished = total > 0 and done >= total
        if self.mode == "plain":
            if self._open != label:
                self._open = label
                size = _mb(total) if unit == "bytes" else f"{total} {unit}"
                print(f"cudaswitch: {label} ({size})", file=self.stream, flush=True)
            if finished:
                self._open = None
            return
        now = time.monotonic()
        if not finished and self._open == label and now - self._last < 0.1:
            return
        self._last = now
        self._open = label
        frac = done / total if total else 0.0
        width = 28
        fill = int(frac * width)
        amount = f"{_mb(done)}/{_mb(total)}" if unit == "bytes" else f"{done}/{total} {unit}"
        self.stream.write(f"\r  {label[:44]:<44} [{'#' * fill}{'.' * (width - fill)}] "
                          f"{frac * 100:5.1f}% {amount}\x1b[K")
        self.stream.flush()
        if finished:
            self._close()

    def finish(self) -> None:
        if self.mode != "quiet":
            self._close()
