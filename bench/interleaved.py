"""The interleaved run of `python -m bench`: every server up at once, each loaded in turn for a
slice, round by round, so that the ratios are taken between slices seconds apart, within the
drift of this machine's speed (a third within minutes)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.harness import (
    TENANT,
    Client,
    Sink,
    Stats,
    add_user_conversations,
    admin_id,
    bot_env,
    cpu_seconds,
    echo_turns,
    free_port,
    park_conversations,
    rss_kb,
    server,
    summary,
)

BOT = "bot"
# key, label, script: in the order of the table (the first round loads them in this order).
SERVERS = [
    ("stock_echo", "stock botbuilder 4.17.1 echo", "bench/stock_echo.py"),
    ("agents_echo", "Agents SDK echo agent", "bench/agents_echo.py"),
    ("raw_aiohttp", "raw aiohttp echo", "bench/raw_echo.py"),
    ("project_echo", "this stack's echo (no bot work)", "bench/project_echo.py"),
    (BOT, "bot: full add-user", "app.py"),
]
LABELS = {key: label for key, label, _ in SERVERS}
# numerator, denominator, the target for it (issue 22) or "".
RATIOS = [
    (BOT, "project_echo", ">= 0.5"),
    (BOT, "agents_echo", ">= 1.0"),
    (BOT, "stock_echo", ""),
    (BOT, "raw_aiohttp", ""),
    ("project_echo", "stock_echo", ""),
    ("project_echo", "agents_echo", ""),
    ("agents_echo", "stock_echo", ""),
]
SETTLE_S = 0.2  # after each slice, unmeasured but on the slice's CPU: the bot's lease release and such
HEADER = (
    "interleaved: all {servers} servers up at once; {rounds} rounds, each loading every server in turn"
    " for a {slice:g} s slice with {users} users (the order rotated by one each round), after an"
    " unmeasured warm-up. A slice starts no turn (echo) or conversation (bot) after its {slice:g} s;"
    " those in flight then are finished and counted, their time included, before the next slice"
    " starts, so no slice's tail loads another's."
)


def rounds_for(duration: float, slice_s: float, servers: int = len(SERVERS)) -> int:
    """Rounds that fill `duration` measured seconds in all, at least 3 (a median needs them)."""
    return max(3, round(duration / (slice_s * servers)))


def ratio_key(numerator: str, denominator: str) -> str:
    return f"{numerator}/{denominator}"


@dataclass
class Contestant:
    """One server under test and what its slices measured."""

    key: str
    pid: int
    url: str
    stats: Stats = field(default_factory=Stats)
    seconds: float = 0.0
    cpu_s: float = 0.0
    per_round: list[float] = field(default_factory=list)  # turns/s of each round's slice
    cpu_ms_per_round: list[float] = field(default_factory=list)  # per turn (echo) or conversation (bot)


async def load(
    contestant: Contestant,
    users: int,
    seconds: float,
    sink: Sink,
    http: aiohttp.ClientSession,
    next_index: Callable[[], int],
) -> Stats:
    """`users` simulated users on one server for `seconds`; returns when all they started is done."""
    stats = Stats()
    deadline = time.monotonic() + seconds
    if contestant.key == BOT:

        def client_for(index: int) -> Client:
            return Client(http, contestant.url, sink, admin_id(index), TENANT, stats)

        await asyncio.gather(
            *(add_user_conversations(client_for, next_index, deadline) for _ in range(users))
        )
    else:
        await asyncio.gather(
            *(
                echo_turns(Client(http, contestant.url, sink, admin_id(i), TENANT, stats), deadline)
                for i in range(users)
            )
        )
    # Each conversation of the sink is over: what a server sends later to one is not waited for.
    sink.queues.clear()
    sink.sends.clear()
    return stats


async def measured_slice(
    contestant: Contestant,
    args: argparse.Namespace,
    sink: Sink,
    http: aiohttp.ClientSession,
    next_index: Callable[[], int],
) -> float:
    """One slice on one server, added to its totals; returns its turns/s."""
    cpu_before, started = cpu_seconds(contestant.pid), time.monotonic()
    stats = await load(contestant, args.users, args.slice, sink, http, next_index)
    elapsed = time.monotonic() - started
    await asyncio.sleep(SETTLE_S)
    cpu = cpu_seconds(contestant.pid) - cpu_before
    contestant.stats.merge(stats)
    contestant.seconds += elapsed
    contestant.cpu_s += cpu
    units = stats.conversations if contestant.key == BOT else stats.turns
    contestant.cpu_ms_per_round.append(cpu * 1000 / max(1, units))
    contestant.per_round.append(stats.turns / elapsed)
    return stats.turns / elapsed


async def start_all(
    stack: contextlib.AsyncExitStack, commands: dict[str, tuple[list[str], int, dict[str, str], str]]
) -> dict[str, int]:
    """Starts every server at once; on any failure the stack stops those that did start."""

    async def start(key: str) -> tuple[str, int]:
        args, port, env, python = commands[key]
        return key, await stack.enter_async_context(server(args, port, env, python=python))

    outcomes = await asyncio.gather(*(start(key) for key in commands), return_exceptions=True)
    pids: dict[str, int] = {}
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
        pids[outcome[0]] = outcome[1]
    return pids


async def run_interleaved(
    args: argparse.Namespace,
    sink: Sink,
    http: aiohttp.ClientSession,
    workdir: Path,
    stock_python: str,
) -> dict[str, Any]:
    """All servers up, `args.rounds` rounds of slices; results per server and the ratios per round."""
    bot_seconds = args.rounds * args.slice + 2 * args.slice + 2  # measured, overrun and warm-up
    conversations_needed = int(150 * bot_seconds) + 500
    commands: dict[str, tuple[list[str], int, dict[str, str], str]] = {}
    for key, _, script in SERVERS:
        port = free_port()
        if key == BOT:
            env = bot_env(workdir, "main", port, conversations_needed + args.parked, conversations_needed)
            commands[key] = ([script], port, env, sys.executable)
        else:
            python = stock_python if key == "stock_echo" else sys.executable
            commands[key] = ([script, str(port)], port, {}, python)
    counter = iter(range(conversations_needed))

    def next_index() -> int:
        return next(counter)

    async with contextlib.AsyncExitStack() as stack:
        pids = await start_all(stack, commands)
        contestants = [
            Contestant(key, pids[key], f"http://127.0.0.1:{commands[key][1]}") for key, _, _ in SERVERS
        ]
        for contestant in contestants:  # warm-up: 1 s each echo, 2 s the bot
            await load(contestant, args.users, 2 if contestant.key == BOT else 1, sink, http, next_index)
        rounds: list[dict[str, Any]] = []
        for round_ in range(args.rounds):
            shift = round_ % len(contestants)
            order = contestants[shift:] + contestants[:shift]
            turns_per_s = {c.key: await measured_slice(c, args, sink, http, next_index) for c in order}
            rounds.append(
                {
                    "order": [c.key for c in order],
                    "turns_per_s": turns_per_s,
                    "ratios": {ratio_key(a, b): turns_per_s[a] / turns_per_s[b] for a, b, _ in RATIOS},
                }
            )
        results: dict[str, Any] = {}
        for c in contestants:
            result = summary(c.stats, c.seconds, rss_kb(c.pid, "VmHWM"))
            result["turns_per_s_per_round"] = c.per_round
            result["cpu_ms_per_turn"] = c.cpu_s * 1000 / max(1, c.stats.turns)
            result["measured_s"] = c.seconds
            if c.key == BOT:
                result["cpu_ms_per_conversation"] = c.cpu_s * 1000 / max(1, c.stats.conversations)
                result["cpu_ms_per_conversation_per_round"] = c.cpu_ms_per_round
            results[c.key] = result
        bot = contestants[-1]
        results[BOT]["parked"] = await park_conversations(
            http, bot.url, sink, bot.pid, conversations_needed, args.parked, args.users
        )
    results["rounds"] = rounds
    results["ratios_median"] = {
        ratio_key(a, b): statistics.median(r["ratios"][ratio_key(a, b)] for r in rounds) for a, b, _ in RATIOS
    }
    results["harness"] = HEADER.format(
        servers=len(SERVERS), rounds=args.rounds, slice=args.slice, users=args.users
    )
    return results


def print_rounds(results: dict[str, Any]) -> None:
    """Turns/s of each server in each round, then the ratios per round and their median."""
    rounds = results["rounds"]
    heads = "".join(f"{f'round {i + 1}':>10}" for i in range(len(rounds)))
    print(f"\n{'turns/s per round':40}{heads}")
    for key, label, _ in SERVERS:
        print(f"{label:40}" + "".join(f"{r['turns_per_s'][key]:10.0f}" for r in rounds))
    print(f"\n{'ratios of turns/s within a round':40}{heads}{'median':>10}  target")
    for a, b, target in RATIOS:
        name = ratio_key(a, b)
        per_round = "".join(f"{r['ratios'][name]:10.2f}" for r in rounds)
        short = {BOT: "bot", "project_echo": "this stack's echo", "agents_echo": "Agents SDK echo"}
        short |= {"stock_echo": "stock echo", "raw_aiohttp": "raw aiohttp"}
        print(f"{short[a] + ' / ' + short[b]:40}{per_round}{results['ratios_median'][name]:10.2f}  {target}")
