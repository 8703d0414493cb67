"""Benchmark: the full admin add-user conversation against four baselines, interleaved in one run.

    .venv/bin/python -m bench [--users 16] [--slice 3] [--duration 75] [--rounds N] [--parked 1000]
                              [--skip-slow] [--json bench.json]
    .venv/bin/python -m bench --echo-pairs DIR [--duration 20] [--rounds 3]

Starts every server at once, each in its own process on 127.0.0.1, with a local connector sink
in this process: the stock botbuilder 4.17.1 echo bot (run from a virtual environment of its
own, made on first use), the Microsoft 365 Agents SDK's own echo agent, raw aiohttp, this app's
own route and reply path with an echo bot (bench/project_echo.py), and the full bot (app.py).
After a warm-up, round by round, it loads each server in turn for a `--slice` of seconds with
`--users` concurrent simulated Teams users (the bot: complete add-user conversations, each
another admin's), so that the ratios are taken within a round, seconds apart: this machine's
speed drifts by a third within minutes. `--rounds` defaults to what fills `--duration` measured
seconds in all (at least 3). It prints one table (turns/s, latency per turn kind, peak RSS, CPU
per turn), turns/s and the ratios per round with their median, the bot's CPU per conversation
with the demo's password hash apart; then the memory of conversations parked mid-dialog and the
click answer with provisioning slowed to 10 s per call.

`--echo-pairs DIR` compares this stack's echo and the full bot with the ones in another checkout
DIR (e.g. a `git worktree` of an older commit, with its own `.venv`), alternating the two round
by round in the same minutes, one server at a time (bench/pairs.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

# The other benchmarks import these from here.
from bench.harness import (
    ROOT,
    TENANT,
    Client,
    Sink,
    Stats,
    action,
    add_user_conversations,
    admin_id,
    bot_env,
    card_of,
    demo_hash_cost,
    free_port,
    make_world,
    one_add_user,
    pct,
    rss_kb,
    server,
    stock_python,
    summary,
)
from bench.interleaved import BOT, LABELS, SERVERS, print_rounds, rounds_for, run_interleaved
from bench.pairs import echo_pairs

__all__ = [
    "ROOT",
    "TENANT",
    "Client",
    "Sink",
    "Stats",
    "action",
    "add_user_conversations",
    "admin_id",
    "card_of",
    "free_port",
    "make_world",
    "one_add_user",
    "pct",
    "rss_kb",
    "server",
    "summary",
]


async def run_slow_click(
    sink: Sink, http: aiohttp.ClientSession, workdir: Path, samples: int
) -> dict[str, Any]:
    """The click's answer while provisioning takes 10 s per call: the bot alone, `samples` adds."""
    port = free_port()
    env = bot_env(workdir, "slow", port, samples, samples + 5, EMBEDDED_DELAY_SECONDS="10")
    clicks: list[float] = []
    async with server(["app.py"], port, env):
        url = f"http://127.0.0.1:{port}"
        started = time.monotonic()
        await asyncio.gather(
            *(
                one_add_user(
                    Client(http, url, sink, admin_id(i), TENANT, Stats()),
                    i,
                    via_button=False,
                    slow_clicks=clicks,
                )
                for i in range(samples)
            )
        )
        done_after = time.monotonic() - started
    return {
        "provisioning_delay_s": 10,
        "click_answer_ms": {"max": max(clicks), "p50": pct(clicks, 0.5)},
        "card_updated_after_s": done_after,
        "samples": len(clicks),
    }


