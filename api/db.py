"""The database: engine set-up (SQLite in WAL mode or PostgreSQL), sessions, migrations.

`Database.prepare(auto_migrate)` brings the schema to the newest Alembic revision, or refuses
with `SchemaError` saying what to run when auto-migration is off. Migrations of several
processes starting at once are serialised (a PostgreSQL advisory lock, a lock file for SQLite).
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SUPPORTED = ("sqlite", "postgresql")
_ADVISORY_LOCK = 7_310_000_004  # any constant: "complaint-triage schema migration"

log = logging.getLogger("api.db")


class SchemaError(RuntimeError):
    """The database schema is not the one this code needs, or the database cannot be used."""


def describe_error(error: Exception) -> str:
    """The error's type and the first line of its message, for a log line (SQL parameters are
    never shown: the engines hide them)."""
    first = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


# Connections per process. Requests take a session only through `api.deps.SessionDep`, which
# admits at most POOL_SIZE + POOL_OVERFLOW at a time, so no request thread ever waits on the pool.
# The deadline sweep and the metrics scrapes have pools of their own (`Database`).
POOL_SIZE = 5
POOL_OVERFLOW = 10
# Seconds a metrics scrape waits for a connection of its own pool (two scrapes at once get one
# each; a third waits): far below Prometheus's scrape timeout of 10 s.
SCRAPE_POOL_TIMEOUT = 1.0
# Seconds to wait for PostgreSQL to accept a connection (libpq waits forever, psycopg 130 s): a
# server that hangs makes requests and /readyz fail fast with 503 instead of holding every
# session. A `connect_timeout` in the URL wins.
CONNECT_TIMEOUT = 5


def make_engine(
    url: str,
    create: bool = True,
    *,
    pool_size: int = POOL_SIZE,
    max_overflow: int = POOL_OVERFLOW,
    pool_timeout: float = 30.0,
) -> Engine:
    """An engine for a SQLite file (created with its folder unless `create` is false: then the
    file must exist) or a PostgreSQL URL, with a pool of `pool_size` + `max_overflow` connections
    that a caller waits `pool_timeout` seconds for."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise SchemaError(
            f"DATABASE_URL {url!r} is not a database URL (e.g. sqlite:///var/triage.db or postgresql+psycopg://user@host/db)"
        ) from None
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED:
        raise SchemaError(f"DATABASE_URL: unsupported database {backend!r} (use sqlite or postgresql)")
    if backend == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            raise SchemaError("DATABASE_URL: SQLite needs a file path, e.g. sqlite:///var/triage.db")
        if not create and not Path(database).is_file():
            raise SchemaError(f"DATABASE_URL: no SQLite database at {database} (is it the service's DATABASE_URL?)")
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            parsed,
            connect_args={"timeout": 30, "check_same_thread": False},
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
            hide_parameters=True,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    try:
        return create_engine(
            parsed,
            connect_args={} if "connect_timeout" in parsed.query else {"connect_timeout": CONNECT_TIMEOUT},
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
            pool_pre_ping=True,
            hide_parameters=True,
        )
    except (ImportError, NoSuchModuleError):
        raise SchemaError(
            f"DATABASE_URL: the PostgreSQL driver {parsed.get_driver_name()!r} is not installed; "
            "use postgresql+psycopg://user@host/db"
        ) from None


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration pointing at `api/migrations` (and at `connection`, when given)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revisions() -> set[str]:
    """The newest revision(s) the code knows."""
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def current_revisions(connection: Connection) -> set[str]:
    """The revision(s) the database is at (empty for a new database)."""
    return set(MigrationContext.configure(connection).get_current_heads())


