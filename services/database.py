"""The database: one schema for SQLite (embedded default) and PostgreSQL, through SQLAlchemy async.

The schema is owned by the alembic migrations in `migrations/` (`Database.migrate()` applies them
on start); the tables below are what the code reads and writes, and a test checks that both agree.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.types import TypeDecorator

T = TypeVar("T")

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
# Any constant shared by every instance: concurrent starts run the migrations one at a time.
_MIGRATION_LOCK_KEY = 0x7E1E_C0DE


class Clipped(TypeDecorator):
    """A bounded string cut to its column size when written.

    PostgreSQL refuses a value longer than VARCHAR(n) and SQLite stores it whole; for text that
    comes from outside (names and ids in activities, audit notes) both engines now keep the same
    first n characters, instead of one of them failing the turn.
    """

    impl = String
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        limit = self.impl_instance.length
        if isinstance(value, str) and limit and len(value) > limit:
            return value[:limit]
        return value


metadata = MetaData()

tenants = Table(
    "tenants",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(20), nullable=False),  # customer | partner
    Column("sync_required", Boolean, nullable=False, default=False),
)

partner_enterprises = Table(
    "partner_enterprises",
    metadata,
    Column("partner_tenant_id", String(64), primary_key=True),
    Column("enterprise_tenant_id", String(64), primary_key=True),
)

people = Table(
    "people",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("aad_object_id", String(64), primary_key=True),
    Column("upn", String(320), nullable=False),
    Column("display_name", String(200), nullable=False),
    Column("global_admin", Boolean, nullable=False, default=False),
    Column("partner_user", Boolean, nullable=False, default=False),
)

pbx_locations = Table(
    "pbx_locations",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("name", String(100), primary_key=True),
    Column("domain", String(200), nullable=False),
)

voice_routes = Table(
    "voice_routes",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("route_id", Integer, primary_key=True),
    Column("name", String(100), nullable=False),
)

teams_users = Table(
    "teams_users",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("upn", String(320), primary_key=True),
    Column("display_name", String(200), nullable=False),
    Column("licensed", Boolean, nullable=False),
    Column("provisioned", Boolean, nullable=False, default=False),
    Column("calling_enabled", Boolean, nullable=False, default=False),
    # Added or changed since the last "Sync Teams users" of the tenant.
    Column("sync_pending", Boolean, nullable=False, default=False),
    Column("pbx_location", String(100)),
    Column("voice_route", String(100)),
    Column("extension", String(20)),
    Column("phone_number", String(20)),
    Column("voicemail_disabled", Boolean),
    Column("default_dial_plan", Boolean),
    Column("sip_auth_id", String(64)),
    # A salted hash only, as a stand-in for the platform's own device record: the clear
    # password never reaches this database.
    Column("device_password_hash", String(200)),
)

extensions = Table(
    "extensions",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("pbx_location", String(100), primary_key=True),
    Column("number", String(20), primary_key=True),
    Column("caller_id", String(20), nullable=False),
    Column("assigned_to", String(320)),
)

requests = Table(
    "requests",
    metadata,
    Column("request_id", String(36), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("tenant_id", String(64), nullable=False, index=True),
    Column("tenant_name", String(200), nullable=False),
    Column("requester_tenant_id", String(64), nullable=False),
    Column("requester_id", String(64), nullable=False, index=True),
    Column("requester_name", String(200), nullable=False),
    Column("state", String(30), nullable=False, index=True),
    Column("version", Integer, nullable=False),
    Column("values", JSON, nullable=False),
    Column("steps", JSON, nullable=False),
    Column("error", Text),
    Column("resume_state", String(30)),
    Column("decided_by", String(200)),
    Column("decision_note", Text),
    # Where the request's progress card lives, as opaque JSON from the bot edge.
    Column("card_ref", JSON),
    Column("decided_at", DateTime(timezone=True)),
    Column("reminded_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # The pipeline lease: which process runs this request's provisioning steps, and until when.
    # Another instance takes over only after the lease has run out (migration 0002).
    Column("worker_id", String(64)),
    Column("worker_lease_until", DateTime(timezone=True)),
    # While awaiting_admin_sign_in: the platform's Global Admin sign-in page, shown as the card's
    # button (migration 0004). The state that proves the callback is in admin_sign_ins, hashed.
    Column("sign_in_url", Text),
    Column("sign_in_expires_at", DateTime(timezone=True)),
)

# Global Admin sign-ins asked for (tenants without service-provider consent): the callback's
# state token as a SHA-256 hash (never the token), single use, until expires_at (migration 0004).
admin_sign_ins = Table(
    "admin_sign_ins",
    metadata,
    Column("state_hash", String(64), primary_key=True),
    Column("request_id", String(36), nullable=False, index=True),
    Column("tenant_id", String(64), nullable=False),
    Column("upns", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    # Set once: when the callback used it, or when a newer link replaced it.
    Column("used_at", DateTime(timezone=True)),
    Column("outcome", String(30)),
)

audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor_tenant_id", Clipped(64), nullable=False),
    Column("actor_id", Clipped(64), nullable=False),
    Column("actor_name", Clipped(200), nullable=False),
    Column("tenant_id", Clipped(64), index=True),
    Column("request_id", Clipped(36), index=True),
    Column("action", Clipped(50), nullable=False),
    Column("from_state", Clipped(30)),
    Column("to_state", Clipped(30)),
    Column("outcome", Clipped(500), nullable=False),
)

# The last conversation reference of every user who installed the bot or wrote to it, as opaque
# JSON from the bot edge: proactive messages (approval cards, notices) go there.
conversations = Table(
    "conversations",
    metadata,
    Column("tenant_id", Clipped(64), primary_key=True),
    Column("aad_object_id", Clipped(64), primary_key=True),
    Column("user_id", Clipped(200), nullable=False),
    Column("name", Clipped(200), nullable=False),
    Column("reference", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Notifications to send, written in the same transaction as the change that causes them.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(40), nullable=False),
    Column("request_id", String(36), nullable=False, index=True),
    Column("recipient_tenant_id", String(64)),
    Column("recipient_id", String(64)),
    Column("payload", JSON, nullable=False),
    Column("status", String(20), nullable=False, index=True),  # pending | sent | dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, index=True),
    Column("lease_until", DateTime(timezone=True)),
    Column("last_error", String(500)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
)

# Each approver's copy of a request's approval card, so every copy can be updated.
approval_cards = Table(
    "approval_cards",
    metadata,
    Column("request_id", String(36), primary_key=True),
    Column("approver_tenant_id", String(64), primary_key=True),
    Column("approver_id", String(64), primary_key=True),
    Column("card_ref", JSON, nullable=False),
)

# botbuilder state (conversation and user state, if a dialog ever keeps any): JSON with an eTag
# for optimistic concurrency, see services/state_store.py.
bot_state = Table(
    "bot_state",
    metadata,
    Column("key", String(400), primary_key=True),
    Column("etag", String(40), nullable=False),
    Column("data", JSON, nullable=False),
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


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

    - SQLite: `work` runs on the database's own thread (`_SQLiteWorker`), on the process's one
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
        self._worker: _SQLiteWorker | None = None
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
            self._worker = _SQLiteWorker(self._sync_engine)
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


_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[[Connection], Any], bool]


class _SQLiteWorker:
    """The database thread of a SQLite `Database`: runs units of work one after the other.

    Group commit: the units that queued up while one batch ran go together into one transaction,
    each in a SAVEPOINT of its own, and the batch is committed once. A unit that raises rolls back
    to its savepoint only, and its caller gets the exception; every caller hears back only after
    the commit, so what a caller was told is written is on disk (`synchronous=FULL`), and if the
    commit fails every caller of the batch gets that error and nothing of the batch is kept. With
    a commit per unit, COMMIT was 60 % of this thread's time under load; `python -m
    bench.db_units`: 16 concurrent writers, about 1,100 -> 1,900 units/s, the same for one alone.
    A read's work must not write: here it would be committed with its batch.

    A batch with a write in it begins with BEGIN IMMEDIATE: it takes SQLite's write lock first
    (waiting for another process's writer, busy_timeout), instead of finding at its first write
    that another process wrote since its first read ("database is locked", at once).
    """

    MAX_BATCH = 64

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        # Nothing is put in the queue after stop()'s None: it would wait for an answer forever.
        self._closing = threading.Lock()
        self._closed = False
        self._immediate = False  # how the next transaction begins; only this thread uses it
        event.listen(engine, "begin", self._begin)
        self._thread = threading.Thread(target=self._serve, name="sqlite", daemon=True)
        self._thread.start()

    def submit(self, work: Callable[[Connection], T], *, write: bool) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._closing:
            if self._closed:
                raise RuntimeError("The database is closed.")
            self._queue.put((loop, future, work, write))
        return future

    def _begin(self, conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if self._immediate else "BEGIN")

    def stop(self) -> None:
        """Runs what was asked for before, then closes the connection (on its thread) and ends."""
        with self._closing:
            if not self._closed:
                self._closed = True
                self._queue.put(None)
        self._thread.join()

    def _serve(self) -> None:
        try:
            stopping = False
            while not stopping:
                job = self._queue.get()
                if job is None:
                    break
                batch = [job]
                while len(batch) < self.MAX_BATCH:
                    try:
                        job = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if job is None:
                        stopping = True
                        break
                    batch.append(job)
                self._run(batch)
        finally:
            with self._closing:  # also when this thread ends by a bug: nobody waits forever
                self._closed = True
            while True:
                try:
                    left = self._queue.get_nowait()
                except queue.Empty:
                    break
                if left is not None:
                    self._answer(left, RuntimeError("The database is closed."), None)
            self._engine.dispose()

    def _run(self, batch: list[_Job]) -> None:
        outcomes: list[tuple[BaseException | None, Any]] = []
        self._immediate = any(write for *_job, write in batch)
        try:
            with self._engine.begin() as conn:
                if len(batch) == 1:  # the transaction is the unit's own: no savepoint needed
                    outcomes.append((None, batch[0][2](conn)))
                else:
                    for _loop, _future, work, _write in batch:
                        try:
                            with conn.begin_nested():
                                outcomes.append((None, work(conn)))
                        except Exception as exc:
                            if not conn.connection.driver_connection.in_transaction:
                                # SQLite ended the whole transaction (disk full, I/O error): the
                                # units before are gone too, and the next ones would commit alone.
                                raise
                            outcomes.append((exc, None))
        except BaseException as exc:  # the commit, the connection, or a lone unit failed
            outcomes = [(exc, None)] * len(batch)
        for job, (error, value) in zip(batch, outcomes, strict=True):
            self._answer(job, error, value)

    @staticmethod
    def _answer(job: _Job, error: BaseException | None, value: Any) -> None:
        loop, future, _work, _write = job
        try:
            loop.call_soon_threadsafe(_settle, future, error, value)
        except RuntimeError:  # that loop is closed: nobody waits any more
            pass


def _settle(future: asyncio.Future[Any], error: BaseException | None, value: Any) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


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
