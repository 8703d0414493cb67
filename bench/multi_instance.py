"""Scale-out benchmark: the admin add-user conversation on several bot instances sharing PostgreSQL.

    .venv/bin/python -m bench.multi_instance [--instances 2] [--users 16] [--duration 20]

Measures three set-ups one after the other, each on a fresh database: one instance on SQLite (the
default), one instance on PostgreSQL, and `--instances` instances on one PostgreSQL database.
With several instances every turn goes to the next instance in turn (round robin, as a load
balancer without sticky sessions does), so one conversation's form, review and click land on
different processes. The conversation, the connector sink and the statistics are those of
`python -m bench` (bench/__main__.py). PostgreSQL: PG_BENCH_URL, else PG_TEST_URL, else
postgresql://127.0.0.1:5432/test; the role must be allowed to CREATE DATABASE.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import secrets
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from sqlalchemy.engine import make_url

from bench.__main__ import (
    TENANT,
    Client,
    Sink,
    Stats,
    add_user_conversations,
    admin_id,
    free_port,
    make_world,
    rss_kb,
    server,
    summary,
)


class RoundRobinClient(Client):
    """A user whose every turn goes to the next instance."""

    def __init__(self, urls: Iterator[str], *args: Any) -> None:
        super().__init__(*args)
        self._urls = urls

    async def post(self, kind: str, activity: dict[str, Any]) -> Any:
        self.bot_url = next(self._urls)
        return await super().post(kind, activity)


@contextlib.asynccontextmanager
async def postgres_database(server_url: str) -> AsyncIterator[str]:
    """A fresh database for one measurement; the bot's DATABASE_URL for it."""
    name = f"bot_bench_{secrets.token_hex(4)}"
    plain = make_url(server_url).set(drivername="postgresql")
    admin = await asyncpg.connect(plain.render_as_string(hide_password=False))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield plain.set(drivername="postgresql+asyncpg", database=name).render_as_string(
                hide_password=False
            )
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def measure(
    label: str,
    instances: int,
    database_url: str | None,
    args: argparse.Namespace,
    sink: Sink,
    http: aiohttp.ClientSession,
    workdir: Path,
) -> dict[str, Any]:
    conversations_needed = int(150 * args.duration) + 500
    world = workdir / "world.json"
    if not world.exists():
        world.write_text(json.dumps(make_world(conversations_needed, conversations_needed)))
    counter = itertools.count()
    stats = Stats()
    async with contextlib.AsyncExitStack() as stack:
        urls, pids = [], []
        for i in range(instances):
            port = free_port()
            env = {
                "PORT": str(port),
                "DATA_DIR": str(workdir / f"{label}-{i}"),
                "EXTRA_WORLD_FILE": str(world),
                "LOG_LEVEL": "WARNING",
            }
            if database_url:
                env["DATABASE_URL"] = database_url
            # One after the other: the first migrates and seeds, the others find it done.
            pids.append(await stack.enter_async_context(server(["app.py"], port, env)))
            urls.append(f"http://127.0.0.1:{port}")
        rotation = itertools.cycle(urls)

        def client_for(stats_: Stats) -> Any:
            return lambda index: RoundRobinClient(
                rotation, http, urls[0], sink, admin_id(index), TENANT, stats_
            )

        await add_user_conversations(client_for(Stats()), lambda: next(counter), time.monotonic() + 2)
        started = time.monotonic()
        deadline = started + args.duration
        await asyncio.gather(
            *(
                add_user_conversations(client_for(stats), lambda: next(counter), deadline)
                for _ in range(args.users)
            )
        )
        elapsed = time.monotonic() - started
        result = summary(stats, elapsed, max(rss_kb(pid, "VmHWM") for pid in pids))
    result["instances"] = instances
    result["database"] = "PostgreSQL" if database_url else "SQLite"
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--instances", type=int, default=2, help="instances sharing PostgreSQL (2)")
    parser.add_argument("--users", type=int, default=16, help="concurrent simulated users (16)")
    parser.add_argument("--duration", type=float, default=20, help="seconds per measured set-up (20)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    pg = os.environ.get("PG_BENCH_URL") or os.environ.get("PG_TEST_URL") or "postgresql://127.0.0.1:5432/test"
    results: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "users": args.users,
        "duration_s": args.duration,
        "runs": [],
    }
    sink = Sink()
    await sink.start()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            results["runs"].append(await measure("sqlite", 1, None, args, sink, http, workdir))
            async with postgres_database(pg) as url:
                results["runs"].append(await measure("pg1", 1, url, args, sink, http, workdir))
            async with postgres_database(pg) as url:
                results["runs"].append(
                    await measure(f"pg{args.instances}", args.instances, url, args, sink, http, workdir)
                )
    await sink.stop()
    print(f"{results['machine']}; {args.users} concurrent users, {args.duration:.0f} s per set-up")
    print(f"{'set-up':<28} {'turns/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for run in results["runs"]:
        latency = run["latency_ms"]["all"]
        name = f"{run['instances']} instance(s), {run['database']}"
        print(
            f"{name:<28} {run['turns_per_s']:>8.1f} {latency['p50']:>8.1f} {latency['p95']:>8.1f} "
            f"{latency['p99']:>8.1f} {run['errors']:>7}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
        print(f"results written to {args.json}")


if __name__ == "__main__":
    asyncio.run(main())
