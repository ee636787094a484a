"""The portal's settings: one frozen record, built by the CLI, read by the app and the workers."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from ..toolkits import data_home

MIB = 2**20


@dataclass(frozen=True)
class PortalConfig:
    data_dir: str
    database_url: str
    per_gpu: int = 1  # jobs at once on one GPU
    cpu_jobs: int = 1  # jobs at once on the CPU provider (no GPU)
    max_upload: int = 50 * MIB  # bytes, each file
    max_attempts: int = 2  # a job interrupted by a restart runs again until this many starts
    poll_interval: float = 0.5  # seconds between a worker's looks at the queue
    cancel_grace: float = 3.0  # seconds from SIGTERM to SIGKILL
    secure_cookies: bool = False  # set behind HTTPS: the session cookie then carries Secure
    nodes_file: str | None = None  # a fleet (GPU Feature Discovery labels per node): fleet page
    session_hours: float = 12.0

    @property
    def jobs_dir(self) -> str:
        return os.path.join(self.data_dir, "jobs")


def sqlite_url(path: str) -> str:
    from sqlalchemy.engine import URL

    return URL.create("sqlite", database=path).render_as_string(hide_password=False)


def default_config(env: Mapping[str, str], database: str | None = None,
                   data_dir: str | None = None, **kw: object) -> PortalConfig:
    """SQLite under ``$CUDASWITCH_HOME/portal`` unless a database URL is given. The URL is
    rendered, not pasted together: a folder named with '?' would otherwise end the path where
    a URL's query begins, and SQLite would make its file in the folder above."""
    data = os.path.abspath(data_dir or os.path.join(data_home(env), "portal"))
    url = database or sqlite_url(os.path.join(data, "portal.db"))
    return PortalConfig(data_dir=data, database_url=url, **kw)  # type: ignore[arg-type]
