"""A partner's bulk add over HTTP (issue 18, point 5): Pat picks Contoso, pastes five rows, adds the
three good ones; Contoso's global admins get one approval card for the batch (no card per row);
"Approve all" decides once under double clicks and two admins at once; Pat is told once per batch.
Reject removes the batch's users again; a batch nobody decides expires; a runner that stopped
before asking is followed by the sweeper."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from sqlalchemy import select, update

from services import db
from services.errors import StaleRequest
from services.models import Actor, Role
from services.requests.batch_approvals import BatchApproval
from tests.conftest import RunningBot
from tests.doubles import (
    CONTOSO,
    CONTOSO_ADMIN,
    CONTOSO_ADMIN2,
    NORTHWIND,
    NORTHWIND_PARTNER,
    ConnectorDouble,
    Sent,
    TeamsUser,
    card_actions,
    card_text,
)
from tests.test_bulk_add_e2e import FIVE, report

BATCH_HEADING = "Approve 3 new phone user(s) for Contoso?"
SINGLE_HEADING = "Approve a new phone user for Contoso?"
THREE = {"adele@contoso.example", "isaiah@contoso.example", "lynne@contoso.example"}


@pytest.fixture
async def people(
    http: aiohttp.ClientSession, bot: RunningBot, connector: ConnectorDouble
) -> tuple[TeamsUser, TeamsUser, TeamsUser]:
    pat = TeamsUser(http, bot.url, connector.url, NORTHWIND, NORTHWIND_PARTNER, "Pat Partner")
    ada = TeamsUser(http, bot.url, connector.url, CONTOSO, CONTOSO_ADMIN, "Ada Admin")
    avery = TeamsUser(http, bot.url, connector.url, CONTOSO, CONTOSO_ADMIN2, "Avery Admin")
    for person in (pat, ada, avery):
        assert await person.install() == 201
    return pat, ada, avery


async def pat_sends_the_batch(pat: TeamsUser, connector: ConnectorDouble) -> str:
    """Pat picks Contoso, pastes FIVE, adds the three good rows; returns his card's id once the
    batch waits for the approval."""
    picker_id, picker = await report(pat, connector, "bulk add")
    assert "Which enterprise are the users in?" in card_text(picker)
    help_card = (await pat.click(picker_id, picker, "Next", {"enterpriseId": CONTOSO}))["value"]
    assert "The rows you send now go to **Contoso**" in card_text(help_card)
    card_id, checked = await report(pat, connector, FIVE)
    assert "Bulk add for Contoso: the check" in card_text(checked)
    assert "3 user(s) ready to add, 2 problem(s)." in card_text(checked)
    await pat.click(card_id, checked, "Add 3 user(s)")
    waiting = await connector.wait_for(
        lambda s: s.activity_id == card_id and "**Sent for approval.**" in card_text(s.card), within=20
    )
    assert "Waiting for approval: 3" in card_text(waiting.card)
    return card_id


async def calling_on(bot: RunningBot) -> set[str]:
    tu = db.teams_users
    query = select(tu.c.upn).where(tu.c.tenant_id == CONTOSO, tu.c.calling_enabled.is_(True))
    return set(await bot.runtime.database.read(lambda conn: conn.execute(query).scalars().all()))


async def provisioned(bot: RunningBot) -> set[str]:
    tu = db.teams_users
    query = select(tu.c.upn).where(tu.c.tenant_id == CONTOSO, tu.c.provisioned.is_(True))
    return set(await bot.runtime.database.read(lambda conn: conn.execute(query).scalars().all()))


def texts_to(connector: ConnectorDouble, user: TeamsUser, marker: str) -> list[Sent]:
    return [s for s in connector.for_conversation(user.conversation_id) if marker in s.text]


async def batch_card_of(connector: ConnectorDouble, user: TeamsUser) -> Sent:
    return await connector.wait_for(
        lambda s: (
            s.conversation_id == user.conversation_id
            and s.method == "POST"
            and BATCH_HEADING in card_text(s.card)
        )
    )


async def test_pat_sends_a_batch_and_ada_approves_it_with_one_click(
    bot: RunningBot, connector: ConnectorDouble, people: tuple[TeamsUser, TeamsUser, TeamsUser]
):
    pat, ada, avery = people
    pat_card = await pat_sends_the_batch(pat, connector)
    assert THREE <= await provisioned(bot) and not THREE & await calling_on(bot), "partner's half only"
    results = await connector.wait_for(lambda s: "The results, as CSV to copy into Excel:" in s.text)
    assert "Waiting for a global admin" in results.text

    ada_card, avery_card = await batch_card_of(connector, ada), await batch_card_of(connector, avery)
    text = card_text(ada_card.card)
    assert "Pat Partner (Northwind Voice) added these users at the service with a bulk add" in text
    assert "adele@contoso.example · ext. 105" in text
    await asyncio.sleep(0.5)
    for admin in (ada, avery):
        batch_cards = [
            s for s in connector.for_conversation(admin.conversation_id) if BATCH_HEADING in card_text(s.card)
        ]
        assert len(batch_cards) == 1, "one card for the batch"
        assert not [
            s
            for s in connector.for_conversation(admin.conversation_id)
            if SINGLE_HEADING in card_text(s.card)
        ]

    # Ada double-clicks while Avery clicks: one decision.
    answers = await asyncio.gather(
        ada.click(ada_card.activity_id, ada_card.card, "Approve all 3"),
        ada.click(ada_card.activity_id, ada_card.card, "Approve all 3"),
        avery.click(avery_card.activity_id, avery_card.card, "Approve all 3"),
    )
    assert all("Approved by" in card_text(a["value"]) for a in answers)
    await connector.wait_for(
        lambda s: s.activity_id == pat_card and "**Finished.** 3 of 3 user(s) added." in card_text(s.card),
        within=20,
    )
    assert THREE <= await calling_on(bot)
    audit = [a.action for a in await bot.runtime.requests.audit_of_tenant(CONTOSO, limit=500)]
    assert audit.count("approve") == 3 and audit.count("add_user") == 3 and audit.count("batch_ask") == 1
    told = await connector.wait_for(lambda s: "approved your bulk add for Contoso" in s.text)
    assert told.conversation_id == pat.conversation_id
    await connector.wait_for(
        lambda s: (
            s.method == "PUT" and s.activity_id == avery_card.activity_id and "Done: 3" in card_text(s.card)
        ),
        within=20,
    )
    assert len(texts_to(connector, pat, "approved your bulk add")) == 1, "Pat is told once per batch"


async def test_ada_rejects_the_batch_its_users_go_again(
    bot: RunningBot, connector: ConnectorDouble, people: tuple[TeamsUser, TeamsUser, TeamsUser]
):
    pat, ada, _ = people
    pat_card = await pat_sends_the_batch(pat, connector)
    ada_card = await batch_card_of(connector, ada)
    no_reason = (await ada.click(ada_card.activity_id, ada_card.card, "Reject all", {"reason": "  "}))[
        "value"
    ]
    assert "Please give a reason" in card_text(no_reason)
    answer = await ada.click(ada_card.activity_id, ada_card.card, "Reject all", {"reason": "Wrong site"})
    assert "Rejected by Ada Admin" in card_text(answer["value"]) and "Wrong site" in card_text(
        answer["value"]
    )
    told = await connector.wait_for(lambda s: "rejected your bulk add for Contoso: Wrong site" in s.text)
    assert told.conversation_id == pat.conversation_id
    await connector.wait_for(lambda s: s.activity_id == pat_card and "Rejected: 3" in card_text(s.card))

    async def gone() -> bool:
        return not THREE & await provisioned(bot)

    for _ in range(100):
        if await gone():
            break
        await asyncio.sleep(0.1)
    assert await gone(), "the users the partner's half added are removed again"
    again = await ada.click(ada_card.activity_id, ada_card.card, "Approve all 3")
    assert "Rejected by Ada Admin" in card_text(again["value"]), "a stale click shows the decision"
    assert "Approve all 3" not in card_actions(again["value"])


async def test_pending_shows_the_batch_and_a_stranger_may_not_decide(
    bot: RunningBot,
    connector: ConnectorDouble,
    people: tuple[TeamsUser, TeamsUser, TeamsUser],
    http: aiohttp.ClientSession,
):
    pat, ada, _ = people
    await pat_sends_the_batch(pat, connector)
    await batch_card_of(connector, ada)
    before = len(connector.sent)
    assert await ada.say("pending") == 201
    listed = await connector.wait_for(
        lambda s: s in connector.sent[before:] and BATCH_HEADING in card_text(s.card)
    )
    stolen = await pat.click(listed.activity_id, listed.card, "Approve all 3")
    assert "Not allowed" in card_text(stolen["value"])
    assert not THREE & await calling_on(bot)


async def test_a_batch_nobody_decides_expires_and_pat_is_told_once(
    bot: RunningBot, connector: ConnectorDouble, people: tuple[TeamsUser, TeamsUser, TeamsUser]
):
    pat, ada, _ = people
    await pat_sends_the_batch(pat, connector)
    await batch_card_of(connector, ada)
    a = db.batch_approvals
    await bot.runtime.database.write(
        lambda conn: conn.execute(
            update(a).values(asked_at=db.utcnow() - __import__("datetime").timedelta(days=30))
        )
    )
    notifier = bot.runtime.notifier
    assert await notifier.remind_overdue() >= 1
    assert await notifier.remind_overdue() == 0, "expired once"
    await connector.wait_for(lambda s: "Your bulk add for Contoso expired" in s.text)
    await connector.wait_for(
        lambda s: (
            s.conversation_id == ada.conversation_id and "Expired: bulk add for Contoso" in card_text(s.card)
        )
    )
    assert len(texts_to(connector, pat, "Your bulk add for Contoso expired")) == 1


async def test_a_runner_stopped_before_asking_is_followed_by_the_sweeper(
    bot: RunningBot, connector: ConnectorDouble, people: tuple[TeamsUser, TeamsUser, TeamsUser]
):
    pat, ada, _ = people
    await pat_sends_the_batch(pat, connector)
    await batch_card_of(connector, ada)
    # As if the process had stopped between the rows' end and the ask.
    a = db.batch_approvals
    await bot.runtime.database.write(lambda conn: conn.execute(update(a).values(state="running")))
    assert await bot.runtime.requests.batches_to_ask()
    await bot.runtime.notifier.remind_overdue()
    assert not await bot.runtime.requests.batches_to_ask()
    found = await bot.runtime.requests.batch_approval(
        (await bot.runtime.requests.pending_batches(CONTOSO))[0].batch_id
    )
    assert found.state == "awaiting_approval" and found.waiting_count == 3


async def test_two_approvers_past_the_check_at_once_decide_once(
    bot: RunningBot, connector: ConnectorDouble, people: tuple[TeamsUser, TeamsUser, TeamsUser]
):
    """The window the clicks above rarely hit: both approvers read the batch as waiting before
    either writes. The round's conditional write lets one through; the other is a stale click."""
    pat, ada, _ = people
    await pat_sends_the_batch(pat, connector)
    await batch_card_of(connector, ada)
    requests = bot.runtime.requests
    (waiting,) = await requests.pending_batches(CONTOSO)

    async def both_pass_the_check(actor: Actor, batch_id: str, version: int) -> BatchApproval:
        return waiting

    requests._decidable_batch = both_pass_the_check  # type: ignore[method-assign]
    admins = [
        Actor(tenant_id=CONTOSO, aad_object_id=aad, name=name, role=Role.tenant_admin)
        for aad, name in ((CONTOSO_ADMIN, "Ada Admin"), (CONTOSO_ADMIN2, "Avery Admin"))
    ]
    outcomes = await asyncio.gather(
        *(requests.approve_batch(a, waiting.batch_id, waiting.version) for a in admins),
        requests.reject_batch(admins[0], waiting.batch_id, waiting.version, "too late"),
        return_exceptions=True,
    )
    decided = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(decided) == 1 and sum(isinstance(o, StaleRequest) for o in outcomes) == 2, outcomes
    o = db.outbox
    told = select(o.c.id).where(o.c.kind == "batch_requester_notice", o.c.request_id == waiting.batch_id)
    assert len(await bot.runtime.database.read(lambda conn: conn.execute(told).all())) == 1
