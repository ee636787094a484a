"""Starting the portal: migrate, recover interrupted jobs, start workers, serve.

``serve`` runs the web server and N workers in one process (the workers are threads, and the
jobs they start are children of this process group's leader), ``work`` runs workers alone for
more machines on the same database. Either stops on SIGINT/SIGTERM by interrupting its running
jobs, which the next start queues again.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Mapping

from .app import Portal, make_app
from .config import PortalConfig
from .db import Database, migrate
from .jobs import jobs_root
from .queue import recover
from .runtimes import RuntimeCache
from .worker import Worker

log = logging.getLogger("cudaswitch.portal")


def open_portal(config: PortalConfig, env: Mapping[str, str]) -> Portal:
    db = Database(config.database_url)
    migrate(db.engine)
    jobs_root(config)
    recovered = recover(db, config)
    if recovered:
        log.warning("jobs interrupted by the last stop, handled again: %s",
                    ", ".join(map(str, recovered)))
    return Portal(config, db, RuntimeCache(env))


def start_workers(portal: Portal, env: Mapping[str, str], count: int,
                  stop: threading.Event) -> list[Worker]:
    workers = [Worker(portal.db, portal.config, env, portal.wake, stop, i) for i in range(count)]
    for w in workers:
        w.start()
    return workers


def _join(workers: list[Worker], stop: threading.Event, wake: threading.Event) -> None:
    stop.set()
    wake.set()
    for w in workers:
        w.join(timeout=30)


def serve(config: PortalConfig, env: Mapping[str, str], host: str, port: int,
          workers: int) -> None:
    import uvicorn

    portal = open_portal(config, env)
    stop = threading.Event()
    running = start_workers(portal, env, workers, stop)
    server = uvicorn.Server(uvicorn.Config(make_app(portal), host=host, port=port,
                                           log_level="warning", access_log=False,
                                           server_header=False))
    try:
        server.run()
    finally:
        _join(running, stop, portal.wake)
        portal.db.dispose()


def work(config: PortalConfig, env: Mapping[str, str], workers: int) -> None:
    portal = open_portal(config, env)
    stop = threading.Event()
    running = start_workers(portal, env, workers, stop)
    done = threading.Event()

    def on_signal(_sig: int, _frame: object) -> None:
        done.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    print(f"cudaswitch portal worker: {workers} worker(s) on {config.database_url.split('@')[-1]}"
          f", pid {os.getpid()}", flush=True)
    done.wait()
    _join(running, stop, portal.wake)
    portal.db.dispose()
