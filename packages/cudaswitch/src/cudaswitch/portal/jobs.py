"""Jobs: create, look up, cancel, retry and delete, with their files under the data folder.

A job's files (the uploads, the result, the log) live in ``<data>/jobs/<id>/`` and nowhere
else; the folder is written before the row is committed and removed through
:func:`cudaswitch.fsguard.remove` with the row, so neither outlives the other.
"""

from __future__ import annotations

import json
import os
import shlex
import time
from dataclasses import dataclass

from sqlalchemy import BigInteger, ColumnElement, delete, literal, select

from .. import fsguard
from ..errors import UsageError
from ..slots import check_name
from .accounts import Principal
from .audit import record
from .config import PortalConfig
from .db import Database
from .models import FINAL_STATES, Command, Job
from .options import facefuse_argv
from .paging import PageLinks, PageRequest, links
from .uploads import Media

LOG_NAME = "job.log"


class NotFound(UsageError):
    """No such job (or not one this user may see)."""


class Forbidden(UsageError):
    """The user's role does not allow this."""


class Conflict(UsageError):
    """The job is not in a state that allows this."""


@dataclass(frozen=True)
class Upload:
    data: bytes
    media: Media
    name: str  # the client's name, for display only


def jobs_root(config: PortalConfig) -> fsguard.Root:
    os.makedirs(config.data_dir, exist_ok=True)
    return fsguard.claim(config.jobs_dir, "jobs folder")


def job_dir(config: PortalConfig, job_id: int) -> str:
    return os.path.join(config.jobs_dir, str(int(job_id)))


def device_for(provider: str, device_id: int) -> str:
    return "cpu" if provider == "cpu" else f"gpu:{int(device_id)}"


def _write_files(folder: str, files: dict[str, bytes]) -> None:
    os.makedirs(folder, mode=0o750)
    for name, data in files.items():
        with open(os.path.join(folder, name), "xb") as f:
            f.write(data)


def submit(db: Database, config: PortalConfig, who: Principal, *, kind: str, slot: str,
           slot_source: str, slot_cuda: str | None, provider: str, device_id: int,
           options: dict[str, str], source: Upload | None = None,
           target: Upload | None = None, command: str | None = None,
           client: str = "") -> Job:
    if not who.can("runner"):
        raise Forbidden(f"{who.name} is a {who.role}; submitting jobs needs the runner role")
    root = jobs_root(config)
    files: dict[str, bytes] = {}
    job = Job(kind=kind, slot=slot, slot_source=slot_source, slot_cuda=slot_cuda,
              provider=provider, device=device_for(provider, device_id),
              options_json=json.dumps({**options, "device_id": int(device_id),
                                       "source_name": source.name if source else None,
                                       "target_name": target.name if target else None}),
              state="queued", owner=who.name, created_at=time.time(), attempts=0,
              interruptions=0, reason="", cancel_requested=False, command_name=command)
    if kind == "facefuse":
        assert source is not None and target is not None
        job.source_file = f"source.{source.media.ext}"
        job.target_file = f"target.{target.media.ext}"
        job.target_kind = target.media.kind
        job.target_width, job.target_height = target.media.width, target.media.height
        job.output_file = f"result.{target.media.ext}"
        files = {job.source_file: source.data, job.target_file: target.data}
    folder = None
    try:
        with db.session() as s:
            if kind == "command" and s.scalar(select(Command).where(Command.name == command)) \
                    is None:
                raise NotFound(f"no registered command {command!r}")
            s.add(job)
            s.flush()
            folder = job_dir(config, job.id)
            _write_files(folder, files)
            record(s, who.name, "job.submit", f"job {job.id}",
                   f"{kind} {command or ''} slot={slot} provider={provider}".strip(), client)
    except BaseException:
        if folder and os.path.lexists(folder):
            fsguard.remove(folder, root)
        raise
    return job


def get(db: Database, job_id: int) -> Job:
    with db.read() as s:
        job = s.get(Job, job_id)
        if job is None:
            raise NotFound(f"no job {job_id}")
        return job


def page(db: Database, request: PageRequest) -> tuple[list[Job], PageLinks]:
    """One page of jobs, newest first, and the cursors of its neighbours: the rows are read
    one past the limit to know whether more lie that way, and an ``EXISTS``-style lookup of
    one id answers the other direction."""
    def cursor(value: int) -> ColumnElement[int]:
        # bound as BIGINT: PostgreSQL's ids are 32-bit, and a larger cursor bound as INTEGER
        # would be an out-of-range error instead of an empty page
        return literal(value, BigInteger)

    with db.read() as s:
        def any_id(condition: ColumnElement[bool]) -> bool:
            return s.scalar(select(Job.id).where(condition).limit(1)) is not None

        n = request.limit
        if request.after is not None:
            rows = list(s.scalars(select(Job).where(Job.id > cursor(request.after))
                                  .order_by(Job.id.asc()).limit(n + 1)))
            newer, rows = len(rows) > n, rows[:n][::-1]
            older = any_id(Job.id < rows[-1].id if rows else Job.id <= cursor(request.after))
        else:
            query = select(Job)
            if request.before is not None:
                query = query.where(Job.id < cursor(request.before))
            rows = list(s.scalars(query.order_by(Job.id.desc()).limit(n + 1)))
            older, rows = len(rows) > n, rows[:n]
            if rows:
                newer = any_id(Job.id > rows[0].id)
            else:
                newer = request.before is not None and any_id(Job.id >= cursor(request.before))
        return rows, links(request, [j.id for j in rows], newer, older)


