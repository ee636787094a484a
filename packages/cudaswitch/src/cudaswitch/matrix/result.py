"""What one slot of a matrix did, and what the whole run did: plain records the reports read."""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from typing import Literal

from ..errors import EXIT_FAILED, EXIT_OK
from .jobs import SlotJob

Status = Literal["queued", "running", "pass", "fail", "timeout", "error", "skip",
                 "interrupted", "not-run"]
# Final states that make the matrix fail; "skip" does only under --strict (it becomes "fail").
FAILED: frozenset[str] = frozenset({"fail", "timeout", "error", "interrupted", "not-run"})
# The pass/fail/skip column of the summary, the way CI tools count.
OUTCOME = {"pass": "pass", "skip": "skip", "fail": "fail", "timeout": "fail", "error": "fail",
           "interrupted": "fail", "not-run": "fail", "queued": "-", "running": "-"}


@dataclass
class SlotResult:
    job: SlotJob
    status: Status = "queued"
    exit_code: int | None = None
    reason: str = ""
    log: str | None = None
    cwd: str | None = None
    started: float | None = None  # time.monotonic()
    ended: float | None = None
    started_at: float | None = None  # time.time(), for reports

    def elapsed(self, now: float) -> float:
        if self.started is None:
            return 0.0
        return (self.ended if self.ended is not None else now) - self.started

    @property
    def duration(self) -> float:
        if self.started is None or self.ended is None:
            return 0.0
        return self.ended - self.started

    @property
    def outcome(self) -> str:
        return OUTCOME[self.status]

    def as_dict(self) -> dict:
        return {
            "slot": self.job.name,
            "source": self.job.ref.source,
            "cuda": self.job.cuda,
            "verdict": self.job.verdict,
            "verdict_reason": self.job.reason,
            "toolkit_root": self.job.toolkit_root,
            "exec": ["cudaswitch", "exec", *self.job.ref.exec_args, "--", *self.job.argv],
            "status": self.status,
            "outcome": self.outcome,
            "exit_code": self.exit_code,
            "duration_s": round(self.duration, 3),
            "reason": self.reason or None,
            "log": self.log,
            "cwd": self.cwd,
        }


@dataclass
class MatrixRun:
    argv: tuple[str, ...]
    results: list[SlotResult]
    parallel: int
    strict: bool
    log_dir: str
    wall: float = 0.0
    started_at: float = 0.0
    interrupted: int | None = None  # the signal that stopped the run
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out = {"pass": 0, "fail": 0, "skip": 0}
        for r in self.results:
            if r.outcome in out:
                out[r.outcome] += 1
        return out

    @property
    def exit_code(self) -> int:
        """128+signal when stopped; 1 when a slot failed or none ran at all; else 0."""
        if self.interrupted:
            return 128 + self.interrupted
        if any(r.status in FAILED for r in self.results):
            return EXIT_FAILED
        if not any(r.status == "pass" for r in self.results):
            return EXIT_FAILED
        return EXIT_OK

    def as_dict(self) -> dict:
        return {
            "command": list(self.argv),
            "parallel": self.parallel,
            "strict": self.strict,
            "log_dir": self.log_dir,
            "wall_s": round(self.wall, 3),
            "interrupted": signal.Signals(self.interrupted).name if self.interrupted else None,
            "exit_code": self.exit_code,
            "counts": self.counts(),
            "notes": list(self.notes),
            "slots": [r.as_dict() for r in self.results],
        }
