"""The database: one engine per portal process, migrated to the newest schema on start.

SQLite (the default) gets WAL mode, a busy timeout and ``BEGIN IMMEDIATE`` transactions, so
that the web threads and the workers of one portal, or a second ``portal worker`` on the same
file, queue for the write lock instead of failing with "database is locked".
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from ..errors import UsageError

MIGRATIONS = os.path.join(os.path.dirname(__file__), "migrations")
SUPPORTED = ("sqlite", "postgresql")
READ_ONLY = "cudaswitch_read_only"


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001
    dbapi_conn.isolation_level = None  # SQLAlchemy's begin event below issues BEGIN itself
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_begin(conn) -> None:  # noqa: ANN001
    """Writers take the lock at BEGIN (no upgrade deadlock); readers do not take it at all."""
    read = conn.get_execution_options().get(READ_ONLY)
    conn.exec_driver_sql("BEGIN" if read else "BEGIN IMMEDIATE")


def check_url(url: str) -> URL:
    """The parsed URL of a supported database, or a UsageError saying what would do."""
    try:
        parsed = make_url(url)
    except ArgumentError as e:
        raise UsageError(f"--database {url!r}: not a database URL; use "
                         "sqlite:///PATH or postgresql://USER@HOST/NAME") from e
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED:
        raise UsageError(f"--database: {backend!r} is not supported; use sqlite:///PATH or "
                         "postgresql://USER@HOST/NAME")
    return parsed


def make_engine(url: str) -> Engine:
    parsed = check_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        if parsed.database:
            os.makedirs(os.path.dirname(os.path.abspath(parsed.database)), exist_ok=True)
        engine = create_engine(parsed, connect_args={"check_same_thread": False, "timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(parsed, pool_size=10, max_overflow=20, pool_pre_ping=True)


def migrate(engine: Engine) -> None:
    """Bring the schema to Alembic's head (a fresh database gets every revision)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", MIGRATIONS)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def tables(engine: Engine) -> list[str]:
    return sorted(inspect(engine).get_table_names())


class Database:
    """An engine and its session factory; ``session()`` commits on success, rolls back else."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._factory = sessionmaker(self.engine, expire_on_commit=False)
        self._reader = sessionmaker(self.engine.execution_options(**{READ_ONLY: True}),
                                    expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        s = self._factory()
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session that only reads: on SQLite it never waits for the write lock."""
        s = self._reader()
        try:
            yield s
        finally:
            s.close()  # ends the transaction; what was read stays loaded

    def dispose(self) -> None:
        self.engine.dispose()
