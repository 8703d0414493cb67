"""The database layer alone: units of work per second on SQLite, one at a time and 16 at once,
with and without group commit (services/db/sqlite_worker.py, `SQLiteWorker`).

    .venv/bin/python -m bench.db_units [--seconds 3] [--reads]

Each unit of work is what a click writes: two rows in one transaction (a change and its audit
row). Prints writes/s and latency per setting; each setting runs twice, the machine varies.
`--reads`: units that read one row by its key (a turn's most common unit) with group commit,
and the process's CPU per unit (both threads); run it here and in another checkout, alternated.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time

from sqlalchemy import Connection, bindparam, insert, select

from services import db
from services.db import Database, utcnow


async def run(batch: int, users: int, seconds: float) -> str:
    db.SQLiteWorker.MAX_BATCH = batch
    with tempfile.TemporaryDirectory() as tmp:
        database = Database(f"sqlite:///{tmp}/bench.sqlite3")
        await database.migrate()
        latencies: list[float] = []

        def work(conn: Connection) -> None:
            for action in ("change", "audit"):
                conn.execute(
                    insert(db.audit).values(
                        at=utcnow(),
                        actor_tenant_id="t",
                        actor_id="a",
                        actor_name="n",
                        action=action,
                        outcome="o",
                    )
                )

        async def user() -> None:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                started = time.perf_counter()
                await database.write(work)
                latencies.append(time.perf_counter() - started)

        started = time.monotonic()
        await asyncio.gather(*(user() for _ in range(users)))
        elapsed = time.monotonic() - started
        await database.close()
    latencies.sort()
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
    mode = "group commit" if batch > 1 else "one commit per unit"
    return f"{users:>5} {mode:<20}{len(latencies) / elapsed:>10.0f}{p50 * 1000:>9.2f}{p99 * 1000:>9.2f}"


async def reads(users: int, seconds: float) -> str:
    """Units that read one audit row by its key, `users` at a time: units/s and CPU us per unit."""
    with tempfile.TemporaryDirectory() as tmp:
        database = Database(f"sqlite:///{tmp}/bench.sqlite3")
        await database.migrate()
        row = insert(db.audit).values(
            at=utcnow(), actor_tenant_id="t", actor_id="a", actor_name="n", action="seed", outcome="o"
        )
        await database.write(lambda conn: conn.execute(row))
        by_id = select(db.audit).where(db.audit.c.id == bindparam("id"))
        done = 0

        async def user() -> None:
            nonlocal done
            while time.monotonic() < deadline:
                await database.read(lambda conn: conn.execute(by_id, {"id": 1}).first())
                done += 1

        deadline = time.monotonic() + seconds
        started, cpu = time.monotonic(), time.process_time()
        await asyncio.gather(*(user() for _ in range(users)))
        elapsed, cpu = time.monotonic() - started, time.process_time() - cpu
        await database.close()
    return f"{users:>5} {'reads, group commit':<20}{done / elapsed:>10.0f}{cpu * 1e6 / done:>12.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--reads", action="store_true", help="one-row reads: units/s, CPU per unit")
    args = parser.parse_args()
    if args.reads:
        print(f"{'users':>5} {'units':<20}{'units/s':>10}{'CPU us/unit':>12}")
        for users in (1, 16, 1, 16):
            print(asyncio.run(reads(users, args.seconds)))
        return
    default = db.SQLiteWorker.MAX_BATCH
    print(f"{'users':>5} {'commit':<20}{'writes/s':>10}{'p50 ms':>9}{'p99 ms':>9}")
    for users in (1, 16):
        for batch in (1, default, 1, default):
            print(asyncio.run(run(batch, users, args.seconds)))


if __name__ == "__main__":
    main()
