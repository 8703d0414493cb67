"""Benchmark: the full admin add-user conversation against four baselines, in one run.

    .venv/bin/python -m bench [--users 16] [--duration 20] [--parked 1000] [--json bench.json]
    .venv/bin/python -m bench --echo-pairs DIR [--rounds 3]

Starts each server in its own process on 127.0.0.1 with a local connector sink in this process,
drives `--users` concurrent simulated Teams users, and prints one table: turns/s, latency per
turn kind, peak RSS, ratios to the baselines (the stock botbuilder 4.17.1 echo bot, run from a
virtual environment of its own that is made on first use; the Microsoft 365 Agents SDK's own
echo agent; raw aiohttp; and this app's own route and reply path with an echo bot:
bench/project_echo.py); then the click answer with provisioning slowed to 10 s per call, and
the memory of conversations parked mid-dialog.

`--echo-pairs DIR` compares this stack's echo with the one in another checkout DIR (e.g. a
`git worktree` of an older commit, with its own `.venv`), alternating the two round by round in
the same minutes, because this machine's speed drifts by a third within minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
STOCK_VENV = ROOT / ".venv-bench-botbuilder"
STOCK_REQUIREMENTS = ROOT / "bench" / "stock_echo_requirements.txt"


def stock_python() -> str:
    """The botbuilder baseline's interpreter: botbuilder never enters the bot's own environment."""
    python = STOCK_VENV / "bin" / "python"
    if not python.exists():
        print(f"making {STOCK_VENV.name} for the stock botbuilder echo (first use only)...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(STOCK_VENV)], check=True)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
                str(STOCK_REQUIREMENTS),
            ],
            check=True,
        )
    return str(python)


TENANT = "b0000000-0000-4000-8000-000000000001"
FIRST_EXTENSION = 10000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def admin_id(i: int) -> str:
    return str(uuid.UUID(int=0xA0000000_0000_4000_8000_000000000000 + i))


def make_world(admins: int, users: int) -> dict[str, Any]:
    return {
        "tenants": [
            {
                "tenant_id": TENANT,
                "name": "Benchmark",
                "kind": "customer",
                "pbx_locations": [
                    {
                        "name": "PBX",
                        "domain": "pbx.bench.example",
                        "extensions": [
                            {"number": str(FIRST_EXTENSION + i), "caller_id": f"555{FIRST_EXTENSION + i:07d}"}
                            for i in range(users)
                        ],
                    }
                ],
                "voice_routes": [{"route_id": 2, "name": "US West"}],
                "teams_users": [
                    {"upn": f"u{i:05d}@bench.example", "display_name": f"User {i:05d}", "licensed": True}
                    for i in range(users)
                ],
                "people": [
                    {
                        "aad_object_id": admin_id(i),
                        "upn": f"a{i}@bench.example",
                        "display_name": f"Admin {i}",
                        "global_admin": True,
                    }
                    for i in range(admins)
                ],
            }
        ]
    }


class Sink:
    """The Bot Connector as the bots see it: answers every send and update, and tells waiters."""

    def __init__(self) -> None:
        self.queues: dict[str, asyncio.Queue[tuple[str, str, dict[str, Any]]]] = defaultdict(asyncio.Queue)
        self.count = 0
        self.sends: dict[str, Counter[str]] = defaultdict(Counter)  # per conversation: POST, PUT
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/v3/conversations/{conv}/activities", self._handle)
        app.router.add_route("*", "/v3/conversations/{conv}/activities/{aid}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}/"

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.count += 1
        self.sends[request.match_info["conv"]][request.method] += 1
        activity_id = request.match_info.get("aid") if request.method == "PUT" else f"m{self.count}"
        self.queues[request.match_info["conv"]].put_nowait((request.method, activity_id or "", body))
        return web.json_response({"id": activity_id})

    async def wait(
        self, conversation: str, marker: str, method: str | None = None
    ) -> tuple[str, dict[str, Any]]:
        queue = self.queues[conversation]
        seen: list[str] = []
        while True:
            try:
                got_method, activity_id, body = await asyncio.wait_for(queue.get(), 60)
            except TimeoutError:
                raise RuntimeError(
                    f"no {method or 'message'} with {marker!r} in 60 s; saw: {seen[-5:]}"
                ) from None
            text = json.dumps(body)
            if marker in text and (method is None or got_method == method):
                return activity_id, body
            seen.append(f"{got_method} {body.get('text') or text[150:260]}")


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    turns: int = 0
    conversations: int = 0
    errors: int = 0

    def add(self, kind: str, seconds: float) -> None:
        self.latencies[kind].append(seconds * 1000)
        self.turns += 1


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def rss_kb(pid: int, field_name: str) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, all its threads."""
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return float("nan")


