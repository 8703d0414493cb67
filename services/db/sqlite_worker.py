"""The database thread of a SQLite `Database`: units of work one after the other, group commit."""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

T = TypeVar("T")

_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[[Connection], Any], bool]


class SQLiteWorker:
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

    The thread keeps one connection for its life instead of taking it from the engine's pool for
    each batch (about 120 of a one-read batch's 240 us: checkout, reset, checkin; `python -m
    bench.db_units --reads`), and gives it back after a batch that failed, so the next one starts
    on a fresh connection as before. The event loop is woken once per batch, not once per unit.
    """

    MAX_BATCH = 64

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        # Nothing is put in the queue after stop()'s None: it would wait for an answer forever.
        self._closing = threading.Lock()
        self._closed = False
        self._immediate = False  # how the next transaction begins; only this thread uses it
        self._conn: Connection | None = None  # this thread's connection, between batches too
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
        # Straight to sqlite3: through exec_driver_sql it was a statement's whole execution
        # context (about 30 us) for a word that returns nothing.
        conn.connection.driver_connection.execute("BEGIN IMMEDIATE" if self._immediate else "BEGIN")

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
                    _answer([left], [(RuntimeError("The database is closed."), None)])
            self._drop_connection()
            self._engine.dispose()

    def _run(self, batch: list[_Job]) -> None:
        outcomes: list[tuple[BaseException | None, Any]] = []
        self._immediate = any(write for *_job, write in batch)
        try:
            if self._conn is None:
                self._conn = self._engine.connect()
            conn = self._conn
            with conn.begin():
                if len(batch) == 1:  # the transaction is the unit's own: no savepoint needed
                    outcomes.append((None, batch[0][2](conn)))
                else:
                    driver = conn.connection.driver_connection
                    for _loop, _future, work, write in batch:
                        outcomes.append(_unit(driver, conn, work, write))
        except BaseException as exc:  # the commit, the connection, or a lone unit failed
            outcomes = [(exc, None)] * len(batch)
            self._drop_connection()
        _answer(batch, outcomes)

    def _drop_connection(self) -> None:
        """Back to the pool (closed there if it was invalidated); the next batch takes a fresh one."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # a broken connection: the pool discards it, nothing to keep
                pass


def _answer(batch: list[_Job], outcomes: list[tuple[BaseException | None, Any]]) -> None:
    """Every caller of the batch, with one wake-up of each event loop that waits (usually one)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], BaseException | None, Any]]]
    by_loop = {}
    for (loop, future, _work, _write), (error, value) in zip(batch, outcomes, strict=True):
        by_loop.setdefault(loop, []).append((future, error, value))
    for loop, settled in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle_all, settled)
        except RuntimeError:  # that loop is closed: nobody waits any more
            pass


def _unit(driver: Any, conn: Connection, work: Callable[[Connection], Any], write: bool) -> tuple[Any, Any]:
    """One unit of a batch of several: a write in a SAVEPOINT of its own (rolled back to alone when
    it raises), a read without one (it writes nothing to undo). The savepoint goes straight to the
    driver: through SQLAlchemy's nested transactions it was a fifth of this thread's time under
    load (`python -m bench`, py-spy), straight to sqlite3 a few microseconds."""
    if write:
        driver.execute("SAVEPOINT unit")
    try:
        value = work(conn)
    except Exception as exc:
        if not driver.in_transaction:
            # SQLite ended the whole transaction (disk full, I/O error): the units before are
            # gone too, and the next ones would commit alone.
            raise
        if write:
            driver.execute("ROLLBACK TO unit")
            driver.execute("RELEASE unit")
        return exc, None
    if write:
        driver.execute("RELEASE unit")
    return None, value


def _settle_all(settled: list[tuple[asyncio.Future[Any], BaseException | None, Any]]) -> None:
    for future, error, value in settled:
        if future.cancelled():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)
