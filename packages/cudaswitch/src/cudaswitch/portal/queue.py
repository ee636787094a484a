"""The job queue is the jobs table itself: a job is taken by one conditional UPDATE.

Keeping the queue in the same rows as the jobs means there is one record of where a job
stands, so a crash can never leave a queue entry and a job row disagreeing. Taking a job is
serialised (``BEGIN IMMEDIATE`` on SQLite, a transaction-scoped advisory lock on PostgreSQL),
which makes the per-device limit exact across threads, processes and machines.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from .audit import record
from .config import PortalConfig
from .db import Database
from .models import Job
from .proctree import kill_tree, start_time

STALE_SECONDS = 30.0  # a running job whose worker has not written for this long is orphaned
_LOCK_KEY = 0x6375_6461  # the advisory lock's number on PostgreSQL


def worker_id(pid: int | None = None) -> str:
    pid = pid or os.getpid()
    return f"{socket.gethostname()}:{pid}:{start_time(pid) or 0}"


def _worker_alive(wid: str) -> bool | None:
    """Whether the worker named ``wid`` still runs; None when it is on another machine."""
    host, _, rest = wid.partition(":")
    if host != socket.gethostname():
        return None
    pid_text, _, started = rest.partition(":")
    if not pid_text.isdigit():
        return False
    return start_time(int(pid_text)) == started


def job_marker(config: PortalConfig, job_id: int) -> str:
    """The value of the job's marker variable: unique to this portal's data folder."""
    return f"{os.path.realpath(config.data_dir)}#{job_id}"


def _serialise(s: Session) -> None:
    if s.bind.dialect.name == "postgresql":  # type: ignore[union-attr]
        s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})


def limit_for(config: PortalConfig, device: str) -> int:
    return config.cpu_jobs if device == "cpu" else config.per_gpu


def claim(db: Database, config: PortalConfig, wid: str) -> Job | None:
    """Take the oldest queued job whose device has room, or None."""
    with db.session() as s:
        _serialise(s)
        busy = dict(s.execute(select(Job.device, func.count()).where(Job.state == "running")
                              .group_by(Job.device)).all())
        for job in s.scalars(select(Job).where(Job.state == "queued").order_by(Job.id)):
            if busy.get(job.device, 0) >= limit_for(config, job.device):
                continue
            now = time.time()
            took = s.execute(update(Job).where(Job.id == job.id, Job.state == "queued")
                             .values(state="running", worker=wid, started_at=None,
                                     heartbeat_at=now, attempts=Job.attempts + 1,
                                     progress=None)).rowcount
            if took == 1:
                s.flush()
                s.refresh(job)
                return job
    return None


def recover(db: Database, config: PortalConfig,
            kill: Callable[[int | None, str], None] = kill_tree) -> list[int]:
    """Jobs left running by a worker that is gone (this machine: its process is dead; any
    machine: no heartbeat for ``STALE_SECONDS``), and jobs a stopping worker marked
    interrupted: what is left of their processes is killed, then each is queued again or,
    past ``max_attempts`` starts, failed. Returns the jobs handled."""
    now = time.time()
    handled = []
    with db.session() as s:
        _serialise(s)
        for job in s.scalars(select(Job).where(Job.state.in_(("running", "interrupted")))):
            if job.state == "running":
                alive = _worker_alive(job.worker or "")
                stale = (job.heartbeat_at or 0) < now - STALE_SECONDS
                if alive or (alive is None and not stale):
                    continue
                if alive is False or stale:
                    kill(job.pid, job_marker(config, job.id))
            job.interruptions += 1
            if job.cancel_requested:
                job.state, job.finished_at = "cancelled", now
                job.reason = "cancelled; the portal stopped before the cancel completed"
                job.pid = job.worker = None
                record(s, "portal", "job.cancelled", f"job {job.id}", job.reason)
                handled.append(job.id)
                continue
            when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(now))
            if job.attempts < config.max_attempts:
                job.state = "queued"
                job.reason = (f"interrupted at {when} (the portal stopped while it ran); "
                              f"queued again, start {job.attempts + 1} of "
                              f"{config.max_attempts}")
            else:
                job.state, job.finished_at = "failed", now
                job.reason = (f"interrupted at {when} (the portal stopped while it ran) after "
                              f"{job.attempts} start(s); not started again")
            job.pid = job.worker = None
            job.cancel_requested = False
            record(s, "portal", "job.interrupted", f"job {job.id}", job.reason)
            handled.append(job.id)
    return handled
