"""`Database.read(work)` and `Database.write(work)`: the units of work every service runs.

The contract on both engines: a write is committed when its function returns and leaves nothing
behind when it raises (the exception reaching the caller as it was raised); a read sees what was
committed. On SQLite the units run on the database's own thread: one at a time, in the order they
were asked for, with the event loop free meanwhile, and a unit whose caller is cancelled still runs
to its end and keeps what it wrote.

Every engine test runs on SQLite and on PostgreSQL (see tests/pg.py for how PostgreSQL is found).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import (
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from services.db import Database
from tests.pg import pg_server, pg_url  # noqa: F401  (fixtures)

ENGINES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]

# A table of the tests' own, so that what a unit of work leaves behind is all that is in it.
scratch = MetaData()
units = Table(
    "test_units",
    scratch,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("n", Integer, nullable=False),
    Column("note", String(50), nullable=False),
)


class Boom(Exception):
    """What a unit of work raises to be rolled back."""


@pytest.fixture(params=ENGINES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'bot.sqlite3'}"
    return request.getfixturevalue("pg_url")


@asynccontextmanager
async def scratch_database(url: str) -> AsyncIterator[Database]:
    database = Database(url)
    await database.migrate()
    # Through the async engine, not the code under test.
    async with database.engine.begin() as conn:
        await conn.run_sync(scratch.create_all)
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    async with scratch_database(database_url) as database:
        yield database


@pytest.fixture
async def sqlite_database(tmp_path: Path) -> AsyncIterator[Database]:
    async with scratch_database(f"sqlite:///{tmp_path / 'bot.sqlite3'}") as database:
        yield database


async def committed(database: Database) -> list[tuple[int, str]]:
    """The rows as another connection sees them: only what was committed."""
    async with database.engine.connect() as conn:
        rows = (await conn.execute(select(units.c.n, units.c.note).order_by(units.c.id))).all()
    return [tuple(row) for row in rows]


def add(n: int, note: str) -> Callable[[Connection], None]:
    def work(conn: Connection) -> None:
        conn.execute(insert(units).values(n=n, note=note))

    return work


def append_next(note: str) -> Callable[[Connection], int]:
    """Reads how many rows there are and adds the next number: right only if nobody runs between."""

    def work(conn: Connection) -> int:
        count = conn.execute(select(func.count()).select_from(units)).scalar_one()
        conn.execute(insert(units).values(n=count + 1, note=note))
        return count + 1

    return work


# -- both engines ----------------------------------------------------------------------------------


async def test_a_write_is_committed_when_its_work_returns(database: Database):
    def work(conn: Connection) -> str:
        conn.execute(insert(units).values(n=1, note="first"))
        conn.execute(insert(units).values(n=2, note="second"))
        conn.execute(update(units).where(units.c.n == 1).values(note="changed"))
        return "the work's own value"

    assert await database.write(work) == "the work's own value"
    assert await committed(database) == [(1, "changed"), (2, "second")]
    # And another instance (as another process would) sees it too.
    other = Database(database.url)
    try:
        rows = await other.read(lambda conn: conn.execute(select(units.c.n).order_by(units.c.n)).all())
        assert [row.n for row in rows] == [1, 2]
    finally:
        await other.close()


async def test_a_write_that_raises_keeps_nothing_and_the_caller_gets_that_exception(database: Database):
    await database.write(add(1, "before"))
    boom = Boom("the third statement found something wrong")

    def work(conn: Connection) -> None:
        conn.execute(insert(units).values(n=2, note="lost"))
        conn.execute(update(units).where(units.c.n == 1).values(note="lost too"))
        with conn.begin_nested():  # a savepoint released before the failure is rolled back too
            conn.execute(insert(units).values(n=3, note="lost in a savepoint"))
        raise boom

    with pytest.raises(Boom) as raised:
        await database.write(work)
    assert raised.value is boom
    assert await committed(database) == [(1, "before")]
    # The connection is fine afterwards.
    await database.write(add(4, "after"))
    assert await committed(database) == [(1, "before"), (4, "after")]


async def test_a_savepoint_rolled_back_inside_a_write_keeps_the_rest(database: Database):
    """The shape of ConversationBook.remember and StateStore.write: a failed insert in a savepoint."""

    def work(conn: Connection) -> bool:
        conn.execute(insert(units).values(id=1, n=1, note="kept"))
        try:
            with conn.begin_nested():
                conn.execute(insert(units).values(id=1, n=2, note="a duplicate key"))
        except IntegrityError:  # only the savepoint is rolled back
            conn.execute(insert(units).values(id=2, n=3, note="kept after the savepoint"))
            return False
        return True

    assert await database.write(work) is False
    assert await committed(database) == [(1, "kept"), (3, "kept after the savepoint")]


async def test_concurrent_writes_where_one_raises_lose_only_that_one(database: Database):
    def failing(conn: Connection) -> None:
        conn.execute(insert(units).values(n=99, note="lost"))
        raise Boom("no")

    results = await asyncio.gather(
        database.write(add(1, "a")),
        database.write(failing),
        database.write(add(2, "b")),
        database.write(failing),
        database.write(add(3, "c")),
        return_exceptions=True,
    )
    assert [type(r).__name__ for r in results] == ["NoneType", "Boom", "NoneType", "Boom", "NoneType"]
    assert sorted(await committed(database)) == [(1, "a"), (2, "b"), (3, "c")]


async def test_a_read_sees_what_was_committed(database: Database):
    def rows(conn: Connection) -> list[tuple[int, str]]:
        return [tuple(r) for r in conn.execute(select(units.c.n, units.c.note).order_by(units.c.n))]

    assert await database.read(rows) == []
    # Committed elsewhere: by the async engine, and by another instance.
    async with database.engine.begin() as conn:
        await conn.execute(insert(units).values(n=1, note="from the engine"))
    assert await database.read(rows) == [(1, "from the engine")]
    other = Database(database.url)
    try:
        await other.write(add(2, "from another instance"))
    finally:
        await other.close()
    assert await database.read(rows) == [(1, "from the engine"), (2, "from another instance")]
    # Committed by a write of its own, and not what a write rolled back.
    await database.write(add(3, "from a write"))

    def rolled_back(conn: Connection) -> None:
        add(4, "rolled back")(conn)
        raise Boom

    with pytest.raises(Boom):
        await database.write(rolled_back)
    assert await database.read(rows) == [
        (1, "from the engine"),
        (2, "from another instance"),
        (3, "from a write"),
    ]


# -- SQLite: the database's own thread -------------------------------------------------------------


async def test_units_run_one_at_a_time_in_the_order_they_were_asked_for(sqlite_database: Database):
    database = sqlite_database
    running = 0
    overlapped = []
    guard = threading.Lock()

    def one_at_a_time(work: Callable[[Connection], int]) -> Callable[[Connection], int]:
        def watched(conn: Connection) -> int:
            nonlocal running
            with guard:
                running += 1
                if running > 1:
                    overlapped.append(running)
            try:
                time.sleep(0.002)  # widen the window a second thread would need
                return work(conn)
            finally:
                with guard:
                    running -= 1

        return watched

    def count_rows(conn: Connection) -> int:
        return conn.execute(select(func.count()).select_from(units)).scalar_one()

    # Writes, each appending the next number, and between them reads, each counting the rows.
    kinds = ["write", "write", "read"] * 30
    calls = []
    for i, kind in enumerate(kinds):
        if kind == "write":
            unit = database.write(one_at_a_time(append_next(f"unit {i}")))
        else:
            unit = database.read(one_at_a_time(count_rows))
        calls.append(asyncio.create_task(unit))
        await asyncio.sleep(0)  # asked for while the ones before are waiting or running
    results = await asyncio.gather(*calls)

    assert overlapped == []
    writes_before = [kinds[:i].count("write") for i in range(len(kinds))]
    # A write's number is one more than the writes asked for before it (no duplicates, no gaps),
    # and a read counts exactly the writes asked for before it.
    assert results == [n + 1 if kind == "write" else n for kind, n in zip(kinds, writes_before, strict=True)]
    assert await committed(database) == [
        (writes_before[i] + 1, f"unit {i}") for i, kind in enumerate(kinds) if kind == "write"
    ]


async def test_the_event_loop_keeps_running_while_a_slow_unit_of_work_runs(sqlite_database: Database):
    database = sqlite_database
    ticks = 0
    started = threading.Event()
    ticks_at_start: list[int] = []
    ticks_at_end: list[int] = []

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    def slow(conn: Connection) -> None:
        ticks_at_start.append(ticks)
        started.set()
        conn.execute(insert(units).values(n=1, note="slow"))
        time.sleep(0.3)  # blocking: on the event loop nothing else would run meanwhile
        ticks_at_end.append(ticks)

    ticking = asyncio.create_task(ticker())
    try:
        await database.write(slow)
    finally:
        ticking.cancel()
    assert started.is_set()
    assert ticks_at_end[0] - ticks_at_start[0] >= 3, "the loop stood still while the work ran"
    assert await committed(database) == [(1, "slow")]


async def test_a_cancelled_caller_s_running_work_runs_to_its_end_and_is_kept(sqlite_database: Database):
    database = sqlite_database
    started, release = threading.Event(), threading.Event()

    def long(conn: Connection) -> None:
        conn.execute(insert(units).values(n=1, note="first half"))
        started.set()
        assert release.wait(10), "never released"
        conn.execute(insert(units).values(n=2, note="second half"))

    caller = asyncio.create_task(database.write(long))
    assert await asyncio.to_thread(started.wait, 10)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    release.set()
    # The next unit runs after it, so it sees it whole.
    rows = await database.read(lambda conn: conn.execute(select(units.c.n).order_by(units.c.n)).all())
    assert [r.n for r in rows] == [1, 2]
    assert await committed(database) == [(1, "first half"), (2, "second half")]


async def test_a_cancelled_caller_s_queued_work_still_runs_and_is_kept(sqlite_database: Database):
    """Cancelled while it waited for its turn: it runs when its turn comes, as the docstring says."""
    database = sqlite_database
    started, release = threading.Event(), threading.Event()

    def blocker(conn: Connection) -> None:
        started.set()
        assert release.wait(10), "never released"
        conn.execute(insert(units).values(n=1, note="ahead"))

    ahead = asyncio.create_task(database.write(blocker))
    assert await asyncio.to_thread(started.wait, 10)
    queued = asyncio.create_task(database.write(add(2, "queued, then cancelled")))
    await asyncio.sleep(0)  # let it be asked for
    queued.cancel()
    with pytest.raises(asyncio.CancelledError):
        await queued
    release.set()
    await ahead
    await database.read(lambda conn: None)  # everything asked for before has run
    assert await committed(database) == [(1, "ahead"), (2, "queued, then cancelled")]


async def test_close_runs_what_was_asked_for_before_it(sqlite_database: Database):
    database = sqlite_database
    writes = [asyncio.create_task(database.write(add(i, f"unit {i}"))) for i in range(1, 6)]
    await asyncio.sleep(0)  # asked for
    await database.close()
    for _ in range(100):  # their answers are on the loop already: a few turns of it, not a wait
        if all(write.done() for write in writes):
            break
        await asyncio.sleep(0)
    assert all(write.done() for write in writes), "a unit asked for before close() was never answered"
    await asyncio.gather(*writes)
    # Asked for after: a clear error, not a wait that never ends.
    with pytest.raises(RuntimeError):
        await database.write(add(6, "too late"))
    reopened = Database(database.url)
    try:
        rows = await reopened.read(lambda conn: conn.execute(select(units.c.n).order_by(units.c.n)).all())
    finally:
        await reopened.close()
    assert [r.n for r in rows] == [1, 2, 3, 4, 5]


async def _in_one_batch(database: Database, works: list[Callable[[Connection], object]]) -> list[object]:
    """Runs `works` as one batch: asked for while a unit ahead of them holds the database thread."""
    started, release = threading.Event(), threading.Event()

    def blocker(conn: Connection) -> None:
        started.set()
        assert release.wait(10), "never released"

    ahead = asyncio.create_task(database.read(blocker))
    assert await asyncio.to_thread(started.wait, 10)
    tasks = [asyncio.create_task(database.write(work)) for work in works]
    await asyncio.sleep(0)  # all asked for while the thread is busy: they queue up together
    release.set()
    await ahead
    return await asyncio.gather(*tasks, return_exceptions=True)


async def test_units_queued_together_share_a_commit_and_each_keeps_its_own_outcome(
    sqlite_database: Database,
):
    database = sqlite_database
    commits: list[str] = []
    engine = database.sync_engines[-1]

    def count_commit(_conn: Connection) -> None:
        commits.append("commit")

    event.listen(engine, "commit", count_commit)

    def fails(conn: Connection) -> None:
        conn.execute(insert(units).values(n=2, note="rolled back to its savepoint"))
        raise Boom("no")

    outcomes = await _in_one_batch(database, [add(1, "kept"), fails, add(3, "kept too")])
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], Boom)
    assert await committed(database) == [(1, "kept"), (3, "kept too")]
    # One for the read ahead (its own batch), one for the three units together.
    assert commits == ["commit", "commit"], "the three units of the batch were not committed together"


async def test_reads_and_a_write_s_own_savepoint_in_one_batch_keep_their_outcomes(
    sqlite_database: Database,
):
    """A read in a batch runs without a savepoint of its own (it writes nothing to undo): one that
    raises leaves the writes around it; a write's own nested savepoint still works inside its unit."""
    database = sqlite_database
    started, release = threading.Event(), threading.Event()

    def blocker(conn: Connection) -> None:
        started.set()
        assert release.wait(10), "never released"

    def read_fails(conn: Connection) -> None:
        conn.execute(select(units.c.n)).all()
        raise Boom("a read that fails")

    def read_sees(conn: Connection) -> list[int]:
        return [row.n for row in conn.execute(select(units.c.n).order_by(units.c.n))]

    def nested(conn: Connection) -> None:
        conn.execute(insert(units).values(n=5, note="kept"))
        with contextlib.suppress(Boom), conn.begin_nested():
            conn.execute(insert(units).values(n=6, note="its inner savepoint rolled back"))
            raise Boom("inner")

    ahead = asyncio.create_task(database.read(blocker))
    assert await asyncio.to_thread(started.wait, 10)
    tasks = [
        asyncio.create_task(database.write(add(1, "kept"))),
        asyncio.create_task(database.read(read_fails)),
        asyncio.create_task(database.read(read_sees)),
        asyncio.create_task(database.write(nested)),
    ]
    await asyncio.sleep(0)
    release.set()
    await ahead
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert outcomes[0] is None and isinstance(outcomes[1], Boom) and outcomes[3] is None
    assert outcomes[2] == [1], "a read in the batch sees the writes before it"
    assert await committed(database) == [(1, "kept"), (5, "kept")]


