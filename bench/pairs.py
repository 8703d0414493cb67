"""`python -m bench --echo-pairs DIR`: this stack's echo and the full bot, here and in another
checkout, one server at a time, alternated round by round in the same minutes."""

from __future__ import annotations

import argparse
import asyncio
import sys
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
    demo_hash_cost,
    echo_turns,
    free_port,
    park_conversations,
    rss_kb,
    server,
    summary,
)


async def run_echo(
    script: str,
    users: int,
    duration: float,
    sink: Sink,
    http: aiohttp.ClientSession,
    python: str = sys.executable,
    cwd: Path = ROOT,
) -> dict[str, Any]:
    """One echo server alone: started, warmed up for 1 s, loaded for `duration` seconds, stopped."""
    port = free_port()
    stats = Stats()
    async with server([script, str(port)], port, python=python, cwd=cwd) as pid:
        url = f"http://127.0.0.1:{port}"
        warm = Client(http, url, sink, admin_id(0), TENANT, Stats())
        await echo_turns(warm, time.monotonic() + 1)
        started = time.monotonic()
        deadline = started + duration
        await asyncio.gather(
            *(echo_turns(Client(http, url, sink, admin_id(i), TENANT, stats), deadline) for i in range(users))
        )
        elapsed = time.monotonic() - started
        peak = rss_kb(pid, "VmHWM")
    return summary(stats, elapsed, peak)


async def run_bot(
    args: argparse.Namespace,
    sink: Sink,
    http: aiohttp.ClientSession,
    workdir: Path,
    python: str = sys.executable,
    cwd: Path = ROOT,
    park: bool = True,
) -> dict[str, Any]:
    """The full bot alone: add-user conversations for `args.duration` seconds after 2 s of warm-up,
    then (`park`) `args.parked` conversations parked mid-dialog."""
    conversations_needed = int(150 * args.duration) + 500
    port = free_port()
    env = bot_env(workdir, "main", port, conversations_needed + args.parked, conversations_needed)
    counter = iter(range(conversations_needed))
    stats = Stats()
    async with server(["app.py"], port, env, python=python, cwd=cwd) as pid:
        url = f"http://127.0.0.1:{port}"

        def client_for(stats_: Stats) -> Any:
            return lambda index: Client(http, url, sink, admin_id(index), TENANT, stats_)

        await add_user_conversations(
            client_for(Stats()), lambda: next(counter), time.monotonic() + 2
        )  # warm-up
        started, cpu_before = time.monotonic(), cpu_seconds(pid)
        deadline = started + args.duration
        await asyncio.gather(
            *(
                add_user_conversations(client_for(stats), lambda: next(counter), deadline)
                for _ in range(args.users)
            )
        )
        elapsed = time.monotonic() - started
        # Every conversation started has finished (the slots finish theirs); its lease's release
        # comes just after the last card update.
        await asyncio.sleep(0.2)
        cpu = cpu_seconds(pid) - cpu_before
        result = summary(stats, elapsed, rss_kb(pid, "VmHWM"))
        result["cpu_ms_per_conversation"] = cpu * 1000 / max(1, stats.conversations)
        if park:
            result["parked"] = await park_conversations(
                http, url, sink, pid, conversations_needed, args.parked, args.users
            )
    return result


async def echo_pairs(args: argparse.Namespace, sink: Sink) -> None:
    """This stack's echo and the full bot, here and in another checkout, alternated round by round."""
    other = args.echo_pairs.resolve()
    other_python = str(other / ".venv" / "bin" / "python")
    rows: list[tuple[str, int, str, float, float, float]] = []
    hashing = {"here": demo_hash_cost(), "other": demo_hash_cost(other_python, other)}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        for round_ in range(1, args.rounds + 1):
            order = [("here", sys.executable, ROOT), ("other", other_python, other)]
            for name, python, cwd in order if round_ % 2 else reversed(order):
                echo = await run_echo(
                    "bench/project_echo.py", args.users, args.duration / 2, sink, http, python, cwd
                )
                echo_row = (echo["turns_per_s"], echo["latency_ms"]["all"]["p99"], float("nan"))
                rows.append(("echo", round_, name, *echo_row))
                with tempfile.TemporaryDirectory() as tmp:
                    bot = await run_bot(args, sink, http, Path(tmp), python, cwd, park=False)
                bot_row = (
                    bot["turns_per_s"],
                    bot["latency_ms"]["all"]["p99"],
                    bot["cpu_ms_per_conversation"],
                )
                rows.append(("bot", round_, name, *bot_row))
    print(f"\nhere = {ROOT}, other = {other}; {args.users} users")
    for name, cost in hashing.items():
        print(
            f"{name}: the demo service's device-password hash {cost['ms']:.3f} ms ({cost['kind']}, one per add)"
        )
    print(f"{'':6}{'round':>6} {'':6}{'turns/s':>10}{'p99 ms':>9}{'CPU ms/conv':>13}{'without hash':>14}")
    for kind, round_, name, tps, p99, cpu in rows:
        own = f"{cpu - hashing[name]['ms']:14.1f}" if kind == "bot" else ""
        shown = f"{cpu:13.1f}" if kind == "bot" else ""
        print(f"{kind:6}{round_:>6} {name:6}{tps:10.0f}{p99:9.1f}{shown}{own}")
    for kind in ("echo", "bot"):
        ratios = []
        for round_ in range(1, args.rounds + 1):
            here = next(r[3] for r in rows if r[:3] == (kind, round_, "here"))
            there = next(r[3] for r in rows if r[:3] == (kind, round_, "other"))
            ratios.append(f"{here / there:.2f}")
        print(f"{kind}: here / other turns/s per round: {', '.join(ratios)}")
