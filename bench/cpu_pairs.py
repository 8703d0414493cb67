"""The full bot here and in another checkout, alternated in pairs: turns/s and CPU per conversation,
split by thread (the event loop and the database thread), from /proc.

    .venv/bin/python -m bench.cpu_pairs DIR [--rounds 3] [--duration 15] [--users 16]

DIR is another checkout of this project (e.g. `git worktree add /tmp/before <commit>`), run with
this checkout's Python and load generator. Each round runs DIR's bot, then this one, each for
--duration seconds after a 2 s warm-up, on a fresh data directory; a machine whose speed varies
by half within minutes is compared within a pair, never across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.harness import (
    ROOT,
    TENANT,
    Client,
    Sink,
    Stats,
    add_user_conversations,
    admin_id,
    bot_env,
    cpu_seconds,
    free_port,
    server,
)


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds per thread of `pid`: "main" for the event loop's, the others by thread id."""
    ticks = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except OSError:
            continue  # the thread ended meanwhile
        fields = stat[stat.rindex(")") + 2 :].split()
        out["main" if tid == str(pid) else tid] = (int(fields[11]) + int(fields[12])) / ticks
    return out


async def one_bot(
    checkout: Path, args: argparse.Namespace, sink: Sink, http: aiohttp.ClientSession
) -> dict[str, Any]:
    conversations = int(60 * args.duration) + 500
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = bot_env(Path(tmp), "bot", port, conversations, conversations)
        counter = iter(range(conversations))
        async with server(["app.py"], port, env, cwd=checkout) as pid:
            url = f"http://127.0.0.1:{port}"

            def client_for(stats: Stats) -> Any:
                return lambda index: Client(http, url, sink, admin_id(index), TENANT, stats)

            await add_user_conversations(client_for(Stats()), lambda: next(counter), time.monotonic() + 2)
            stats = Stats()
            threads_before, cpu_before, started = thread_cpu(pid), cpu_seconds(pid), time.monotonic()
            deadline = started + args.duration
            await asyncio.gather(
                *(
                    add_user_conversations(client_for(stats), lambda: next(counter), deadline)
                    for _ in range(args.users)
                )
            )
            elapsed = time.monotonic() - started
            await asyncio.sleep(0.2)  # the last lease's release, after the last card update
            per = max(1, stats.conversations)
            threads_after = thread_cpu(pid)
            threads = {
                name: (seconds - threads_before.get(name, 0.0)) * 1000 / per
                for name, seconds in threads_after.items()
            }
            return {
                "turns_per_s": stats.turns / elapsed,
                "conversations": stats.conversations,
                "errors": stats.errors,
                "cpu_ms": (cpu_seconds(pid) - cpu_before) * 1000 / per,
                "main_ms": threads.get("main", 0.0),
                "other_threads_ms": sum(v for k, v in threads.items() if k != "main"),
            }


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("other", type=Path, help="another checkout of this project")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=15, help="measured seconds per bot and round (15)")
    parser.add_argument("--users", type=int, default=16)
    args = parser.parse_args()
    sink = Sink()
    await sink.start()
    print(
        f"{'round':>5} {'bot':>6} {'turns/s':>8} {'convs':>6} {'CPU ms/conv':>12} {'loop':>6} {'others':>7}"
    )
    try:
        async with aiohttp.ClientSession() as http:
            for round_ in range(1, args.rounds + 1):
                results = {}
                for name, checkout in (("other", args.other.resolve()), ("here", ROOT)):
                    r = results[name] = await one_bot(checkout, args, sink, http)
                    print(
                        f"{round_:>5} {name:>6} {r['turns_per_s']:8.0f} {r['conversations']:6} "
                        f"{r['cpu_ms']:12.1f} {r['main_ms']:6.1f} {r['other_threads_ms']:7.1f}"
                        + (f"  ({r['errors']} errors)" if r["errors"] else ""),
                        flush=True,
                    )
                ratio = results["here"]["turns_per_s"] / max(1e-9, results["other"]["turns_per_s"])
                print(f"{round_:>5} here / other turns/s: {ratio:.2f}", flush=True)
    finally:
        await sink.stop()


if __name__ == "__main__":
    asyncio.run(main())
