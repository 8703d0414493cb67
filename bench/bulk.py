"""Benchmark of a bulk add (issue 18): Litware's global admin pastes 200 rows, checks the report,
clicks "Add 200 user(s)"; provisioning slowed to 0.2 s per call (EMBEDDED_DELAY_SECONDS). Litware
is the demo world's tenant for this (services/seed/demo_world.json: 250 licensed users without
phone service, 300 free extensions). Prints the wall time from the click to the "Finished." card,
rows per second, the card updates and messages sent, the most sends to the admin's chat in any
1 s and 30 s window (Teams allows 7 per second and 60 per 30 s in one conversation) and the bot's
peak RSS.

    .venv/bin/python -m bench.bulk [--rows 200] [--delay 0.2] [--concurrency N]
    .venv/bin/python -m bench.bulk --write-csv data/litware-200.csv [--rows 200]

`--write-csv` only writes the same rows as a CSV file, to try a bulk add by hand as Litware's
admin (README, "Many users at once").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench.__main__ import Sink as BenchSink
from bench.__main__ import free_port, rss_kb, server
from services.seed_data import bulk_add_csv

# Litware and its global admin, Liam Admin (services/seed/demo_world.json; the ids are fixed).
LITWARE = "1e2f3a4b-5c6d-4e7f-8a9b-0c1d2e3f4a5b"
LITWARE_ADMIN = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"


class Sink(BenchSink):
    """The bench's Bot Connector, keeping when each send and update came (and its activity id)."""

    def __init__(self) -> None:
        super().__init__()
        # (time, method, conversation, activity id, body) of each send and update
        self.sends: list[tuple[float, str, str, str, dict[str, Any]]] = []
        self._count = 0

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self._count += 1
        activity_id = request.match_info.get("aid") if request.method == "PUT" else f"m{self._count}"
        self.sends.append(
            (time.monotonic(), request.method, request.match_info["conv"], activity_id or "", body)
        )
        return web.json_response({"id": activity_id})

    async def card_with(self, text: str, since: int = 0, within: float = 600.0) -> tuple[str, dict[str, Any]]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for _, _, _, activity_id, body in self.sends[since:]:
                for attachment in body.get("attachments") or []:
                    card = attachment.get("content") or {}
                    if text in json.dumps(card):
                        return activity_id, card
            await asyncio.sleep(0.05)
        raise TimeoutError(f"no card with {text!r}")


def activity(sink: Sink, **fields: Any) -> dict[str, Any]:
    return {
        "type": "message",
        "id": str(uuid.uuid4()),
        "channelId": "msteams",
        "serviceUrl": sink.url,
        "from": {"id": "29:bench", "aadObjectId": LITWARE_ADMIN, "name": "Liam Admin"},
        "recipient": {"id": "28:bot", "name": "bot"},
        "conversation": {"id": "a:bench-bulk", "conversationType": "personal", "tenantId": LITWARE},
        "channelData": {"tenant": {"id": LITWARE}},
        "locale": "en-US",
        **fields,
    }


def most_in_window(times: list[float], seconds: float) -> int:
    best, start = 0, 0
    for end in range(len(times)):
        while times[end] - times[start] > seconds:
            start += 1
        best = max(best, end - start + 1)
    return best


async def main(args: argparse.Namespace, rows: str) -> None:
    sink = Sink()
    await sink.start()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = {
            "PORT": str(port),
            "DATA_DIR": str(Path(tmp) / "data"),
            "LOG_LEVEL": "WARNING",
            "EMBEDDED_DELAY_SECONDS": str(args.delay),
        }
        if args.concurrency:
            env["BULK_CONCURRENCY"] = str(args.concurrency)
        async with server(["app.py"], port, env) as pid, aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{port}/api/messages"
            async with http.post(url, json=activity(sink, text=f"bulk add\n{rows}")) as r:
                assert r.status == 201, await r.text()
            report_id, report = await sink.card_with(f"Add {args.rows} user(s)")
            action = next(a for a in report["actions"] if a.get("verb") == "bulk.add")
            before = len(sink.sends)
            started = time.monotonic()
            click = activity(
                sink,
                type="invoke",
                name="adaptiveCard/action",
                replyToId=report_id,
                value={"action": {"type": "Action.Execute", "verb": "bulk.add", "data": action["data"]}},
            )
            async with http.post(url, json=click) as r:
                assert r.status == 200, await r.text()
            await sink.card_with("Finished.", since=before)
            elapsed = time.monotonic() - started
            sent = [t for t, _, conv, _, _ in sink.sends[before:] if conv == "a:bench-bulk"]
            updates = sum(1 for _, method, _, _, _ in sink.sends[before:] if method == "PUT")
            print(f"rows                        {args.rows}")
            print(f"provisioning delay per call {args.delay:.2f} s")
            print(f"wall time, click to Finished {elapsed:.1f} s")
            print(f"rows per second             {args.rows / elapsed:.1f}")
            print(f"card updates sent           {updates}")
            print(f"sends to the chat           {len(sent)}")
            print(f"most sends in any 1 s       {most_in_window(sent, 1.0)} (Teams: 7)")
            print(f"most sends in any 30 s      {most_in_window(sent, 30.0)} (Teams: 60)")
            print(f"peak RSS                    {rss_kb(pid, 'VmHWM') / 1024:.0f} MB")
    await sink.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--delay", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=0, help="BULK_CONCURRENCY (default: the bot's)")
    parser.add_argument("--write-csv", type=Path, metavar="PATH", help="only write the rows to PATH")
    args = parser.parse_args()
    try:
        rows = bulk_add_csv(LITWARE, args.rows)
    except ValueError as too_many:
        parser.error(str(too_many))
    if args.write_csv:
        args.write_csv.parent.mkdir(parents=True, exist_ok=True)
        args.write_csv.write_text(rows, encoding="utf-8")
        print(f"{args.write_csv}: {args.rows} rows for Litware; send it, or paste it after 'bulk add'")
    else:
        asyncio.run(main(args, rows))