def _may_manage(who: Principal, job: Job) -> None:
    if not who.can("runner") or (job.owner != who.name and not who.can("admin")):
        raise Forbidden(f"{who.name} may not change job {job.id} (owner {job.owner}); "
                        "only its owner or an admin may")


def cancel(db: Database, who: Principal, job_id: int, client: str = "") -> Job:
    with db.session() as s:
        job = s.get(Job, job_id)
        if job is None:
            raise NotFound(f"no job {job_id}")
        _may_manage(who, job)
        if job.state in FINAL_STATES:
            raise Conflict(f"job {job_id} is {job.state} already; nothing to cancel")
        if job.state == "running":
            job.cancel_requested = True
        else:
            job.state, job.finished_at = "cancelled", time.time()
            job.reason = f"cancelled by {who.name} before it started"
        record(s, who.name, "job.cancel", f"job {job_id}", "", client)
        return job


def retry(db: Database, config: PortalConfig, who: Principal, job_id: int,
          client: str = "") -> Job:
    with db.session() as s:
        job = s.get(Job, job_id)
        if job is None:
            raise NotFound(f"no job {job_id}")
        _may_manage(who, job)
        if job.state not in ("failed", "cancelled", "succeeded"):
            raise Conflict(f"job {job_id} is {job.state}; only a finished job can run again")
        folder = job_dir(config, job_id)
        if job.output_file:
            fsguard.remove(os.path.join(folder, job.output_file), jobs_root(config))
        job.state, job.reason, job.exit_code, job.progress = "queued", "", None, None
        job.started_at = job.finished_at = job.pid = job.worker = None
        job.attempts, job.cancel_requested = 0, False
        record(s, who.name, "job.retry", f"job {job_id}", "", client)
        return job


def delete_job(db: Database, config: PortalConfig, who: Principal, job_id: int,
               client: str = "") -> None:
    with db.session() as s:
        job = s.get(Job, job_id)
        if job is None:
            raise NotFound(f"no job {job_id}")
        _may_manage(who, job)
        if job.state == "running":
            raise Conflict(f"job {job_id} is running; cancel it first")
        s.execute(delete(Job).where(Job.id == job_id))
        fsguard.remove(job_dir(config, job_id), jobs_root(config))
        record(s, who.name, "job.delete", f"job {job_id}", "", client)


def result_path(config: PortalConfig, job: Job) -> str | None:
    if job.state != "succeeded" or not job.output_file:
        return None
    path = os.path.join(job_dir(config, job.id), job.output_file)
    return path if os.path.isfile(path) and not os.path.islink(path) else None


def log_tail(config: PortalConfig, job_id: int, limit: int = 64 * 1024) -> str:
    path = os.path.join(job_dir(config, job_id), LOG_NAME)
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - limit))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return text.replace("\r", "\n")


def job_argv(config: PortalConfig, job: Job, command_argv: list[str] | None) -> list[str]:
    """What the job's process runs (its files by the portal's own names, in its folder)."""
    if job.kind == "command":
        assert command_argv is not None
        return list(command_argv)
    opts = json.loads(job.options_json)
    return facefuse_argv(opts, job.provider, int(opts.get("device_id", 0)),
                         job.source_file or "", job.target_file or "", job.output_file or "")


# --- registered commands (admins only) -------------------------------------------------------

def register_command(db: Database, who: Principal, name: str, command_line: str,
                     description: str = "", client: str = "") -> Command:
    if not who.can("admin"):
        raise Forbidden(f"{who.name} is a {who.role}; registering commands needs the admin role")
    check_name(name, "command name")
    try:
        argv = shlex.split(command_line)
    except ValueError as e:
        raise UsageError(f"command line: {e}; quote arguments the way a shell would") from e
    if not argv:
        raise UsageError("command line: empty; give the program and its arguments")
    with db.session() as s:
        if s.scalar(select(Command).where(Command.name == name)) is not None:
            raise Conflict(f"a command named {name!r} exists already")
        cmd = Command(name=name, argv_json=json.dumps(argv), description=description,
                      created_by=who.name, created_at=time.time())
        s.add(cmd)
        record(s, who.name, "command.register", name, shlex.join(argv), client)
        return cmd


def commands(db: Database) -> list[Command]:
    with db.read() as s:
        return list(s.scalars(select(Command).order_by(Command.name)))


def remove_command(db: Database, who: Principal, name: str, client: str = "") -> None:
    if not who.can("admin"):
        raise Forbidden(f"{who.name} is a {who.role}; removing commands needs the admin role")
    with db.session() as s:
        cmd = s.scalar(select(Command).where(Command.name == name))
        if cmd is None:
            raise NotFound(f"no registered command {name!r}")
        s.delete(cmd)
        record(s, who.name, "command.remove", name, "", client)
