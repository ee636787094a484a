"""Progress on stderr: a tqdm bar per download and per slot on a terminal, plain lines
otherwise.

On a terminal tqdm draws the bar, with the whole name, the speed and the time left; sizes are
in binary units (``MiB``) as everywhere else. A pipe or a log gets one line when a task starts
and one when it ends (size, time, mean speed): no carriage returns, no escape codes.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from ..units import human_duration, human_size


def _amount(n: int, unit: str) -> str:
    return human_size(n) if unit == "bytes" else f"{n} {unit}"


class Reporter:
    """``mode``: ``bar`` (a terminal), ``plain`` (logs, pipes) or ``quiet``."""

    def __init__(self, stream: TextIO | None = None, mode: str | None = None):
        self.stream = stream or sys.stderr
        if mode is None:
            mode = "bar" if getattr(self.stream, "isatty", lambda: False)() else "plain"
        self.mode = mode
        self._label: str | None = None
        self._bar: Any = None
        self._started = 0.0

    def line(self, text: str) -> None:
        if self.mode == "quiet":
            return
        self._close()
        print(f"cudaswitch: {text}", file=self.stream, flush=True)

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self._label = None

    def bar(self, label: str, done: int, total: int, unit: str = "bytes") -> None:
        """Report progress of one task; the plain mode prints its start and its end only."""
        if self.mode == "quiet":
            return
        finished = total > 0 and done >= total
        if self._label != label:
            self._close()
            self._label = label
            self._started = time.monotonic()
            if self.mode == "plain":
                print(f"cudaswitch: {label} ({_amount(total, unit)})", file=self.stream,
                      flush=True)
            else:
                self._bar = self._new_bar(label, total, unit)
        if self._bar is not None:
            self._bar.update(done - self._bar.n)
        if finished:
            if self.mode == "plain":
                took = max(time.monotonic() - self._started, 1e-6)
                rate = f"{human_size(total / took)}/s" if unit == "bytes" else "done"
                print(f"cudaswitch: {label}: {_amount(total, unit)} in {human_duration(took)} "
                      f"({rate})", file=self.stream, flush=True)
            self._close()

    def _new_bar(self, label: str, total: int, unit: str) -> Any:
        from tqdm import tqdm

        if unit != "bytes":
            return tqdm(total=total, desc=label, file=self.stream, dynamic_ncols=True,
                        mininterval=0.1, unit=f" {unit}")
        # "12.5MiB/40.0MiB [00:03<00:07, 4.1MiB/s]": binary units, as every size is printed
        return tqdm(total=total, desc=label, file=self.stream, dynamic_ncols=True,
                    mininterval=0.1, unit="iB", unit_scale=True, unit_divisor=1024,
                    bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}iB/{total_fmt}iB "
                               "[{elapsed}<{remaining}, {rate_fmt}]")

    def finish(self) -> None:
        if self.mode != "quiet":
            self._close()
