"""SQLite through aiosqlite with its reads on the event loop thread (services/database.py uses it)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import aiosqlite
from sqlalchemy.engine import make_url


class LoopReadsConnection(aiosqlite.Connection):
    """An aiosqlite connection whose reads run on the event loop thread, writes on its own thread.

    aiosqlite hands every call (cursor, execute, fetch, close, commit) to its thread and back: five
    thread hops for one SELECT in `engine.connect()`, about 100 us each, more than the query. In WAL
    mode a reader does not wait for the writer (only for the recovery of a WAL left by a crash,
    once, at the first read after it), so a SELECT, its fetch, a cursor's open and close and
    a commit or rollback with no transaction open (no-ops) run right here, in microseconds; so do
    the later statements of a write transaction, which already holds the write lock. What can wait
    for a lock or the disk stays on the thread: the first write of a transaction (pysqlite begins
    the transaction there, and the lock is taken there: busy_timeout), other statements outside a
    transaction (SAVEPOINT, PRAGMA), and a real COMMIT (the fsync) or ROLLBACK. The one connection
    is never used by two calls at once (pool of one, and SQLAlchemy awaits each call), so the
    thread and the loop never touch it together.
    """

    _scanning: sqlite3.Cursor | None = None  # the cursor of an OFF_LOOP statement: its fetches too

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        connection = self._connection
        if self._running and connection is not None and self._runs_on_loop(fn, args, connection):
            return fn(*args, **kwargs)
        return await super()._execute(fn, *args, **kwargs)

    def _runs_on_loop(
        self, fn: Callable[..., Any], args: tuple[Any, ...], connection: sqlite3.Connection
    ) -> bool:
        name = getattr(fn, "__name__", "")
        owner = getattr(fn, "__self__", None)
        if name in ("execute", "executemany"):
            sql = args[0] if args and isinstance(args[0], str) else ""
            if OFF_LOOP in sql:
                self._scanning = owner
                return False
            if connection.in_transaction:
                return True  # pysqlite began it for an earlier write, which took the write lock
            return sql.lstrip()[:7].upper() == "SELECT "
        if name in ("fetchone", "fetchmany", "fetchall"):
            return owner is not self._scanning  # a scan goes on while its rows are fetched
        if name == "cursor":
            return True
        if name == "close":
            if owner is self._scanning:
                self._scanning = None
            return isinstance(owner, sqlite3.Cursor)
        if name in ("commit", "rollback"):
            return not connection.in_transaction
        return False


# Marks a SELECT that may scan many rows (a whole tenant's users): it runs, and its rows are
# fetched, on aiosqlite's thread as every statement did before, so the event loop is not held for
# it. `select(...).prefix_with(OFF_LOOP)`.
OFF_LOOP = "/* off the loop */"


def loop_reads_creator(url: str) -> Callable[[], Any]:
    """`async_creator` for SQLAlchemy: a LoopReadsConnection with the arguments aiosqlite gets."""
    from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite

    args, kwargs = SQLiteDialect_aiosqlite().create_connect_args(make_url(url))
    kwargs["check_same_thread"] = False  # reads on the loop thread, writes on aiosqlite's

    async def connect() -> LoopReadsConnection:
        connection = LoopReadsConnection(lambda: sqlite3.connect(*args, **kwargs), iter_chunk_size=64)
        connection._thread.daemon = True  # as SQLAlchemy does for its own aiosqlite connections
        return await connection

    return connect