async def test_when_sqlite_ends_the_transaction_mid_batch_nothing_of_the_batch_is_kept(
    sqlite_database: Database,
):
    """As after a disk-full or I/O error, which make SQLite roll the whole transaction back: the
    units after it must not run outside a transaction and be committed alone."""
    database = sqlite_database

    def transaction_ended(conn: Connection) -> None:
        conn.exec_driver_sql("ROLLBACK")
        raise Boom("the transaction is gone")

    outcomes = await _in_one_batch(database, [add(1, "before"), transaction_ended, add(3, "after")])
    assert all(isinstance(outcome, Exception) for outcome in outcomes), outcomes
    assert await committed(database) == []
    # The database thread goes on.
    await database.write(add(4, "next batch"))
    assert await committed(database) == [(4, "next batch")]


async def test_the_database_thread_keeps_one_connection_and_takes_a_fresh_one_after_a_failed_batch(
    sqlite_database: Database,
):
    """The thread keeps its connection between units (no pool checkout for each: issue 22); when a
    batch fails with the connection broken (closed here, as SQLite or the disk might leave it), its
    caller gets the error and the next unit runs, and is kept, on a new connection."""
    database = sqlite_database
    await database.read(lambda conn: None)  # the thread's first unit takes its connection
    checkouts: list[int] = []
    event.listen(database.sync_engines[-1].pool, "checkout", lambda dbapi, *_: checkouts.append(id(dbapi)))
    await database.write(add(1, "kept"))
    for _ in range(3):
        await database.read(lambda conn: conn.execute(select(units.c.n)).all())
    assert checkouts == [], "a unit took the connection from the pool again"

    def breaks_the_connection(conn: Connection) -> None:
        conn.execute(insert(units).values(n=2, note="lost with its connection"))
        conn.connection.driver_connection.close()

    with pytest.raises(Exception, match="closed"):
        await database.write(breaks_the_connection)
    await database.write(add(3, "on a fresh connection"))
    await database.write(add(4, "on the same one"))
    assert len(checkouts) == 1, "after the failed batch, one checkout and then none"
    assert await committed(database) == [(1, "kept"), (3, "on a fresh connection"), (4, "on the same one")]


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "sqlite+aiosqlite:///:memory:"])
def test_an_in_memory_sqlite_database_is_refused_with_a_clear_message(url: str):
    with pytest.raises(ValueError, match="SQLite needs a file"):
        Database(url)
