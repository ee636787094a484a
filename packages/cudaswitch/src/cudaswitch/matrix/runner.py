"""Run the matrix: N slots at a time, each a child in its own process group, none left behind.

Each child gets its own session (and so its own process group), so that a signal for one slot
reaches everything that slot started and nothing else, and so that a Ctrl-C typed at the
terminal reaches the matrix alone, which then decides: forward it to every running group, wait
a grace period, kill what is left. When a slot's main process exits, whatever it left running
in its group is killed too: a finished slot leaves no orphans holding a GPU or a port.

The exit of a child is noticed through a pidfd where the kernel has them (a select over all
of them, woken at once), else by polling; a child is examined with ``waitid(WNOWAIT)`` first so
that its process-group id stays reserved until its leftovers are killed.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ..units import human_duration
from .jobs import SlotJob
from .result import MatrixRun, SlotResult
from .view import LiveView, PlainView
from .workdir import make_copy

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
TICK = 0.1  # seconds between redraws of the live view


@dataclass(frozen=True)
class Options:
    parallel: int = 0  # 0: every slot at once
    timeout: float | None = None  # per slot, seconds
    grace: float = 5.0  # from SIGTERM (or a forwarded signal) to SIGKILL
    strict: bool = False
    log_dir: str | None = None  # default: a new temporary folder
    isolated_dir: str | None = None
    source_dir: str | None = None  # the tree copied into isolated_dir (default: cwd)


class _Child:
    def __init__(self, result: SlotResult, proc: subprocess.Popen) -> None:
        self.result = result
        self.proc = proc
        self.pid = proc.pid
        self.term_at: float | None = None  # when the timeout's SIGTERM went out
        self.killed = False
        self.timed_out = False
        self.signalled: int | None = None  # the forwarded stop signal
        try:
            self.pidfd: int | None = os.pidfd_open(proc.pid)
        except (AttributeError, OSError):
            self.pidfd = None

    def exited(self) -> bool:
        """Whether the main process has exited, without reaping it (its pgid stays ours)."""
        try:
            info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        return info is not None and info.si_pid == self.pid

    def close(self) -> None:
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _exit_code(returncode: int) -> int:
    """The shell's convention: a child killed by signal N exited 128+N."""
    return 128 - returncode if returncode < 0 else returncode