HASH_PROBE = """
import json, statistics, time
from services.provisioning.embedded_users import hash_password
runs = []
for _ in range(7):
    started = time.perf_counter()
    for _ in range(20):
        hash_password("Ab3dEf7h")
    runs.append((time.perf_counter() - started) / 20)
print(json.dumps({"ms": statistics.median(runs) * 1000, "kind": hash_password("Ab3dEf7h").split("$")[0]}))
"""


def demo_hash_cost(python: str = sys.executable, cwd: Path = ROOT) -> dict[str, Any]:
    """What one device-password hash of the embedded demo service costs, in that checkout: the
    stand-in for the platform's own device record, which no real deployment of the bot runs. An
    add hashes once, so this is the demo's share of a conversation's CPU."""
    out = subprocess.run([python, "-c", HASH_PROBE], cwd=cwd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@contextlib.asynccontextmanager
async def server(
    args: list[str],
    port: int,
    env: dict[str, str] | None = None,
    python: str = sys.executable,
    cwd: Path = ROOT,
) -> AsyncIterator[int]:
    proc = await asyncio.create_subprocess_exec(
        python,
        *args,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                if proc.returncode is not None or time.monotonic() > deadline:
                    err = await proc.stderr.read() if proc.stderr else b""
                    raise RuntimeError(f"server {args} did not start: {err.decode()[-2000:]}") from None
                await asyncio.sleep(0.1)
        yield proc.pid
    finally:
        proc.terminate()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 20)
        if proc.returncode is None:
            proc.kill()


class Client:
    def __init__(
        self, http: aiohttp.ClientSession, bot_url: str, sink: Sink, who: str, tenant: str, stats: Stats
    ):
        self.http, self.bot_url, self.sink, self.stats = http, bot_url, sink, stats
        self.aad, self.tenant = who, tenant
        self.conversation = f"a:{uuid.uuid4().hex}"

    def activity(self, **fields: Any) -> dict[str, Any]:
        return {
            "id": uuid.uuid4().hex,
            "channelId": "msteams",
            "serviceUrl": self.sink.url,
            "from": {"id": f"29:{self.aad}", "aadObjectId": self.aad, "name": "Bench"},
            "recipient": {"id": "28:bot"},
            "conversation": {
                "id": self.conversation,
                "tenantId": self.tenant,
                "conversationType": "personal",
            },
            **fields,
        }

    async def post(self, kind: str, activity: dict[str, Any]) -> Any:
        started = time.perf_counter()
        async with self.http.post(f"{self.bot_url}/api/messages", json=activity) as resp:
            body = await resp.read()
            if resp.status >= 400:
                self.stats.errors += 1
        self.stats.add(kind, time.perf_counter() - started)
        return json.loads(body) if body else None

    async def invoke(self, card_id: str, action: dict[str, Any], inputs: dict[str, Any] | None = None) -> Any:
        value = {
            "action": {
                "type": "Action.Execute",
                "verb": action["verb"],
                "data": {**(inputs or {}), **action["data"]},
            }
        }
        return await self.post(
            "invoke", self.activity(type="invoke", name="adaptiveCard/action", replyToId=card_id, value=value)
        )


def action(card: dict[str, Any], verb: str) -> dict[str, Any]:
    for candidate in card.get("actions", []):
        if candidate.get("verb") == verb:
            return candidate
    raise KeyError(verb)


def card_of(body: dict[str, Any]) -> dict[str, Any]:
    return body["attachments"][0]["content"]


async def one_add_user(
    client: Client, index: int, via_button: bool, slow_clicks: list[float] | None = None
) -> None:
    """One admin's whole conversation: install, open the form, review, add, wait for "Done."."""
    await client.post(
        "message", client.activity(type="conversationUpdate", membersAdded=[{"id": f"29:{client.aad}"}])
    )
    if via_button:  # the welcome card's button: an Action.Submit
        await client.post("card submit", client.activity(type="message", value={"command": "add user"}))
    else:
        await client.post("message", client.activity(type="message", text="add user"))
    card_id, body = await client.sink.wait(client.conversation, "Add a phone user to")
    review = await client.invoke(
        card_id,
        action(card_of(body), "addUser.submitForm"),
        {
            "pbxLocation": "PBX",
            "voiceRoute": "US West",
            "teamsUser": f"u{index:05d}@bench.example",
            "extension": str(FIRST_EXTENSION + index),
        },
    )
    started = time.perf_counter()
    await client.invoke(card_id, action(review["value"], "addUser.confirm"))
    if slow_clicks is not None:
        slow_clicks.append((time.perf_counter() - started) * 1000)
    await client.sink.wait(client.conversation, "Done.", "PUT")
    client.stats.conversations += 1


async def add_user_conversations(
    make_client: Any, next_index: Any, deadline: float, slow_clicks: list[float] | None = None
) -> None:
    """A simulated user slot: one admin's add-user conversation after another until the deadline.

    Each conversation is another admin's chat, as on an onboarding day across many tenants; one
    chat is bound by Teams' per-conversation rate limit (about 2 messages/s sustained) anyway."""
    while time.monotonic() < deadline:
        index = next_index()
        await one_add_user(make_client(index), index, via_button=index % 2 == 0, slow_clicks=slow_clicks)


async def echo_turns(client: Client, deadline: float) -> None:
    while time.monotonic() < deadline:
        await client.post("message", client.activity(type="message", text="hi"))


async def run_echo(
    script: str,
    users: int,
    duration: float,
    sink: Sink,
    http: aiohttp.ClientSession,
    python: str = sys.executable,
    cwd: Path = ROOT,
) -> dict[str, Any]:
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


def summary(stats: Stats, elapsed: float, peak_kb: int) -> dict[str, Any]:
    all_turns = [v for values in stats.latencies.values() for v in values]
    return {
        "turns": stats.turns,
        "turns_per_s": stats.turns / elapsed,
        "conversations": stats.conversations,
        "errors": stats.errors,
        "peak_rss_mb": peak_kb / 1024,
        "latency_ms": {
            kind: {"p50": pct(v, 0.50), "p95": pct(v, 0.95), "p99": pct(v, 0.99), "n": len(v)}
            for kind, v in [("all", all_turns), *sorted(stats.latencies.items())]
        },
    }


async def run_bot(
    args: argparse.Namespace,
    sink: Sink,
    http: aiohttp.ClientSession,
    workdir: Path,
    python: str = sys.executable,
    cwd: Path = ROOT,
    park: bool = True,
) -> dict[str, Any]:
    conversations_needed = int(150 * args.duration) + 500
    world = workdir / "world.json"
    world.write_text(json.dumps(make_world(conversations_needed + args.parked, conversations_needed)))
    port = free_port()
    env = {
        "PORT": str(port),
        "DATA_DIR": str(workdir / "main"),
        "EXTRA_WORLD_FILE": str(world),
        "LOG_LEVEL": "WARNING",
    }
    counter = iter(range(conversations_needed))
    stats = Stats()
    result: dict[str, Any] = {}
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
        if not park:
            return result
        # Memory: conversations parked mid-dialog (a form card open, nothing submitted).
        before = rss_kb(pid, "VmRSS")
        semaphore = asyncio.Semaphore(args.users)

        async def park(i: int) -> None:
            async with semaphore:
                client = Client(http, url, sink, admin_id(conversations_needed + i), TENANT, Stats())
                await client.post(
                    "message", client.activity(type="conversationUpdate", membersAdded=[{"id": "x"}])
                )
                await client.post("message", client.activity(type="message", text="add user"))
                await client.sink.wait(client.conversation, "Add a phone user to")

        await asyncio.gather(*(park(i) for i in range(args.parked)))
        after = rss_kb(pid, "VmRSS")
        result["parked"] = {
            "count": args.parked,
            "rss_before_mb": before / 1024,
            "rss_after_mb": after / 1024,
            "bytes_per_parked": max(0, after - before) * 1024 / max(1, args.parked),
        }
    return result


async def run_slow_click(
    sink: Sink, http: aiohttp.ClientSession, workdir: Path, samples: int
) -> dict[str, Any]:
    world = workdir / "world-slow.json"
    world.write_text(json.dumps(make_world(samples, samples + 5)))
    port = free_port()
    env = {
        "PORT": str(port),
        "DATA_DIR": str(workdir / "slow"),
        "EXTRA_WORLD_FILE": str(world),
        "LOG_LEVEL": "WARNING",
        "EMBEDDED_DELAY_SECONDS": "10",
    }
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
    bot, stock, raw = results["bot"], results["stock_echo"], results["raw_aiohttp"]
    own, agents = results["project_echo"], results["agents_echo"]
    print(f"\nmachine: {results['machine']}")
    print(f"{'':34}{'turns/s':>10}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'peak RSS MB':>13}")
    rows = [
        ("stock botbuilder 4.17.1 echo", stock, "all"),
        ("Agents SDK echo agent", agents, "all"),
        ("raw aiohttp echo", raw, "all"),
        ("this stack's echo (no bot work)", own, "all"),
        ("bot: full add-user", bot, "all"),
        ("  message", bot, "message"),
        ("  card submit", bot, "card submit"),
        ("  Action.Execute invoke", bot, "invoke"),
    ]
    for name, data, kind in rows:
        lat = data["latency_ms"].get(kind, {})
        tps = f"{data['turns_per_s']:10.0f}" if kind == "all" else " " * 10
        rss = f"{data['peak_rss_mb']:13.0f}" if kind == "all" else ""
        print(
            f"{name:34}{tps}{lat.get('p50', float('nan')):9.1f}{lat.get('p95', float('nan')):9.1f}"
            f"{lat.get('p99', float('nan')):9.1f}{rss}"
        )
    print(f"\nfull conversations completed: {bot['conversations']} ({bot['errors']} errors)")
    print(
        f"throughput vs stock echo: {bot['turns_per_s'] / stock['turns_per_s']:.1f}x   "
        f"vs raw aiohttp: {bot['turns_per_s'] / raw['turns_per_s']:.2f}x   "
        f"vs this stack's echo: {bot['turns_per_s'] / own['turns_per_s']:.2f}x   "
        f"vs Agents SDK echo: {bot['turns_per_s'] / agents['turns_per_s']:.2f}x"
    )
    print(
        f"this stack's echo (no bot work) vs stock echo: {own['turns_per_s'] / stock['turns_per_s']:.1f}x"
        " (the most any bot on this stack could reach)"
    )
    print(
        f"this stack's echo vs the Agents SDK's echo agent: {own['turns_per_s'] / agents['turns_per_s']:.1f}x;"
        f" Agents SDK echo vs stock botbuilder echo: {agents['turns_per_s'] / stock['turns_per_s']:.1f}x"
    )
    cpu, demo = bot["cpu_ms_per_conversation"], results["demo_hash"]
    print(
        f"bot CPU per conversation (all threads): {cpu:.1f} ms, of which the demo service's device-password"
        f" hash {demo['ms']:.3f} ms ({demo['kind']}, one per add; no real deployment runs it):"
        f" the bot's own {cpu - demo['ms']:.1f} ms"
    )
    slow = results.get("slow_click")
    if slow:
        print(
            f"click answer with {slow['provisioning_delay_s']} s provisioning: max {slow['click_answer_ms']['max']:.1f} ms"
            f" (card updated to Done after {slow['card_updated_after_s']:.0f} s)"
        )
    parked = bot["parked"]
    print(
        f"parked mid-dialog: {parked['count']} conversations, {parked['bytes_per_parked'] / 1024:.1f} KB each "
        f"(RSS {parked['rss_before_mb']:.0f} -> {parked['rss_after_mb']:.0f} MB)"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=16, help="concurrent simulated users (16)")
    parser.add_argument("--duration", type=float, default=20, help="seconds per measured phase (20)")
    parser.add_argument("--parked", type=int, default=1000, help="conversations parked mid-dialog (1000)")
    parser.add_argument("--skip-slow", action="store_true", help="skip the 10 s provisioning click check")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--echo-pairs", type=Path, help="compare this stack's echo with the one in DIR")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of --echo-pairs (3)")
    args = parser.parse_args()
    sink = Sink()
    await sink.start()
    if args.echo_pairs:
        await echo_pairs(args, sink)
        await sink.stop()
        return
    results: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "users": args.users,
        "duration_s": args.duration,
    }
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            slice_ = args.duration / 4
            results["stock_echo"] = await run_echo(
                "bench/stock_echo.py", args.users, slice_, sink, http, python=stock_python()
            )
            results["agents_echo"] = await run_echo("bench/agents_echo.py", args.users, slice_, sink, http)
            results["raw_aiohttp"] = await run_echo("bench/raw_echo.py", args.users, slice_, sink, http)
            results["project_echo"] = await run_echo("bench/project_echo.py", args.users, slice_, sink, http)
            results["bot"] = await run_bot(args, sink, http, workdir)
            results["demo_hash"] = demo_hash_cost()
            if not args.skip_slow:
                results["slow_click"] = await run_slow_click(sink, http, workdir, samples=3)
    await sink.stop()
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
        print(f"\nresults written to {args.json}")


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


if __name__ == "__main__":
    asyncio.run(main())
