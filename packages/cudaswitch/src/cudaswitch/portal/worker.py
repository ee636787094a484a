"""Workers: take a job, plan it through the flow, run it, watch it, record how it ended.

The plan comes from :func:`cudaswitch.matrix.jobs.plan_job`, the call behind ``cudaswitch
exec --slot`` and the matrix, so a job gets exactly the environment ``exec`` would give it.
The process runs in its own session (cancel signals the whole group) with a marker variable
that its descendants inherit (cancel finds the ones that left the group too).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping

from ..matrix.jobs import SlotRef, plan_job
from .audit import record
from .config import PortalConfig
from .db import Database
from .jobs import LOG_NAME, job_argv, job_dir, log_tail
from .models import Command, Job
from .proctree import MARKER_ENV, kill_tree, signal_tree
from .queue import claim, job_marker, worker_id

log = logging.getLogger("cudaswitch.portal")
HEARTBEAT = 2.0
TICK = 0.2
_PROGRESS_RE = re.compile(r"(\d+)/(\d+) \[")
_PERCENT_RE = re.compile(r"(\d{1,3})%\|")


def parse_progress(text: str) -> float | None:
    """The last progress figure the job printed (a tqdm bar: ``12/40 [``), as 0..1."""
    tail = text[-4000:]
    found = _PROGRESS_RE.findall(tail)
    if found:
        done, total = (int(x) for x in found[-1])
        if total > 0:
            return min(done / total, 1.0)
    pct = _PERCENT_RE.findall(tail)
    return min(int(pct[-1]) / 100, 1.0) if pct else None


def interpreter(env: Mapping[str, str]) -> str:
    """The Python a facefuse job runs with: the slot's venv (the plan sets VIRTUAL_ENV), else
    the one running the portal, which is where ``pip install cudaswitch[portal] facefuse``
    put facefuse."""
    venv = env.get("VIRTUAL_ENV")
    if venv and os.access(os.path.join(venv, "bin", "python"), os.X_OK):
        return os.path.join(venv, "bin", "python")
    return sys.executable


def _exit_code(rc: int) -> int:
    return 128 - rc if rc < 0 else rc


class Worker(threading.Thread):
    """One job at a time; ``stop`` interrupts the running job (it is queued again later)."""

    def __init__(self, db: Database, config: PortalConfig, env: Mapping[str, str],
                 wake: threading.Event, stop: threading.Event, index: int = 0) -> None:
        super().__init__(name=f"portal-worker-{index}", daemon=True)
        self.db, self.config, self.env = db, config, dict(env)
        self.wake, self.stopping = wake, stop
        self.wid = f"{worker_id()}:{index}"

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                job = claim(self.db, self.config, self.wid)
            except Exception:
                log.exception("taking a job failed")
                job = None
            if job is None:
                self.wake.wait(self.config.poll_interval)
                self.wake.clear()
                continue
            try:
                self.run_job(job)
            except Exception as e:
                log.exception("job %s", job.id)
                self._finish(job.id, "failed", None, f"the portal could not run the job: {e}")

    # --- one job -------------------------------------------------------------------------

    def _finish(self, job_id: int, state: str, code: int | None, reason: str,
                progress: float | None = None) -> None:
        with self.db.session() as s:
            job = s.get(Job, job_id)
            if job is None:
                return
            job.state, job.exit_code, job.reason = state, code, reason
            job.finished_at, job.pid, job.heartbeat_at = time.time(), None, time.time()
            if progress is not None:
                job.progress = progress
            record(s, "portal", f"job.{state}", f"job {job_id}", reason)

    def _command_argv(self, job: Job) -> list[str] | None:
        if job.kind != "command":
            return None
        with self.db.read() as s:
            cmd = s.query(Command).filter(Command.name == job.command_name).one_or_none()
            return json.loads(cmd.argv_json) if cmd else None

    def run_job(self, job: Job) -> None:
        folder = job_dir(self.config, job.id)
        log_path = os.path.join(folder, LOG_NAME)
        os.makedirs(folder, exist_ok=True)
        command = self._command_argv(job)
        if job.kind == "command" and command is None:
            self._finish(job.id, "failed", None, f"the command {job.command_name!r} is no "
                         "longer registered")
            return
        ref = SlotRef(job.slot, job.slot_source, job.slot_cuda)  # type: ignore[arg-type]
        planned = plan_job(ref, job_argv(self.config, job, command), self.env)
        with open(log_path, "ab") as logf:
            head = (f"cudaswitch: job {job.id}, start {job.attempts}: slot {job.slot} "
                    f"(CUDA {planned.cuda or '?'}, {planned.verdict}: {planned.reason})\n")
            logf.write(head.encode())
            if not planned.runnable:
                logf.write(f"cudaswitch: not started: {planned.reason}\n".encode())
                self._finish(job.id, "failed", None,
                             f"slot {job.slot} cannot run here: {planned.verdict}: "
                             f"{planned.reason}")
                return
            env = dict(planned.env or {})
            env[MARKER_ENV] = job_marker(self.config, job.id)
            env.setdefault("PYTHONUNBUFFERED", "1")
            argv = list(planned.argv)
            if job.kind == "facefuse":
                argv[0] = interpreter(env)
            logf.write(("cudaswitch: exec: " + shlex.join(argv) + "\n").encode())
            logf.flush()
            try:
                proc = subprocess.Popen(argv, env=env, cwd=folder,
                                        stdin=subprocess.DEVNULL, stdout=logf,
                                        stderr=subprocess.STDOUT, start_new_session=True)
            except OSError as e:
                logf.write(f"cudaswitch: cannot start {argv[0]}: {e}\n".encode())
                self._finish(job.id, "failed", 127, f"cannot start {argv[0]!r}: "
                             f"{e.strerror or e}")
                return
        with self.db.session() as s:
            row = s.get(Job, job.id)
            if row is not None:
                row.pid, row.started_at = proc.pid, time.time()
        self._watch(job, proc, log_path)

    def _watch(self, job: Job, proc: subprocess.Popen, log_path: str) -> None:
        marker = job_marker(self.config, job.id)
        beat = 0.0
        term_at: float | None = None
        why = ""
        while True:
            rc = proc.poll()
            if rc is not None:
                break
            now = time.time()
            if self.stopping.is_set() and term_at is None:
                why, term_at = "interrupted", now
                signal_tree(proc.pid, marker, signal.SIGTERM)
            if term_at is not None and now - term_at > self.config.cancel_grace:
                kill_tree(proc.pid, marker)
            if term_at is None:
                with self.db.read() as s:
                    row = s.get(Job, job.id)
                    gone, cancel = row is None, bool(row and row.cancel_requested)
                if gone:  # deleted under us: stop it
                    why, term_at = "deleted", now
                    kill_tree(proc.pid, marker)
                elif cancel:
                    why, term_at = "cancelled", now
                    signal_tree(proc.pid, marker, signal.SIGTERM)
            if now - beat >= HEARTBEAT:
                beat = now
                progress = parse_progress(log_tail(self.config, job.id, 8192))
                with self.db.session() as s:
                    row = s.get(Job, job.id)
                    if row is not None:
                        row.heartbeat_at = now
                        if progress is not None:
                            row.progress = progress
            time.sleep(TICK)
        kill_tree(proc.pid, marker)  # whatever the job left behind
        code = _exit_code(rc)
        if why == "interrupted":
            with self.db.session() as s:
                row = s.get(Job, job.id)
                if row is not None:
                    row.state, row.pid = "interrupted", None
                    row.reason = "interrupted: the portal is stopping"
            return
        if why == "deleted":
            return
        if why == "cancelled":
            self._finish(job.id, "cancelled", code, "cancelled; its processes were ended")
            return
        output = os.path.join(job_dir(self.config, job.id), job.output_file or "")
        if code == 0 and (job.kind != "facefuse" or os.path.isfile(output)):
            self._finish(job.id, "succeeded", 0, "", 1.0)
            return
        last = [ln for ln in log_tail(self.config, job.id, 4096).splitlines() if ln.strip()]
        detail = last[-1] if last else "no output"
        if code == 0:
            detail = f"exited 0 but wrote no result; last line: {detail}"
        self._finish(job.id, "failed", code, f"exit status {code}: {detail}")