class _Runner:
    def __init__(self, jobs: Sequence[SlotJob], options: Options,
                 view: PlainView | LiveView | None) -> None:
        self.options = options
        self.view = view
        self.results = [SlotResult(j) for j in jobs]
        self.queue: list[SlotResult] = []
        self.running: list[_Child] = []
        self.signals: list[int] = []
        self.stopping: int | None = None
        self.stop_deadline = 0.0
        self.log_dir = options.log_dir or tempfile.mkdtemp(prefix="cudaswitch-matrix-")
        os.makedirs(self.log_dir, exist_ok=True)

    # --- set-up ------------------------------------------------------------------------------

    def prepare(self) -> None:
        for r in self.results:
            job = r.job
            if not job.runnable:
                why = f"{job.verdict}: {job.reason}" if job.verdict != "error" else job.reason
                if job.verdict == "error":
                    r.status, r.reason = "error", why
                elif self.options.strict:
                    r.status, r.reason = "fail", f"skipped, and --strict: {why}"
                else:
                    r.status, r.reason = "skip", why
                continue
            if self.options.isolated_dir:
                try:
                    r.cwd = make_copy(self.options.source_dir or os.getcwd(),
                                      self.options.isolated_dir, job.name,
                                      exclude=[self.log_dir])
                except OSError as e:
                    r.status, r.reason = "error", f"could not copy the working tree: {e}"
                    continue
            self.queue.append(r)

    # --- children ----------------------------------------------------------------------------

    def start(self, r: SlotResult) -> None:
        job = r.job
        assert job.env is not None
        r.log = os.path.join(self.log_dir, f"{job.name}.log")
        r.started = time.monotonic()
        r.started_at = time.time()
        r.status = "running"
        with open(r.log, "wb") as log:
            try:
                proc = subprocess.Popen(list(job.argv), env=dict(job.env), cwd=r.cwd,
                                        stdin=subprocess.DEVNULL, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
            except OSError as e:
                code = 127 if isinstance(e, FileNotFoundError) else 126
                what = "command not found" if code == 127 else "cannot run the command"
                r.status, r.exit_code, r.ended = "error", code, time.monotonic()
                r.reason = (f"{what}: {job.argv[0]!r} (PATH={job.env.get('PATH', '')}): "
                            f"{e.strerror or e}")
                log.write((r.reason + "\n").encode())
                return
        self.running.append(_Child(r, proc))

    def finish(self, c: _Child) -> None:
        _killpg(c.pid, signal.SIGKILL)  # leftovers of the slot; the leader is a zombie now
        rc = c.proc.wait()
        c.close()
        r = c.result
        r.ended = time.monotonic()
        r.exit_code = _exit_code(rc)
        if c.timed_out:
            r.status, r.reason = "timeout", f"no exit within {human_duration(self.options.timeout)}"
        elif c.signalled is not None:
            r.status = "interrupted"
            r.reason = f"stopped by {signal.Signals(c.signalled).name}"
        elif rc == 0:
            r.status = "pass"
        else:
            r.status = "fail"
            if rc < 0:
                r.reason = f"killed by {signal.Signals(-rc).name}"
        self.running.remove(c)

    # --- the loop ----------------------------------------------------------------------------

    def on_signal(self, signum: int, _frame: object) -> None:
        self.signals.append(signum)

    def begin_stop(self, now: float) -> None:
        sig = self.signals[0]
        self.stopping = sig
        self.stop_deadline = now + self.options.grace
        for c in self.running:
            c.signalled = sig
            _killpg(c.pid, sig)
        for r in self.queue:
            r.status, r.reason = "not-run", f"not started: {signal.Signals(sig).name}"
        self.queue.clear()

    def tick(self, now: float) -> None:
        if self.signals and self.stopping is None:
            self.begin_stop(now)
        if self.stopping is not None and (len(self.signals) > 1 or now >= self.stop_deadline):
            for c in self.running:
                if not c.killed:
                    c.killed = True
                    _killpg(c.pid, signal.SIGKILL)
        limit = self.options.parallel or len(self.results)
        while self.stopping is None and self.queue and len(self.running) < limit:
            self.start(self.queue.pop(0))
        for c in list(self.running):
            if c.exited():
                self.finish(c)
                continue
            timeout = self.options.timeout
            if timeout and c.term_at is None and now - (c.result.started or now) > timeout:
                c.timed_out = True
                c.term_at = now
                _killpg(c.pid, signal.SIGTERM)
            elif c.term_at is not None and not c.killed and now - c.term_at > self.options.grace:
                c.killed = True
                _killpg(c.pid, signal.SIGKILL)

    def wait(self) -> None:
        fds = [c.pidfd for c in self.running if c.pidfd is not None]
        if self.running and len(fds) == len(self.running):
            select.select(fds, [], [], TICK)
        else:
            time.sleep(TICK / 5 if self.running else 0)

    def run(self) -> None:
        self.prepare()
        while self.queue or self.running:
            self.tick(time.monotonic())
            if self.view:
                self.view.update(self.results)
            if self.queue or self.running:
                self.wait()
        if self.view:
            self.view.update(self.results)
            self.view.close()

    def cleanup(self) -> None:
        """After an exception: no child may outlive the matrix."""
        for c in list(self.running):
            _killpg(c.pid, signal.SIGKILL)
            c.proc.wait()
            c.close()
            c.result.status = "interrupted"
            c.result.ended = time.monotonic()
        self.running.clear()


def run_matrix(jobs: Sequence[SlotJob], options: Options | None = None,
               view: PlainView | LiveView | None = None) -> MatrixRun:
    """Run every runnable job and return what each did; never raises for a slot's failure.

    SIGINT, SIGTERM and SIGHUP are caught while it runs (in the main thread): the first is
    forwarded to every running slot's process group, queued slots are not started, and after
    ``options.grace`` seconds (or at a second signal) the groups are killed. The run then
    returns normally with ``interrupted`` set, so the caller still prints the summary.
    """
    options = options or Options()
    runner = _Runner(jobs, options, view)
    started_at, t0 = time.time(), time.monotonic()
    previous: dict[int, object] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in STOP_SIGNALS:
            previous[sig] = signal.signal(sig, runner.on_signal)
    try:
        runner.run()
    finally:
        runner.cleanup()
        for sig, handler in previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
    return MatrixRun(
        argv=tuple(jobs[0].argv) if jobs else (),
        results=runner.results,
        parallel=options.parallel or len(jobs),
        strict=options.strict,
        log_dir=runner.log_dir,
        wall=time.monotonic() - t0,
        started_at=started_at,
        interrupted=runner.stopping,
    )
