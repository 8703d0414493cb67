"""SIGTERM while provisioning runs: the process finishes the work before it exits."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp

from services.db import Database
from services.provisioning.embedded import EmbeddedProvisioningService
from tests.conftest import free_port
from tests.doubles import CONTOSO, CONTOSO_ADMIN, ConnectorDouble, TeamsUser, card_text

ROOT = Path(__file__).resolve().parent.parent


async def test_sigterm_finishes_running_provisioning(tmp_path: Path, connector: ConnectorDouble):
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "DATA_DIR": str(tmp_path),
        "EMBEDDED_DELAY_SECONDS": "0.7",
        "SHUTDOWN_GRACE_SECONDS": "20",
        "LOG_LEVEL": "WARNING",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "app.py", cwd=ROOT, env=env, stderr=asyncio.subprocess.PIPE
    )
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                try:
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
            admin = TeamsUser(http, f"http://127.0.0.1:{port}", connector.url, CONTOSO, CONTOSO_ADMIN, "Ada")
            await admin.say("add user")
            form = await connector.wait_for(lambda s: "Add a phone user to Contoso" in card_text(s.card))
            review = await admin.click(
                form.activity_id,
                form.card,
                "Review",
                {"teamsUser": "adele@contoso.example", "voiceRoute": "CA Central", "extension": "105"},
            )
            await admin.click(form.activity_id, review["value"], "Add user")
        process.send_signal(signal.SIGTERM)  # three slow steps (about 2 s) are still to run
        await asyncio.wait_for(process.wait(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, (await process.stderr.read()).decode()[-2000:]
    assert any(s.activity_id == form.activity_id and "Done." in card_text(s.card) for s in connector.sent)
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}")
    try:
        state = await EmbeddedProvisioningService(database).user_state(CONTOSO, "adele@contoso.example")
        assert state is not None and state.calling_enabled, "finished before exit, not on the next start"
    finally:
        await database.close()
