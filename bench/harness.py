"""The benchmark's shared parts: the servers' processes, the connector sink, the simulated Teams users."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
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

    def merge(self, other: Stats) -> None:
        """Adds another run's turns, latencies, conversations and errors to these."""
        for kind, values in other.latencies.items():
            self.latencies[kind].extend(values)
        self.turns += other.turns
        self.conversations += other.conversations
        self.errors += other.errors


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


async def listening(port: int, proc: asyncio.subprocess.Process, seconds: float = 60) -> bool:
    """Whether `proc` accepts connections on `port` within `seconds` (False: it ended or did not)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return True
        except OSError:
            if proc.returncode is not None or time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def server(
    args: list[str],
    port: int,
    env: dict[str, str] | None = None,
    python: str = sys.executable,
    cwd: Path = ROOT,
) -> AsyncIterator[int]:
    """A server in its own process until the block ends; yields its pid once `port` accepts.

    Its stderr is read all along (a full pipe would stall it), the last 4,000 bytes kept for the
    error when it does not start."""
    proc = await asyncio.create_subprocess_exec(
        python,
        *args,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    tail = bytearray()

    async def drain() -> None:
        assert proc.stderr is not None
        while chunk := await proc.stderr.read(65536):
            tail.extend(chunk)
            del tail[:-4000]

    reader = asyncio.create_task(drain())
    try:
        if not await listening(port, proc):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(reader), 1)
            raise RuntimeError(f"server {args} did not start: {tail.decode(errors='replace')[-2000:]}")
        yield proc.pid
    finally:
        proc.terminate()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 20)
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


class Client:
    def __init__(
        self, http: aiohttp.ClientSession, bot_url: str, sink: Sink, who: str, tenant: str, stats: Stats
    ) -> None:
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


async def park_conversations(
    http: aiohttp.ClientSession, url: str, sink: Sink, pid: int, first_admin: int, count: int, users: int
) -> dict[str, Any]:
    """Memory: `count` conversations parked mid-dialog (a form card open, nothing submitted), each
    another admin's from `first_admin` on, `users` at a time; the bot's RSS before and after."""
    before = rss_kb(pid, "VmRSS")
    semaphore = asyncio.Semaphore(users)

    async def park(i: int) -> None:
        async with semaphore:
            client = Client(http, url, sink, admin_id(first_admin + i), TENANT, Stats())
            await client.post(
                "message", client.activity(type="conversationUpdate", membersAdded=[{"id": "x"}])
            )
            await client.post("message", client.activity(type="message", text="add user"))
            await client.sink.wait(client.conversation, "Add a phone user to")

    await asyncio.gather(*(park(i) for i in range(count)))
    after = rss_kb(pid, "VmRSS")
    return {
        "count": count,
        "rss_before_mb": before / 1024,
        "rss_after_mb": after / 1024,
        "bytes_per_parked": max(0, after - before) * 1024 / max(1, count),
    }


def bot_env(workdir: Path, name: str, port: int, admins: int, users: int, **extra: str) -> dict[str, str]:
    """The full bot's environment (app.py): a data directory of its own and a world with `admins`
    global admins and `users` Teams users and extensions to add."""
    world = workdir / f"world-{name}.json"
    world.write_text(json.dumps(make_world(admins, users)))
    return {
        "PORT": str(port),
        "DATA_DIR": str(workdir / name),
        "EXTRA_WORLD_FILE": str(world),
        "LOG_LEVEL": "WARNING",
        **extra,
    }
