"""Outbox benchmark (issue 17): how soon partners' approval cards reach the tenants' global admins.

    .venv/bin/python -m bench.outbox_sender [--tenants 50] [--burst 200] [--others 20]
    .venv/bin/python -m bench.outbox_sender --other DIR [--rounds 2]

Runs the bot (`python app.py`, SQLite, the embedded service) with a world of `--tenants` customer
tenants of two global admins each and one partner tenant managing them all, against a connector
sink in this process that notes when each call arrives and when it was answered. Two set-ups, each
on a fresh data dir:

- held: one admin's chat never answers (the sink holds its calls). A partner asks for a user in
  that admin's tenant, then `--others` partners ask in other tenants over 2 s. Printed: how long,
  from the partner's "Add user" click, each other tenant's approval card took to arrive, and the
  held tenant's second admin's (the same request as the held card: it waits for that card's
  attempt to end).
- burst: `--burst` partners (each with a form already filled in) click "Add user" within 2 s,
  spread over the tenants; every card's time from its click to its arrival.

And, from the data dir after the bot stopped, the crash window: from the moment the sink answered
an approval card's POST to the moment its outbox row was marked sent (a crash in between repeats
the card; see docs/scale-out.md).

`--latency S` makes the sink take S seconds per call, as a connector across a network does
(this machine's sink answers in about a millisecond); `--concurrency N` sets OUTBOX_CONCURRENCY.
`--other DIR` runs the same set-ups against another checkout (e.g. `git archive HEAD | tar -x -C
DIR` of the code before a change, with a `.venv` link), alternated round by round in the same
minutes: this machine's speed drifts within minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench.__main__ import ROOT, Client, Sink, Stats, action, card_of, free_port, pct
from bench.harness import listening

PARTNER = "c0000000-0000-4000-8000-000000000000"
USERS_PER_TENANT = 12
APPROVAL_MARKER = "Approve a new phone user for"
BENCH_UPN = re.compile(r"u[0-9]{2}@t[0-9]{3}\.example")  # the Teams user a card is about (upn())


def tenant_id(j: int) -> str:
    return str(uuid.UUID(int=0xB0000000_0000_4000_8000_000000000000 + j))


def admin_id(j: int, k: int) -> str:
    return str(uuid.UUID(int=0xA0000000_0000_4000_8000_000000000000 + 2 * j + k))


def partner_id(i: int) -> str:
    return str(uuid.UUID(int=0xD0000000_0000_4000_8000_000000000000 + i))


def upn(j: int, n: int) -> str:
    return f"u{n:02d}@t{j:03d}.example"


def make_world(tenants: int, partners: int) -> dict[str, Any]:
    customers = [
        {
            "tenant_id": tenant_id(j),
            "name": f"Tenant {j:03d}",
            "kind": "customer",
            "pbx_locations": [
                {
                    "name": "PBX",
                    "domain": f"pbx.t{j:03d}.example",
                    "extensions": [
                        {"number": str(100 + n), "caller_id": f"555{j:03d}{n:04d}"}
                        for n in range(USERS_PER_TENANT)
                    ],
                }
            ],
            "voice_routes": [{"route_id": 2, "name": "US West"}],
            "teams_users": [
                {"upn": upn(j, n), "display_name": f"User {j}-{n}", "licensed": True}
                for n in range(USERS_PER_TENANT)
            ],
            "people": [
                {
                    "aad_object_id": admin_id(j, k),
                    "upn": f"admin{k}@t{j:03d}.example",
                    "display_name": f"Admin {j}-{k}",
                    "global_admin": True,
                }
                for k in range(2)
            ],
        }
        for j in range(tenants)
    ]
    partner = {
        "tenant_id": PARTNER,
        "name": "Bench Partner",
        "kind": "partner",
        "manages": [tenant_id(j) for j in range(tenants)],
        "people": [
            {
                "aad_object_id": partner_id(i),
                "upn": f"p{i:04d}@partner.example",
                "display_name": f"Partner {i}",
                "partner_user": True,
            }
            for i in range(partners)
        ],
    }
    return {"tenants": [*customers, partner]}


class TimingSink(Sink):
    """The sink of `python -m bench`, which also holds one conversation's calls unanswered and
    notes when each approval card arrived and when each call was answered."""

    def __init__(self) -> None:
        super().__init__()
        self.held: set[str] = set()
        self._never = asyncio.Event()
        self.arrived: dict[tuple[str, str], float] = {}  # (conversation, Teams user) -> first card
        self.answered: dict[str, float] = {}  # activity id -> wall clock of the answer
        self.changed = asyncio.Condition()
        self.latency = 0.0  # seconds before each answer: a connector farther away than this machine

    def reset(self) -> None:
        self.held.clear()
        self.arrived.clear()
        self.answered.clear()
        self.queues.clear()

    async def _handle(self, request: web.Request) -> web.Response:
        conversation = request.match_info["conv"]
        if conversation in self.held:
            await self._never.wait()  # an unresponsive chat: the bot's call times out
        if self.latency:
            await asyncio.sleep(self.latency)
        arrived = time.monotonic()
        sent = json.dumps(await request.json())
        response = await super()._handle(request)
        self.answered[str(json.loads(response.text or "{}").get("id") or "")] = time.time()
        if request.method == "POST" and APPROVAL_MARKER in sent and (user := BENCH_UPN.search(sent)):
            self.arrived.setdefault((conversation, user.group()), arrived)
            async with self.changed:
                self.changed.notify_all()
        return response


@contextlib.asynccontextmanager
async def bot_server(python: str, cwd: Path, env: dict[str, str], log: Path) -> AsyncIterator[None]:
    """`python app.py` in `cwd`, its output in a file (a pipe nobody reads could fill and stall it)."""
    port = int(env["PORT"])
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            python, "app.py", cwd=cwd, env={**os.environ, **env}, stdout=out, stderr=out
        )
        try:
            if not await listening(port, proc):
                output = await asyncio.to_thread(log.read_text)
                raise RuntimeError(f"the bot did not start: {output[-2000:]}")
            yield
        finally:
            proc.terminate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 30)
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


class Partner(Client):
    """One partner person with one request prepared up to its review card."""

    review: tuple[str, dict[str, Any]] | None = None
    clicked_at = 0.0

    async def prepare(self, tenant: int, user: int) -> None:
        await self.post("message", self.activity(type="message", text="add user"))
        picker_id, body = await self.sink.wait(self.conversation, "Which enterprise")
        form = await self.invoke(
            picker_id, action(card_of(body), "addUser.startFor"), {"enterpriseId": tenant_id(tenant)}
        )
        review = await self.invoke(
            picker_id,
            action(form["value"], "addUser.submitForm"),
            {
                "pbxLocation": "PBX",
                "voiceRoute": "US West",
                "teamsUser": upn(tenant, user),
                "extension": str(100 + user),
            },
        )
        self.review = (picker_id, review["value"])

    async def add(self) -> None:
        assert self.review is not None
        card_id, review = self.review
        self.clicked_at = time.monotonic()
        await self.invoke(card_id, action(review, "addUser.confirm"))


async def install(http: aiohttp.ClientSession, url: str, sink: TimingSink, tenants: int) -> dict[str, Client]:
    """Every admin installs the bot (so the bot has their conversation); returns them by id."""
    admins: dict[str, Client] = {}
    semaphore = asyncio.Semaphore(16)

    async def one(j: int, k: int) -> None:
        async with semaphore:
            admin = Client(http, url, sink, admin_id(j, k), tenant_id(j), Stats())
            admins[admin_id(j, k)] = admin
            await admin.post(
                "message", admin.activity(type="conversationUpdate", membersAdded=[{"id": f"29:{admin.aad}"}])
            )

    await asyncio.gather(*(one(j, k) for j in range(tenants) for k in range(2)))
    return admins


async def prepare(
    http: aiohttp.ClientSession, url: str, sink: TimingSink, plan: list[tuple[int, int]]
) -> list[Partner]:
    partners = [Partner(http, url, sink, partner_id(i), PARTNER, Stats()) for i in range(len(plan))]
    semaphore = asyncio.Semaphore(16)

    async def one(partner: Partner, tenant: int, user: int) -> None:
        async with semaphore:
            await partner.prepare(tenant, user)

    await asyncio.gather(*(one(p, t, u) for p, (t, u) in zip(partners, plan, strict=True)))
    return partners


async def click_spread(partners: list[Partner], seconds: float) -> None:
    """Each partner clicks "Add user", spread evenly over `seconds`."""
    started = time.monotonic()

    async def one(i: int, partner: Partner) -> None:
        await asyncio.sleep(max(0.0, started + i * seconds / len(partners) - time.monotonic()))
        await partner.add()

    await asyncio.gather(*(one(i, p) for i, p in enumerate(partners)))


async def arrivals(
    sink: TimingSink, expected: list[tuple[str, str, Partner]], within: float
) -> list[float | None]:
    """Seconds from each partner's click to the card at (admin conversation, Teams user); None if
    it had not arrived `within` seconds after the last click."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(within), sink.changed:
            await sink.changed.wait_for(lambda: all((c, u) in sink.arrived for c, u, _ in expected))
    return [sink.arrived[(c, u)] - p.clicked_at if (c, u) in sink.arrived else None for c, u, p in expected]


