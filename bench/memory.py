"""Memory over many turns: the bot's RSS from 10,000 to 50,000 turns of full add-user conversations.

    .venv/bin/python -m bench.memory [--turns 50000] [--users 4] [--every 5000] [--sqlite-cache-kib N]

The bot runs in this process (as in bench.profile_turns) so that Python's own view can be read
next to the RSS: every `--every` turns it prints the RSS, `sys.getallocatedblocks()` (Python's
live objects; a leak of Python objects grows it) and the database file's size. RSS growing while
the allocated blocks stay flat is memory below Python: SQLite's page cache (2 MB per connection
by default, filled as the database grows), or the C allocator's arenas. `--sqlite-cache-kib`
sets SQLite's `cache_size` on the bot's connection, to tell the two apart.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import aiohttp
from aiohttp import web

from app import PARTS, create_app
from bench.__main__ import TENANT, Client, Sink, Stats, admin_id, free_port, make_world, one_add_user
from bot.settings import Settings


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=50_000)
    parser.add_argument("--users", type=int, default=4, help="concurrent conversations (4)")
    parser.add_argument("--every", type=int, default=5_000)
    parser.add_argument("--sqlite-cache-kib", type=int, help="PRAGMA cache_size=-N on the bot's connection")
    parser.add_argument("--trace", action="store_true", help="tracemalloc: where Python's memory grew")
    args = parser.parse_args()
    if args.trace:
        tracemalloc.start(4)
    conversations = args.turns // 4 + 50  # a conversation is 4 turns, plus its pipeline
    sink = Sink()
    await sink.start()
    with tempfile.TemporaryDirectory() as tmp:
        world = Path(tmp) / "world.json"
        world.write_text(json.dumps(make_world(conversations, conversations)))
        settings = Settings(_env_file=None, DATA_DIR=tmp, EXTRA_WORLD_FILE=str(world), LOG_LEVEL="WARNING")
        app = create_app(settings)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        url = f"http://127.0.0.1:{port}"
        database = app[PARTS].database
        if args.sqlite_cache_kib is not None:
            await database.write(
                lambda conn: conn.exec_driver_sql(f"PRAGMA cache_size=-{int(args.sqlite_cache_kib)}")
            )
        stats = CountingStats()
        counter = iter(range(conversations))
        started = time.monotonic()
        next_report = args.every
        print(f"{'turns':>8}{'s':>7}{'RSS MB':>9}{'alloc blocks':>14}{'db MB':>8}", flush=True)

        async with aiohttp.ClientSession() as http:

            async def slot() -> None:
                nonlocal next_report
                while stats.turns < args.turns:
                    index = next(counter)
                    client = Client(http, url, sink, admin_id(index), TENANT, stats)
                    await one_add_user(client, index, via_button=index % 2 == 0)
                    # The in-process connector sink's own per-conversation queue and counts: not
                    # the bot's memory (they were part of the creep measured before).
                    sink.queues.pop(client.conversation, None)
                    sink.sends.pop(client.conversation, None)
                    if stats.turns >= next_report:
                        next_report += args.every
                        report(stats.turns, time.monotonic() - started, tmp)

            await asyncio.gather(*(slot() for _ in range(args.users)))
        await runner.cleanup()
    await sink.stop()
    print(f"errors: {stats.errors}")
    if args.trace and len(SNAPSHOTS) >= 2:
        print(
            f"\nPython memory grown from {SNAPSHOTS[0][0]} to {SNAPSHOTS[-1][0]} turns, by where it was allocated:"
        )
        for stat in SNAPSHOTS[-1][1].compare_to(SNAPSHOTS[0][1], "traceback")[:12]:
            print(f"{stat.size_diff / 1024:+9.1f} KB {stat.count_diff:+8} blocks")
            for line in stat.traceback.format()[-8:]:
                print("    " + line)


SNAPSHOTS: list[tuple[int, tracemalloc.Snapshot]] = []


class CountingStats(Stats):
    """Counts turns without keeping each one's latency (a list that grew with every turn)."""

    def add(self, kind: str, seconds: float) -> None:
        self.turns += 1


def report(turns: int, seconds: float, tmp: str) -> None:
    gc.collect()
    if tracemalloc.is_tracing():
        SNAPSHOTS.append((turns, tracemalloc.take_snapshot()))
    size = sum(p.stat().st_size for p in Path(tmp).glob("bot.sqlite3*"))
    print(
        f"{turns:8}{seconds:7.0f}{rss_kb() / 1024:9.1f}{sys.getallocatedblocks():14}{size / 2**20:8.1f}",
        flush=True,
    )


if __name__ == "__main__":
    asyncio.run(main())
