"""The database: engines for SQLite (embedded default) and PostgreSQL, units of work, migrations."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from services.db.sqlite_worker import SQLiteWorker

T = TypeVar("T")

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent.parent / "migrations"
# Any constant shared by every instance: concurrent starts run the migrations one at a time.
_MIGRATION_LOCK_KEY = 0x7E1E_C0DE


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{(data_dir / 'bot.sqlite3').resolve()}"


def async_url(url: str) -> str:
    """The URL with an async driver: `postgresql://` and `postgres://` mean asyncpg, `sqlite://` aiosqlite."""
    parsed = make_url(url)
    driver = {
        "postgresql": "postgresql+asyncpg",
        "postgres": "postgresql+asyncpg",
        "sqlite": "sqlite+aiosqlite",
    }
    if parsed.drivername in driver:
        parsed = parsed.set(drivername=driver[parsed.drivername])
    return parsed.render_as_string(hide_password=False)


class Database:
    """Owns the engines; `migrate()` brings the schema up to date on start (SQLite or PostgreSQL).

    The services run their units of work through `read(work)` and `write(work)`: `work` is a plain
    function given a SQLAlchemy `Connection`, and everything it executes is one transaction.

    - SQLite: `work` runs on the database's own thread (`SQLiteWorker`), on the process's one
      connection, and the event loop waits for it as for any other future: one hand-off for the
      whole unit of work. (Through aiosqlite every statement was four or five hand-offs, each
      waiting its turn in the loop's ready queue while the connection stayed held; under load the
      connection was held 89 % of the time for a few microseconds of SQL per statement. README,
      Performance.) Units run one at a time, in the order they were asked for: nobody sleeps in
      SQLite's busy handler. Units that queue up meanwhile share one commit (group commit).
    - PostgreSQL: `AsyncConnection.run_sync`, asyncpg on the event loop, a pool of connections.

    `engine`, the async engine, stays for the migrations and for tests that look into the tables.
    A unit of work whose caller is cancelled still runs to its end on SQLite (a thread can not be
    interrupted): what it wrote is kept, as if the cancellation had come just after it.
    """

    def __init__(self, url: str) -> None:
        self.url = async_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self.is_postgres = self.url.startswith("postgresql")
        self._sync_engine: Engine | None = None
        self._worker: SQLiteWorker | None = None
        if self.is_sqlite:
            database = make_url(self.url).database
            if not database or database == ":memory:" or "mode=memory" in self.url:
                # Two engines below: an in-memory database would be two different databases.
                raise ValueError(
                    "DATABASE_URL: SQLite needs a file (sqlite:///path/bot.sqlite3), not memory."
                )
            # Migrations and tests only: one connection, so they never wait on each other.
            self.engine: AsyncEngine = create_async_engine(
                self.url,
                pool_size=1,
                max_overflow=0,
                pool_timeout=60,
            )
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            # The services' connection, used only on the one database thread.
            self._sync_engine = create_engine(
                make_url(self.url).set(drivername="sqlite+pysqlite"),
                pool_size=1,
                max_overflow=0,
                connect_args={"check_same_thread": False},
            )
            event.listen(self._sync_engine, "connect", _sqlite_pragmas)
            # Transactions are ours, not pysqlite's: its implicit BEGIN comes only before the first
            # INSERT/UPDATE/DELETE, so a SAVEPOINT before it would be a transaction of its own.
            event.listen(self._sync_engine, "connect", _no_implicit_transactions)
            self._worker = SQLiteWorker(self._sync_engine)
        else:
            self.engine = create_async_engine(self.url, pool_pre_ping=True)

    @property
    def sync_engines(self) -> list[Engine]:
        """Every engine that runs statements, for SQLAlchemy events (counting statements, say)."""
        engines = [self.engine.sync_engine]
        if self._sync_engine is not None:
            engines.append(self._sync_engine)
        return engines

    async def read(self, work: Callable[[Connection], T]) -> T:
        """`work(connection)` for reading: it sees what was committed before it was asked for."""
        if self._worker is not None:
            return await self._worker.submit(work, write=False)
        async with self.engine.connect() as conn:
            return await conn.run_sync(work)

    async def write(self, work: Callable[[Connection], T]) -> T:
        """`work(connection)` as one transaction: committed when it returns, rolled back if it raises.
        The caller hears back only once it is committed."""
        if self._worker is not None:
            return await self._worker.submit(work, write=True)
        async with self.engine.begin() as conn:
            return await conn.run_sync(work)

    async def migrate(self) -> None:
        """Apply every alembic migration not applied yet. Safe to run from several instances at
        once: on PostgreSQL they take turns on an advisory lock, and the later ones find nothing to do.
        A database made before migrations existed (by `create_all`) is adopted by the first one."""
        async with self.migration_connection() as conn:
            await conn.run_sync(_upgrade_to_head)

    @asynccontextmanager
    async def migration_connection(self) -> AsyncIterator[AsyncConnection]:
        """One transaction for schema changes, held by one instance at a time (PostgreSQL)."""
        async with self.engine.begin() as conn:
            if self.is_postgres:
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
            elif self.is_sqlite:
                # Take the write lock now (others wait, busy_timeout), not at the first write.
                await conn.execute(text("BEGIN IMMEDIATE"))
            yield conn

    async def create(self) -> None:
        """The name used before migrations existed; the same as `migrate()`."""
        await self.migrate()

    async def ping(self) -> None:
        await self.read(_select_one)

    async def close(self) -> None:
        if self._worker is not None:
            await asyncio.to_thread(self._worker.stop)
        await self.engine.dispose()


def _no_implicit_transactions(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None


def _select_one(conn: Connection) -> None:
    conn.execute(text("SELECT 1"))


def alembic_config(connection: Connection | None = None):
    """The alembic configuration of this project, without an ini file; `connection` is used as is."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def _upgrade_to_head(connection: Connection) -> None:
    from alembic import command

    command.upgrade(alembic_config(connection), "head")


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # busy_timeout makes concurrent writers wait, not fail; WAL lets readers run during a write.
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA journal_mode")
    if str(cursor.fetchone()[0]).lower() != "wal":
        # Only a new file needs the switch, and it takes an exclusive lock that SQLite does not
        # wait for: when several connections open a new file at once (instances starting
        # together), the ones that lose try again.
        for attempt in range(50):
            try:
                cursor.execute("PRAGMA journal_mode=WAL")
                break
            except Exception as exc:
                if "locked" not in str(exc) or attempt == 49:
                    raise
                time.sleep(0.05)
    cursor.execute("PRAGMA foreign_keys=ON")
    # A commit is on disk when it returns (an fsync of the WAL each), whatever the build's default.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()