class Database:
    """The requests' engine and its session factory, and the engines of the background work.

    The deadline sweep (`sweep_engine`, one connection), the notification dispatcher
    (`notify_engine`, one) and the metrics scrapes (`scrape_engine`, two, waited for
    `SCRAPE_POOL_TIMEOUT`) have pools of their own, so that they never take a connection an
    admitted request counts on, and a scrape never waits behind busy requests. Engines connect on
    first use. `sessions` and `sweep_sessions` are the factories of the sessions that record
    escalations (`api.services.outbox.install_outbox` listens on both).
    """

    def __init__(self, url: str, create: bool = True) -> None:
        self.engine = make_engine(url, create)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.sweep_engine = make_engine(url, create, pool_size=1, max_overflow=0)
        self.sweep_sessions = sessionmaker(self.sweep_engine, expire_on_commit=False)
        self.notify_engine = make_engine(url, create, pool_size=1, max_overflow=0)
        self.scrape_engine = make_engine(url, create, pool_size=1, max_overflow=1, pool_timeout=SCRAPE_POOL_TIMEOUT)

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.engine.dialect.name

    def describe(self) -> str:
        """The URL with its password hidden, for logs."""
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def _migration_lock(self) -> Iterator[Connection]:
        if self.dialect == "sqlite":
            lock_path = Path(f"{self.engine.url.database}.migrate-lock")
            with lock_path.open("a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    with self.engine.connect() as connection:
                        yield connection
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)
            return
        with self.engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _ADVISORY_LOCK})
            connection.commit()
            try:
                yield connection
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _ADVISORY_LOCK})
                connection.commit()

    def prepare(self, auto_migrate: bool) -> None:
        """Migrate to the newest revision, or check that the schema is current.

        Raises SchemaError with what to do when the schema is behind (and auto-migration is
        off) or ahead of this code.
        """
        heads = head_revisions()
        try:
            self._prepare(heads, auto_migrate)
        except DBAPIError as error:
            # Unreachable server, refused login, a file that is not a SQLite database...
            reason = str(error.orig).strip().splitlines()[0] if error.orig is not None else type(error).__name__
            raise SchemaError(f"the database {self.describe()} cannot be used: {reason}") from None

    def _prepare(self, heads: set[str], auto_migrate: bool) -> None:
        # Only a migration needs the lock (and, for SQLite, its lock file beside the database).
        with self._migration_lock() if auto_migrate else self.engine.connect() as connection:
            current = current_revisions(connection)
            connection.rollback()
            if current == heads:
                return
            known = {script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
            unknown = current - known
            if unknown:
                raise SchemaError(
                    f"the database schema is at revision {', '.join(sorted(unknown))}, which this code does "
                    "not know (is a newer version of the service using this database?)"
                )
            if not auto_migrate:
                raise SchemaError(
                    f"the database schema is at revision {', '.join(sorted(current)) or 'none (empty database)'}, "
                    f"this code needs {', '.join(sorted(heads))}: run `alembic -c api/alembic.ini upgrade head` "
                    "with DATABASE_URL set, or start with TRIAGE_AUTO_MIGRATE=true"
                )
            log.info("migrating the database schema to %s", ", ".join(sorted(heads)))
            command.upgrade(alembic_config(connection), "head")
            connection.commit()

    def ping(self) -> str | None:
        """None when the database answers, else a short reason."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as error:  # any driver error means "not reachable"
            return f"database unreachable ({type(error).__name__})"
        return None

    def session(self) -> Session:
        """A new session (use as a context manager)."""
        return self.sessions()

    def sweep_session(self) -> Session:
        """A new session of the deadline sweep's own pool (use as a context manager)."""
        return self.sweep_sessions()

    def notify_session(self) -> Session:
        """A new session of the notification dispatcher's own pool (use as a context manager)."""
        return Session(self.notify_engine, expire_on_commit=False)

    @contextmanager
    def scrape_connection(self, timeout: float) -> Iterator[Connection]:
        """A connection of the scrapes' own pool, held for one read only; on PostgreSQL its
        statements are cancelled after `timeout` seconds (a database error is raised)."""
        with self.scrape_engine.connect() as connection:
            if self.dialect == "postgresql":
                # SET LOCAL: for this transaction only, which ends (rolled back) with the connection
                connection.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, round(timeout * 1000))}")
            yield connection

    def dispose(self) -> None:
        """Close every pooled connection."""
        for engine in (self.engine, self.sweep_engine, self.notify_engine, self.scrape_engine):
            engine.dispose()