def print_table(results: dict[str, Any]) -> None:
    """The run's results as text: the header line, the table, the rounds, then the bot's costs."""
    bot = results[BOT]
    print(f"\n{results['harness']}")
    print(f"machine: {results['machine']}")
    print(
        f"\n{'':34}{'turns/s':>10}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'peak RSS MB':>13}"
        f"{'CPU ms/turn':>13}{'errors':>8}"
    )
    rows = [(LABELS[key], results[key], "all") for key, _, _ in SERVERS]
    rows += [("  message", bot, "message"), ("  card submit", bot, "card submit")]
    rows += [("  Action.Execute invoke", bot, "invoke")]
    for name, data, kind in rows:
        lat = data["latency_ms"].get(kind, {})
        whole = kind == "all"
        tps = f"{data['turns_per_s']:10.0f}" if whole else " " * 10
        more = (
            f"{data['peak_rss_mb']:13.0f}{data['cpu_ms_per_turn']:13.2f}{data['errors']:8d}" if whole else ""
        )
        print(
            f"{name:34}{tps}{lat.get('p50', float('nan')):9.1f}{lat.get('p95', float('nan')):9.1f}"
            f"{lat.get('p99', float('nan')):9.1f}{more}"
        )
    print_rounds(results)
    print(
        f"\nfull conversations completed: {bot['conversations']} ({bot['errors']} errors) in"
        f" {bot['measured_s']:.1f} s of the bot's slices"
    )
    cpu, demo = bot["cpu_ms_per_conversation"], results["demo_hash"]
    per_round = ", ".join(f"{ms:.1f}" for ms in bot["cpu_ms_per_conversation_per_round"])
    print(
        f"bot CPU per conversation (all threads, its slices): {cpu:.1f} ms (per round {per_round}), of which"
        f" the demo service's device-password hash {demo['ms']:.3f} ms ({demo['kind']}, one per add;"
        f" no real deployment runs it): the bot's own {cpu - demo['ms']:.1f} ms"
    )
    parked = bot["parked"]
    print(
        f"parked mid-dialog: {parked['count']} conversations, {parked['bytes_per_parked'] / 1024:.1f} KB each "
        f"(RSS {parked['rss_before_mb']:.0f} -> {parked['rss_after_mb']:.0f} MB)"
    )
    slow = results.get("slow_click")
    if slow:
        print(
            f"click answer with {slow['provisioning_delay_s']} s provisioning: max {slow['click_answer_ms']['max']:.1f} ms"
            f" (card updated to Done after {slow['card_updated_after_s']:.0f} s)"
        )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=16, help="concurrent simulated users (16)")
    parser.add_argument("--slice", type=float, default=3, help="seconds of load per server per round (3)")
    parser.add_argument(
        "--duration",
        type=float,
        help="measured seconds in all, over every server's slices (75); with --echo-pairs, seconds"
        " of each bot run, half that of each echo run (20)",
    )
    parser.add_argument(
        "--rounds", type=int, help="rounds (what fills --duration, at least 3; with --echo-pairs 3)"
    )
    parser.add_argument("--parked", type=int, default=1000, help="conversations parked mid-dialog (1000)")
    parser.add_argument("--skip-slow", action="store_true", help="skip the 10 s provisioning click check")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--echo-pairs", type=Path, help="compare this stack's echo with the one in DIR")
    args = parser.parse_args()
    if args.echo_pairs:
        args.duration = 20 if args.duration is None else args.duration
        args.rounds = 3 if args.rounds is None else args.rounds
    else:
        args.duration = 75 if args.duration is None else args.duration
        args.rounds = args.rounds or rounds_for(args.duration, args.slice)
    return args


async def main() -> None:
    args = parse_args()
    sink = Sink()
    await sink.start()
    try:
        if args.echo_pairs:
            await echo_pairs(args, sink)
            return
        python_for_stock = stock_python()
        started = time.monotonic()
        results: dict[str, Any] = {
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
            "users": args.users,
            "slice_s": args.slice,
            "rounds_n": args.rounds,
            "duration_s": args.rounds * args.slice * len(SERVERS),
        }
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=600)
        async with aiohttp.ClientSession(connector=connector) as http:
            with tempfile.TemporaryDirectory() as tmp:
                workdir = Path(tmp)
                results |= await run_interleaved(args, sink, http, workdir, python_for_stock)
                results["demo_hash"] = demo_hash_cost()
                if not args.skip_slow:
                    results["slow_click"] = await run_slow_click(sink, http, workdir, samples=3)
        results["wall_s"] = time.monotonic() - started
    finally:
        await sink.stop()
    print_table(results)
    print(f"\nwall time {results['wall_s']:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
        print(f"results written to {args.json}")


if __name__ == "__main__":
    asyncio.run(main())
