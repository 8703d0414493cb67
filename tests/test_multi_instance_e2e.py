"""Two bot processes (`python app.py`) on one PostgreSQL database behind no sticky sessions.

Each turn of a conversation may reach either process, as Teams behind a load balancer does. Both
processes share one connector double (loopback, so the bots' local mode answers it). A small
`sitecustomize` records every call each process makes to the embedded provisioning service, so
"one provisioning call" is counted where it happens, not inferred from the database.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from services import db
from services.db import Database
from tests.conftest import free_port
from tests.doubles import (
    CONTOSO,
    CONTOSO_ADMIN,
    CONTOSO_ADMIN2,
    NORTHWIND,
    NORTHWIND_PARTNER,
    ConnectorDouble,
    Sent,
    TeamsUser,
    card_text,
)
from tests.pg import pg_server, pg_url  # noqa: F401  (fixtures)

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parent.parent
APPROVAL_HEADING = "Approve a new phone user for Contoso?"
WITHIN = 30.0

# Loaded by every bot process at start (PYTHONPATH): counts provisioning calls per process.
CALL_RECORDER = textwrap.dedent(
    """
    import os
    import sys

    sys.path.insert(0, os.environ["BOT_ROOT"])
    import services.provisioning.embedded as embedded

    def _recorded(name):
        real = getattr(embedded.EmbeddedProvisioningService, name)

        async def recorded(self, *args, **kwargs):
            with open(os.environ["PROVISIONING_CALLS_FILE"], "a", encoding="utf-8") as calls:
                calls.write(f"{os.getpid()} {name}\\n")
            return await real(self, *args, **kwargs)

        setattr(embedded.EmbeddedProvisioningService, name, recorded)

    for _name in ("add_user", "sync_users", "enable_calling", "disable_calling", "delete_user"):
        _recorded(_name)
    """
)


class BotProcess:
    """`python app.py` with its own port, on the shared database."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"{name}.log"
        self._env = env | {"PORT": str(self.port)}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "app.py"], cwd=ROOT, env=self._env, stdout=log, stderr=subprocess.STDOUT
            )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def ready(self, http: aiohttp.ClientSession, within: float = WITHIN) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.poll() is None, (
                f"{self.name} exited:\n{self.log_tail()}"
            )
            try:
                async with http.get(f"{self.url}/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        raise AssertionError(f"{self.name} not ready within {within}s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, leases stay held, nothing is flushed."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Cluster:
    a: BotProcess
    b: BotProcess
    connector: ConnectorDouble
    http: aiohttp.ClientSession
    database: Database
    calls_file: Path

    def user(self, instance: BotProcess, tenant: str, aad: str, name: str) -> TeamsUser:
        return TeamsUser(self.http, instance.url, self.connector.url, tenant, aad, name)

    def calls(self) -> list[tuple[int, str]]:
        if not self.calls_file.exists():
            return []
        return [
            (int(pid), name)
            for pid, name in (line.split() for line in self.calls_file.read_text().splitlines() if line)
        ]

    async def wait_for(self, predicate: Callable[[Sent], bool]) -> Sent:
        return await self.connector.wait_for(predicate, within=WITHIN)

    async def card_to(self, user: TeamsUser, marker: str) -> Sent:
        return await self.wait_for(
            lambda s: s.conversation_id == user.conversation_id and marker in card_text(s.card)
        )

    async def text_to(self, user: TeamsUser, marker: str) -> Sent:
        return await self.wait_for(lambda s: s.conversation_id == user.conversation_id and marker in s.text)

    async def audit_actions(self) -> list[str]:
        async with self.database.engine.connect() as conn:
            return list(
                (
                    await conn.execute(
                        select(db.audit.c.action)
                        .where(db.audit.c.tenant_id == CONTOSO)
                        .order_by(db.audit.c.id)
                    )
                ).scalars()
            )

    async def until(self, check: Callable[[], object], what: str, within: float = WITHIN) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            result = check()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(
            f"not within {within}s: {what}\n--- a ---\n{self.a.log_tail()}\n--- b ---\n{self.b.log_tail()}"
        )


async def start_cluster(tmp_path: Path, database_url: str, **settings: str) -> AsyncIterator[Cluster]:
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(CALL_RECORDER, encoding="utf-8")
    calls_file = tmp_path / "provisioning-calls.txt"
    inherited = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DATA_DIR", "PYTHONPATH")}
    env = (
        inherited
        | {
            "MicrosoftAppId": "",
            "HOST": "127.0.0.1",
            "DATABASE_URL": database_url,
            "DATA_DIR": str(tmp_path / "data"),
            "LOG_LEVEL": "INFO",
            "OUTBOX_POLL_SECONDS": "0.2",
            "PIPELINE_LEASE_SECONDS": "2",
            "OUTBOX_LEASE_SECONDS": "3",
            # A delivery ends (sent or failed) well within the short lease above: a text taken over
            # by the other instance while its first delivery is still under way would come twice.
            "PROACTIVE_SEND_TIMEOUT_SECONDS": "1",
            "SHUTDOWN_GRACE_SECONDS": "2",
            "PYTHONPATH": str(hooks),
            "BOT_ROOT": str(ROOT),
            "PROVISIONING_CALLS_FILE": str(calls_file),
        }
        | settings
    )
    connector = ConnectorDouble()
    await connector.start()
    a, b = BotProcess("a", env, tmp_path), BotProcess("b", env, tmp_path)
    database = Database(database_url)
    async with aiohttp.ClientSession() as http:
        try:
            # Both at once, as a deployment's instances do: migrations and the seed race each other.
            a.start()
            b.start()
            await asyncio.gather(a.ready(http), b.ready(http))
            yield Cluster(a, b, connector, http, database, calls_file)
        finally:
            for process in (a, b):
                process.stop()
            await database.close()
            await connector.stop()
            for process in (a, b):
                print(f"--- {process.name} (pid {process.process.pid if process.process else '-'}) ---")
                print(process.log_tail(200))


@pytest.fixture
async def cluster(tmp_path: Path, pg_url: str) -> AsyncIterator[Cluster]:  # noqa: F811
    async for running in start_cluster(tmp_path, pg_url):
        yield running


@pytest.fixture
async def slow_cluster(tmp_path: Path, pg_url: str) -> AsyncIterator[Cluster]:  # noqa: F811
    """Every provisioning call takes a second: time to kill a process in the middle of one."""
    async for running in start_cluster(tmp_path, pg_url, EMBEDDED_DELAY_SECONDS="1.0"):
        yield running


@pytest.fixture
async def very_slow_cluster(tmp_path: Path, pg_url: str) -> AsyncIterator[Cluster]:  # noqa: F811
    """Every provisioning call outlasts the pipeline lease (3 s against 2 s), as a platform call
    with retries and Retry-After can."""
    async for running in start_cluster(tmp_path, pg_url, EMBEDDED_DELAY_SECONDS="3.0"):
        yield running


async def partner_request_alternating(c: Cluster, pat: TeamsUser) -> str:
    """Pat asks, each turn on the other process; returns the id of Pat's card."""
    pat.bot_url = c.a.url
    assert await pat.say("add user") == 201
    picker = await c.card_to(pat, "Which enterprise")
    pat.bot_url = c.b.url
    form = (await pat.click(picker.activity_id, picker.card, "Next", {"enterpriseId": CONTOSO}))["value"]
    assert "Add a phone user to Contoso" in card_text(form)
    pat.bot_url = c.a.url
    review = (
        await pat.click(
            picker.activity_id,
            form,
            "Review",
            {"teamsUser": "isaiah@contoso.example", "voiceRoute": "US West", "extension": "108"},
        )
    )["value"]
    assert "Check and add" in card_text(review)
    pat.bot_url = c.b.url
    await pat.click(picker.activity_id, review, "Add user")
    await c.wait_for(
        lambda s: s.activity_id == picker.activity_id and "Waiting for a global admin" in card_text(s.card)
    )
    return picker.activity_id


async def test_admin_conversation_alternates_between_instances(cluster: Cluster):
    c = cluster
    ada = c.user(c.a, CONTOSO, CONTOSO_ADMIN, "Ada Admin")
    assert await ada.install() == 201
    ada.bot_url = c.b.url
    assert await ada.say("add user") == 201
    form = await c.card_to(ada, "Add a phone user to Contoso")
    ada.bot_url = c.a.url
    review = (
        await ada.click(
            form.activity_id,
            form.card,
            "Review",
            {"teamsUser": "adele@contoso.example", "voiceRoute": "CA Central", "extension": "105"},
        )
    )["value"]
    assert "Check and add" in card_text(review)
    ada.bot_url = c.b.url
    answer = await ada.click(form.activity_id, review, "Add user")
    assert "Working" in card_text(answer["value"]) or "Done" in card_text(answer["value"])
    done = await c.wait_for(
        lambda s: s.method == "PUT" and s.activity_id == form.activity_id and "Done." in card_text(s.card)
    )
    assert "Enable calling: Calling enabled" in card_text(done.card)
    ada.bot_url = c.a.url
    assert await ada.say("my requests") == 201
    listing = await c.card_to(ada, "My requests")
    assert "adele@contoso.example" in card_text(listing.card)
    welcomes = [
        s
        for s in c.connector.for_conversation(ada.conversation_id)
        if "Teams Phone Connector" in card_text(s.card)
    ]
    assert len(welcomes) == 1
    assert sorted(name for _, name in c.calls()) == ["add_user", "enable_calling", "sync_users"]


async def test_request_made_on_one_instance_is_approved_once_on_both(cluster: Cluster):
    """20 concurrent Approve clicks, spread over both processes and both admins: one decision, one
    sync and one enable-calling call, one message of each kind to everyone."""
    c = cluster
    pat = c.user(c.a, NORTHWIND, NORTHWIND_PARTNER, "Pat Partner")
    ada = c.user(c.a, CONTOSO, CONTOSO_ADMIN, "Ada Admin")
    avery = c.user(c.b, CONTOSO, CONTOSO_ADMIN2, "Avery Admin")
    for user in (pat, ada, avery):
        assert await user.install() == 201
    pat_card = await partner_request_alternating(c, pat)
    ada_card = await c.card_to(ada, APPROVAL_HEADING)
    avery_card = await c.card_to(avery, APPROVAL_HEADING)

    clicks = []
    for i in range(20):
        admin, card = (ada, ada_card) if i % 2 else (avery, avery_card)
        clicker = c.user(c.a if i % 4 < 2 else c.b, admin.tenant_id, admin.aad_object_id, admin.name)
        clicker.conversation_id = admin.conversation_id
        clicks.append(clicker.click(card.activity_id, card.card, "Approve"))
    answers = await asyncio.gather(*clicks)
    assert all("Approved by" in card_text(a["value"]) for a in answers), [
        card_text(a["value"])[:200] for a in answers
    ]

    await c.text_to(
        pat, "Done: Isaiah Langer, isaiah@contoso.example in Contoso can now make and receive Teams calls"
    )
    await c.wait_for(
        lambda s: s.method == "PUT" and s.activity_id == pat_card and "Done." in card_text(s.card)
    )
    actions = await c.audit_actions()
    assert actions.count("approve") == 1
    assert actions.count("sync") == 1 and actions.count("enable_calling") == 1
    async with c.database.engine.connect() as conn:
        rows = await conn.execute(
            select(db.audit.c.action, db.audit.c.actor_id).where(db.audit.c.tenant_id == CONTOSO)
        )
        actors = {row.action: row.actor_id for row in rows}
    assert actors["sync"] == actors["enable_calling"] == actors["approve"], "the approver runs the rest"
    winner_line = next(line for line in card_text(answers[0]["value"]).splitlines() if "Approved by" in line)
    assert all(winner_line.split(" at ")[0] in card_text(a["value"]) for a in answers)
    provisioning = sorted(name for _, name in c.calls())
    assert provisioning == ["add_user", "enable_calling", "sync_users"], c.calls()
    assert {pid for pid, _ in c.calls()} <= {c.a.pid, c.b.pid}

    # Every notice delivered once, whichever sender took it.
    await c.until(lambda: _all_sent(c), "every outbox row sent")
    await asyncio.sleep(0.5)
    for admin in (ada, avery):
        cards = [
            s
            for s in c.connector.for_conversation(admin.conversation_id)
            if s.method == "POST" and APPROVAL_HEADING in card_text(s.card)
        ]
        assert len(cards) == 1, admin.name
    dones = [s for s in c.connector.for_conversation(pat.conversation_id) if s.text.startswith("Done:")]
    assert len(dones) == 1
    for card in (ada_card, avery_card):
        assert "Done." in card_text(c.connector.cards[card.activity_id]), "the last update wins"


async def _all_sent(c: Cluster) -> bool:
    async with c.database.engine.connect() as conn:
        waiting = (
            await conn.execute(
                select(func.count()).select_from(db.outbox).where(db.outbox.c.status != "sent")
            )
        ).scalar_one()
    return waiting == 0


async def test_killing_an_instance_mid_flow_loses_nothing(slow_cluster: Cluster):
    """The approving instance dies (SIGKILL) in the middle of the provisioning it runs: the other
    takes the pipeline over when its lease runs out, finishes it, and delivers every notice."""
    c = slow_cluster
    pat = c.user(c.b, NORTHWIND, NORTHWIND_PARTNER, "Pat Partner")
    ada = c.user(c.a, CONTOSO, CONTOSO_ADMIN, "Ada Admin")
    avery = c.user(c.b, CONTOSO, CONTOSO_ADMIN2, "Avery Admin")
    for user in (pat, ada, avery):
        assert await user.install() == 201
    pat_card = await partner_request_alternating(c, pat)
    ada_card = await c.card_to(ada, APPROVAL_HEADING)
    avery_card = await c.card_to(avery, APPROVAL_HEADING)

    ada.bot_url = c.a.url
    answer = await ada.click(ada_card.activity_id, ada_card.card, "Approve")
    assert "Approved by Ada Admin" in card_text(answer["value"])
    await c.until(lambda: (c.a.pid, "sync_users") in c.calls(), "instance a starts the sync")
    async with c.database.engine.connect() as conn:
        worker = (await conn.execute(select(db.requests.c.worker_id))).scalar_one()
    assert worker and f":{c.a.pid}:" in worker, "instance a holds the pipeline when it dies"
    c.a.kill()

    await c.text_to(
        pat, "Done: Isaiah Langer, isaiah@contoso.example in Contoso can now make and receive Teams calls"
    )
    for card in (ada_card, avery_card):
        await c.wait_for(
            lambda s, card=card: (
                s.method == "PUT" and s.activity_id == card.activity_id and "Done." in card_text(s.card)
            )
        )
    await c.wait_for(
        lambda s: s.method == "PUT" and s.activity_id == pat_card and "Done." in card_text(s.card)
    )
    await c.until(lambda: _all_sent(c), "every outbox row sent")
    assert (c.b.pid, "enable_calling") in c.calls(), "instance b finished the pipeline"
    actions = await c.audit_actions()
    assert actions.count("approve") == 1
    assert (
        actions.count("sync") == 1 and actions.count("enable_calling") == 1 and actions.count("finish") == 1
    )
    async with c.database.engine.connect() as conn:
        user = (
            await conn.execute(
                select(db.teams_users).where(
                    db.teams_users.c.tenant_id == CONTOSO, db.teams_users.c.upn == "isaiah@contoso.example"
                )
            )
        ).one()
        request = (await conn.execute(select(db.requests))).one()
    assert user.calling_enabled and request.state == "done" and request.worker_id is None


async def test_a_step_slower_than_the_lease_is_not_taken_over(very_slow_cluster: Cluster):
    """A live instance renews its lease while a step runs: the other instance never mistakes a
    slow provisioning call for a dead instance, so each call is made once, by one process, with
    the admin as the actor."""
    c = very_slow_cluster
    ada = c.user(c.a, CONTOSO, CONTOSO_ADMIN, "Ada Admin")
    assert await ada.say("add user") == 201
    form = await c.card_to(ada, "Add a phone user to Contoso")
    ada.bot_url = c.b.url
    review = (
        await ada.click(
            form.activity_id,
            form.card,
            "Review",
            {"teamsUser": "adele@contoso.example", "voiceRoute": "CA Central", "extension": "105"},
        )
    )["value"]
    ada.bot_url = c.a.url
    await ada.click(form.activity_id, review, "Add user")
    await c.wait_for(
        lambda s: s.method == "PUT" and s.activity_id == form.activity_id and "Done." in card_text(s.card)
    )
    assert sorted(c.calls()) == sorted(
        [(c.a.pid, "add_user"), (c.a.pid, "sync_users"), (c.a.pid, "enable_calling")]
    )
    async with c.database.engine.connect() as conn:
        rows = await conn.execute(
            select(db.audit.c.action, db.audit.c.actor_id).where(db.audit.c.tenant_id == CONTOSO)
        )
        actors = {row.action: row.actor_id for row in rows}
    assert actors["add_user"] == actors["sync"] == actors["enable_calling"] == CONTOSO_ADMIN
