"""SQL statements and time per turn of the add-user conversation, the bot in this process.

    .venv/bin/python -m bench.profile_turns [--conversations 20] [--cprofile FILE] [--noop]

Drives conversations one after the other (no concurrency, so every statement belongs to the turn
in flight, or to the background pipeline between turns) and prints, per turn kind, the SQL
statements (counted with SQLAlchemy's `before_cursor_execute` event) and the median time.
`--cprofile FILE` writes a cProfile of the whole run; `--noop` measures our HTTP route and
CloudAdapter with a bot that does nothing (the SDK's own per-turn cost).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import re
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import event

from app import PARTS, create_app
from bench.__main__ import TENANT, Client, Sink, Stats, admin_id, free_port, make_world, one_add_user
from bot.settings import Settings
from bot.web import RUNTIME

# The embedded demo's own tables: its provisioning service (the platform's REST API in production)
# and its directory (Microsoft Graph in production). Their statements are the stand-ins' cost, not
# the bot's, as the demo's password hashing is (bench/__main__.py).
STAND_IN_TABLES = frozenset(
    {"teams_users", "extensions", "pbx_locations", "voice_routes", "tenants", "people", "partner_enterprises"}
)
_TABLE = re.compile(r"\b(?:FROM|UPDATE|INTO)\s+\"?(\w+)", re.IGNORECASE)


def owner(statement: str) -> str:
    """`stand-in` for a statement on the demo's tables, `bot` for the bot's own (requests, audit,
    outbox, conversations, ...); the savepoints of group commit apart (they come with load)."""
    if statement.split(None, 1)[0].upper() in {"SAVEPOINT", "RELEASE", "ROLLBACK", "COMMIT"}:
        return "transaction control"
    found = _TABLE.search(statement)
    return "stand-in" if found and found.group(1).lower() in STAND_IN_TABLES else "bot"


class Counting:
    def __init__(self) -> None:
        self.statements = 0
        self.kinds: Counter[str] = Counter()
        self.owners: Counter[str] = Counter()

    def __call__(self, _conn, _cursor, statement: str, *_args: Any) -> None:
        kind = statement.split(None, 1)[0].upper()
        if kind == "BEGIN":  # transaction control, not counted (pysqlite used to issue it unseen)
            return
        self.statements += 1
        self.kinds[kind] += 1
        self.owners[owner(statement)] += 1


class Timing:
    """The driver's time per statement (between SQLAlchemy's cursor events), summed by its SQL."""

    def __init__(self) -> None:
        self.total: Counter[str] = Counter()
        self.count: Counter[str] = Counter()

    def before(self, conn: Any, _cursor: Any, _statement: str, *_args: Any) -> None:
        conn.info["bench_started"] = time.perf_counter()

    def after(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        key = " ".join(statement.split())[:110]
        self.total[key] += time.perf_counter() - conn.info.pop("bench_started")
        self.count[key] += 1

    def commit(self, _conn: Any) -> None:
        self.count["COMMIT (count only)"] += 1

    def print(self, conversations: int) -> None:
        everything = sum(self.total.values())
        print(f"driver time per conversation {everything * 1000 / conversations:.2f} ms; top statements:")
        for key, seconds in self.total.most_common(25):
            print(f"{seconds * 1e6 / self.count[key]:8.0f} us x{self.count[key] / conversations:5.2f}  {key}")
        print(f"commits per conversation {self.count['COMMIT (count only)'] / conversations:.1f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--conversations", type=int, default=20)
    parser.add_argument("--cprofile", type=Path)
    parser.add_argument("--noop", action="store_true", help="a bot that does nothing, through our route")
    parser.add_argument(
        "--show-sql", action="store_true", help="print each statement of the last conversation"
    )
    parser.add_argument(
        "--statement-times", action="store_true", help="the statements taking the driver's most time"
    )
    args = parser.parse_args()
    sink = Sink()
    await sink.start()
    with tempfile.TemporaryDirectory() as tmp:
        world = Path(tmp) / "world.json"
        world.write_text(json.dumps(make_world(args.conversations + 5, args.conversations + 5)))
        settings = Settings(_env_file=None, DATA_DIR=tmp, EXTRA_WORLD_FILE=str(world), LOG_LEVEL="WARNING")
        app = create_app(settings)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        url = f"http://127.0.0.1:{port}"
        counting = Counting()
        last_sql: list[str] = []

        def show(_conn, _cursor, statement: str, *_args: Any) -> None:
            last_sql.append(" ".join(statement.split())[:160])

        timing = Timing()
        for engine in app[PARTS].database.sync_engines:
            event.listen(engine, "before_cursor_execute", counting)
            if args.show_sql:
                event.listen(engine, "before_cursor_execute", show)
            if args.statement_times:
                event.listen(engine, "before_cursor_execute", timing.before)
                event.listen(engine, "after_cursor_execute", timing.after)
                event.listen(engine, "commit", timing.commit)
        if args.noop:

            async def noop(_turn: Any) -> None:
                return None

            app[RUNTIME].bot.on_turn = noop  # type: ignore[method-assign]
        per_kind: dict[str, list[tuple[int, float]]] = defaultdict(list)
        profiler = cProfile.Profile() if args.cprofile else None
        async with aiohttp.ClientSession() as http:

            class Counted(Client):
                async def post(self, kind: str, activity: dict[str, Any]) -> Any:
                    kind = label(activity)
                    before = counting.statements
                    started = time.perf_counter()
                    try:
                        return await super().post(kind, activity)
                    finally:
                        per_kind[kind].append(
                            (counting.statements - before, (time.perf_counter() - started) * 1000)
                        )

            if profiler:
                profiler.enable()
            for index in range(args.conversations):
                last_sql.clear()
                client = Counted(http, url, sink, admin_id(index), TENANT, Stats())
                if args.noop:
                    for _ in range(5):
                        await client.post("noop", client.activity(type="message", text="hi"))
                    continue
                await run_one(client, index, counting, per_kind)
            if profiler:
                profiler.disable()
                profiler.dump_stats(str(args.cprofile))
        await runner.cleanup()
    await sink.stop()
    print(f"{'turn':32}{'n':>5}{'SQL/turn':>10}{'p50 ms':>9}")
    for kind, rows in per_kind.items():
        counts = sorted({c for c, _ in rows})
        shown = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
        print(f"{kind:32}{len(rows):5}{shown:>10}{statistics.median(t for _, t in rows):9.1f}")
    print("statement kinds:", dict(counting.kinds))
    if not args.noop:
        sends = [dict(c) for c in sink.sends.values()]
        updates = sorted(c.get("PUT", 0) for c in sends)
        print(
            f"sends to the chat per conversation: new messages {sorted({c.get('POST', 0) for c in sends})},"
            f" card updates {updates[0]}-{updates[-1]} (median {statistics.median(updates)})"
        )
    if not args.noop:
        n = args.conversations
        print(
            f"per conversation: {counting.statements / n:.1f} statements, of which the bot's own"
            f" {counting.owners['bot'] / n:.1f}, the embedded stand-ins' {counting.owners['stand-in'] / n:.1f},"
            f" savepoints {counting.owners['transaction control'] / n:.1f}"
            " (the first conversation also loads the form options' cache)"
        )
    if args.show_sql:
        print("\n".join(last_sql))
    if args.statement_times:
        timing.print(args.conversations)


async def run_one(
    client: Any, index: int, counting: Counting, per_kind: dict[str, list[tuple[int, float]]]
) -> None:
    """bench/__main__.py's one_add_user; what the turns did not run is the background pipeline's."""
    before, in_turns = counting.statements, sum(c for rows in per_kind.values() for c, _ in rows)
    started = time.perf_counter()
    await one_add_user(client, index, via_button=index % 2 == 0)
    in_turns = sum(c for rows in per_kind.values() for c, _ in rows) - in_turns
    per_kind["pipeline SQL; ms: whole conversation"].append(
        (counting.statements - before - in_turns, (time.perf_counter() - started) * 1000)
    )


def label(activity: dict[str, Any]) -> str:
    if activity["type"] == "conversationUpdate":
        return "install (conversationUpdate)"
    if activity["type"] == "invoke":
        return f"{activity['value']['action']['verb']} (invoke)"
    if isinstance(activity.get("value"), dict):
        return "welcome button (card submit)"
    return f"{activity.get('text')!r} typed (message)"


if __name__ == "__main__":
    asyncio.run(main())
