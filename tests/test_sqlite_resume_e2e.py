"""Issue 17, finding 3: with SQLite (one process by design), a request cut off by a killed process is
resumed as soon as the next process starts, not when the dead process's lease runs out (the
default lease is a minute: it was 69 s of "Working..." before)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import aiohttp
from sqlalchemy import select

from services import db
from services.db import Database, sqlite_url
from tests.doubles import CONTOSO, CONTOSO_ADMIN, ConnectorDouble, TeamsUser, card_text
from tests.test_multi_instance_e2e import BotProcess

# Far longer than the test waits: only a take-over at start can finish the request in time.
LEASE_SECONDS = "600"


async def test_a_request_cut_off_by_kill_9_is_resumed_when_the_next_process_starts(tmp_path: Path):
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DATA_DIR", "PYTHONPATH")} | {
        "MicrosoftAppId": "",
        "HOST": "127.0.0.1",
        "DATA_DIR": str(data),
        "LOG_LEVEL": "INFO",
        "PIPELINE_LEASE_SECONDS": LEASE_SECONDS,
        "EMBEDDED_DELAY_SECONDS": "1.0",  # each provisioning call takes a second: time to kill
    }
    connector = ConnectorDouble()
    await connector.start()
    first = BotProcess("first", env, tmp_path)
    database: Database | None = None
    try:
        async with aiohttp.ClientSession() as http:
            first.start()
            await first.ready(http)
            ada = TeamsUser(http, first.url, connector.url, CONTOSO, CONTOSO_ADMIN, "Ada Admin")
            assert await ada.say("add user") == 201
            form = await connector.wait_for(lambda s: "Add a phone user to Contoso" in card_text(s.card))
            inputs = {"teamsUser": "adele@contoso.example", "voiceRoute": "CA Central", "extension": "105"}
            review = (await ada.click(form.activity_id, form.card, "Review", inputs))["value"]
            await ada.click(form.activity_id, review, "Add user")
            await asyncio.sleep(1.5)  # inside the pipeline: a step has run, the next one runs
            first.kill()  # SIGKILL: the lease stays held by a process that no longer exists

            database = Database(sqlite_url(data))
            r = db.requests
            row = await database.read(lambda conn: conn.execute(select(r.c.state, r.c.worker_id)).one())
            assert row.worker_id and row.state not in ("done", "draft"), row

            second = BotProcess("second", env, tmp_path)
            second.start()
            started = time.monotonic()
            try:
                await second.ready(http)
                await connector.wait_for(
                    lambda s: s.activity_id == form.activity_id and "Done." in card_text(s.card), within=20
                )
                assert time.monotonic() - started < float(LEASE_SECONDS)
                done = await database.read(lambda conn: conn.execute(select(r.c.state)).scalar_one())
                assert done == "done"
                assert "took over 1 request(s)" in second.log_path.read_text()
            finally:
                second.stop()
    finally:
        first.stop()
        if database is not None:
            await database.close()
        await connector.stop()