def in_outbox_s(data_dir: Path) -> list[float]:
    """For every approval card sent: seconds from its outbox row's creation to its row marked sent."""
    with contextlib.closing(sqlite3.connect(data_dir / "bot.sqlite3")) as conn:
        rows = conn.execute(
            "SELECT created_at, sent_at FROM outbox WHERE kind = 'approval_card' AND status = 'sent'"
        ).fetchall()
    return [(datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds() for a, b in rows]


def crash_window_ms(data_dir: Path, answered: dict[str, float]) -> list[float]:
    """For every approval card sent: ms from the sink's answer to its outbox row marked sent."""
    with contextlib.closing(sqlite3.connect(data_dir / "bot.sqlite3")) as conn:
        rows = conn.execute(
            "SELECT a.card_ref, o.sent_at FROM outbox o JOIN approval_cards a"
            " ON a.request_id = o.request_id AND a.approver_tenant_id = o.recipient_tenant_id"
            " AND a.approver_id = o.recipient_id"
            " WHERE o.kind = 'approval_card' AND o.status = 'sent'"
        ).fetchall()
    windows = []
    for card_ref, sent_at in rows:
        activity_id = json.loads(card_ref).get("activity_id")
        if activity_id in answered:
            marked = datetime.fromisoformat(sent_at).replace(tzinfo=UTC).timestamp()
            windows.append((marked - answered[activity_id]) * 1000)
    return windows


def stats(values: list[float | None]) -> dict[str, Any]:
    got = [v for v in values if v is not None]
    return {
        "n": len(values),
        "missing": len(values) - len(got),
        "p50": pct(got, 0.5),
        "p95": pct(got, 0.95),
        "max": max(got) if got else float("nan"),
    }


async def run_setup(
    setup: str, args: argparse.Namespace, sink: TimingSink, python: str, cwd: Path, workdir: Path
) -> dict[str, Any]:
    sink.reset()
    data_dir = workdir / f"{setup}-{uuid.uuid4().hex[:6]}"
    world = workdir / "world.json"
    port = free_port()
    env = {
        "PORT": str(port),
        "DATA_DIR": str(data_dir),
        "EXTRA_WORLD_FILE": str(world),
        "LOG_LEVEL": "WARNING",
        **({"OUTBOX_CONCURRENCY": str(args.concurrency)} if args.concurrency else {}),
    }
    url = f"http://127.0.0.1:{port}"
    result: dict[str, Any] = {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        async with bot_server(python, cwd, env, workdir / f"{setup}.log"):
            admins = await install(http, url, sink, args.tenants)
            if setup == "held":
                plan = [(0, 0)] + [
                    (1 + j % (args.tenants - 1), j // (args.tenants - 1)) for j in range(args.others)
                ]
                partners = await prepare(http, url, sink, plan)
                sink.held.add(admins[admin_id(0, 0)].conversation)
                await partners[0].add()
                await asyncio.sleep(0.2)  # the held tenant's card is on its way first
                await click_spread(partners[1:], 2.0)
                others = [
                    (admins[admin_id(t, k)].conversation, upn(t, u), p)
                    for p, (t, u) in zip(partners[1:], plan[1:], strict=True)
                    for k in range(2)
                ]
                second_admin = [(admins[admin_id(0, 1)].conversation, upn(0, 0), partners[0])]
                took = await arrivals(sink, others + second_admin, args.wait)
                result["other_tenants_s"] = stats(took[:-1])
                result["held_tenants_second_admin_s"] = stats(took[-1:])
            else:
                plan = [(j % args.tenants, j // args.tenants) for j in range(args.burst)]
                partners = await prepare(http, url, sink, plan)
                await click_spread(partners, 2.0)
                cards = [
                    (admins[admin_id(t, k)].conversation, upn(t, u), p)
                    for p, (t, u) in zip(partners, plan, strict=True)
                    for k in range(2)
                ]
                result["cards_s"] = stats(await arrivals(sink, cards, args.wait))
        result["in_outbox_s"] = stats(in_outbox_s(data_dir))
        result["crash_window_ms"] = stats(crash_window_ms(data_dir, sink.answered))
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tenants", type=int, default=50, help="customer tenants, 2 admins each (50)")
    parser.add_argument("--burst", type=int, default=200, help="partner requests within 2 s (200)")
    parser.add_argument(
        "--others", type=int, default=20, help="other tenants' requests while one chat is held"
    )
    parser.add_argument("--wait", type=float, default=120, help="seconds to wait for the last card (120)")
    parser.add_argument("--other", type=Path, help="also run another checkout, alternating")
    parser.add_argument("--rounds", type=int, default=1, help="rounds (1; with --other, each runs both)")
    parser.add_argument("--setups", default="held,burst", help="which set-ups (held,burst)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds the sink takes per call (0)")
    parser.add_argument("--concurrency", type=int, help="OUTBOX_CONCURRENCY for the bot (its default)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    checkouts = [("here", sys.executable, ROOT)]
    if args.other:
        other = args.other.resolve()
        checkouts.append(("other", str(other / ".venv" / "bin" / "python"), other))
    sink = TimingSink()
    sink.latency = args.latency
    await sink.start()
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        partners = max(args.burst, args.others + 1)
        (workdir / "world.json").write_text(json.dumps(make_world(args.tenants, partners)))
        for round_ in range(1, args.rounds + 1):
            order = checkouts if round_ % 2 else list(reversed(checkouts))
            for setup in args.setups.split(","):
                for name, python, cwd in order:
                    result = await run_setup(setup, args, sink, python, cwd, workdir)
                    runs.append({"round": round_, "setup": setup, "code": name, **result})
                    print_run(runs[-1])
    await sink.stop()
    print(f"\n{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    if args.json:
        args.json.write_text(json.dumps(runs, indent=2))
        print(f"results written to {args.json}")


def print_run(run: dict[str, Any]) -> None:
    def line(label: str, s: dict[str, Any], unit: str) -> str:
        missing = f", {s['missing']} not arrived" if s["missing"] else ""
        return (
            f"  {label:<36} n={s['n']:<4} p50 {s['p50']:8.2f}{unit}  p95 {s['p95']:8.2f}{unit}"
            f"  max {s['max']:8.2f}{unit}{missing}"
        )

    print(f"round {run['round']} {run['setup']:<5} {run['code']}", flush=True)
    if run["setup"] == "held":
        print(line("other tenants' cards (s)", run["other_tenants_s"], " s"))
        print(line("held tenant's second admin (s)", run["held_tenants_second_admin_s"], " s"))
    else:
        print(line("approval cards (s)", run["cards_s"], " s"))
    print(line("queued -> row marked sent (s)", run["in_outbox_s"], " s"))
    print(line("answer -> row marked sent (ms)", run["crash_window_ms"], "ms"), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
