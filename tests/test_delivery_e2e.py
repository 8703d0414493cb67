"""Delivery under real faults, over HTTP (issue 17): a chat that does not answer delays only itself
(finding 1), a crash between a send and its record repeats nothing that stays wrong (finding 2), and
a reply the channel refuses during a turn is delivered later, never dropped (finding 4)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from bot.chat import KEPT_FIELDS
from tests.conftest import RunningBot, make_settings, running_bot
from tests.doubles import (
    CONTOSO,
    CONTOSO_ADMIN,
    CONTOSO_ADMIN2,
    FABRIKAM,
    FABRIKAM_ADMIN,
    NORTHWIND,
    NORTHWIND_PARTNER,
    ConnectorDouble,
    Sent,
    TeamsUser,
    card_actions,
    card_text,
)

CONTOSO_CARD = "Approve a new phone user for Contoso?"
FABRIKAM_CARD = "Approve a new phone user for Fabrikam?"


@dataclass
class People:
    bot: RunningBot
    connector: ConnectorDouble
    pat: TeamsUser
    ada: TeamsUser
    avery: TeamsUser
    farah: TeamsUser

    async def install_all(self) -> None:
        for person in (self.pat, self.ada, self.avery, self.farah):
            assert await person.install() == 201

    def posted_cards(self, person: TeamsUser, heading: str) -> list[Sent]:
        return [
            s
            for s in self.connector.for_conversation(person.conversation_id)
            if s.method == "POST" and heading in card_text(s.card)
        ]

    async def card_to(self, person: TeamsUser, heading: str) -> Sent:
        return await self.connector.wait_for(
            lambda s: s.conversation_id == person.conversation_id and heading in card_text(s.card)
        )

    async def partner_asks(self, tenant: str, inputs: dict[str, str]) -> None:
        """Pat picks `tenant`, fills the form with `inputs`, checks and adds."""
        before = len(self.connector.sent)
        await self.pat.say("add user")
        picker = await self.connector.wait_for(
            lambda s: (
                self.connector.sent.index(s) >= before
                and s.conversation_id == self.pat.conversation_id
                and "Which enterprise" in card_text(s.card)
            )
        )
        form = (await self.pat.click(picker.activity_id, picker.card, "Next", {"enterpriseId": tenant}))[
            "value"
        ]
        review = (await self.pat.click(picker.activity_id, form, "Review", inputs))["value"]
        assert "Check and add" in card_text(review), card_text(review)
        await self.pat.click(picker.activity_id, review, "Add user")


CONTOSO_FORM = {"teamsUser": "isaiah@contoso.example", "voiceRoute": "US West", "extension": "108"}
FABRIKAM_FORM = {
    "pbxLocation": "PBX East",
    "teamsUser": "brian@fabrikam.example",
    "voiceRoute": "US West",
    "extension": "200",
}


@pytest.fixture
def people_of(http: aiohttp.ClientSession, connector: ConnectorDouble):
    def make(bot: RunningBot) -> People:
        def user(tenant: str, aad: str, name: str) -> TeamsUser:
            return TeamsUser(http, bot.url, connector.url, tenant, aad, name)

        return People(
            bot,
            connector,
            user(NORTHWIND, NORTHWIND_PARTNER, "Pat Partner"),
            user(CONTOSO, CONTOSO_ADMIN, "Ada Admin"),
            user(CONTOSO, CONTOSO_ADMIN2, "Avery Admin"),
            user(FABRIKAM, FABRIKAM_ADMIN, "Farah Admin"),
        )

    return make


@pytest.fixture
async def crashable(tmp_path: Path) -> AsyncIterator[RunningBot]:
    """A bot whose outbox rows go to the next process 1 s after the one holding them died."""
    settings = make_settings(tmp_path, OUTBOX_LEASE_SECONDS="1", SHUTDOWN_GRACE_SECONDS="0")
    async with running_bot(settings) as bot:
        yield bot


# -- finding 1: one chat that does not answer --------------------------------------------------------


async def test_an_admin_chat_that_does_not_answer_delays_no_other_tenants_card(
    tmp_path: Path, people_of, connector: ConnectorDouble
):
    # Longer than the test: Ada's chat answers only when the test lets it.
    settings = make_settings(tmp_path, PROACTIVE_SEND_TIMEOUT_SECONDS="60")
    async with running_bot(settings) as bot:
        w = people_of(bot)
        await w.install_all()
        connector.hold(w.ada.conversation_id)
        await w.partner_asks(CONTOSO, CONTOSO_FORM)
        await connector.wait_until(lambda: ("POST", w.ada.conversation_id) in connector.waiting)
        await w.partner_asks(FABRIKAM, FABRIKAM_FORM)
        await w.card_to(w.farah, FABRIKAM_CARD)
        assert ("POST", w.ada.conversation_id) in connector.waiting, "Ada's chat has still not answered"
        assert w.posted_cards(w.ada, CONTOSO_CARD) == []
        connector.release(w.ada.conversation_id)
        await w.card_to(w.ada, CONTOSO_CARD)
        await w.card_to(w.avery, CONTOSO_CARD)
        await asyncio.sleep(0.3)
        assert len(w.posted_cards(w.ada, CONTOSO_CARD)) == 1
        assert len(w.posted_cards(w.avery, CONTOSO_CARD)) == 1
        assert len(w.posted_cards(w.farah, FABRIKAM_CARD)) == 1


async def test_an_admin_chat_that_times_out_is_tried_again_later(
    tmp_path: Path, people_of, connector: ConnectorDouble
):
    settings = make_settings(tmp_path, PROACTIVE_SEND_TIMEOUT_SECONDS="0.5")
    async with running_bot(settings) as bot:
        w = people_of(bot)
        await w.install_all()
        connector.hold(w.ada.conversation_id)
        await w.partner_asks(CONTOSO, CONTOSO_FORM)
        avery = await w.card_to(w.avery, CONTOSO_CARD)  # Ada's attempt gave up: her request's next
        connector.release(w.ada.conversation_id)
        ada = await w.card_to(w.ada, CONTOSO_CARD)
        assert connector.sent.index(avery) < connector.sent.index(ada)
        await bot.stop()  # the outcome of every delivery is recorded
        rows = await _outbox_rows(bot)
        assert {(r.recipient_id, r.status, r.attempts > 0) for r in rows if r.kind == "approval_card"} == {
            (CONTOSO_ADMIN, "sent", True),
            (CONTOSO_ADMIN2, "sent", False),
        }


# -- finding 2: a crash between the send and its record -------------------------------------------------


async def test_an_untracked_copy_after_a_crash_shows_the_decision_when_viewed(
    crashable: RunningBot, people_of, connector: ConnectorDouble
):
    w = people_of(crashable)
    await w.install_all()
    died = asyncio.Event()

    async def die(*_args: object, **_kwargs: object) -> None:
        died.set()  # the card is out; the process dies before its reference is kept
        await asyncio.Event().wait()

    crashable.runtime.requests.set_approval_card = die  # type: ignore[method-assign]
    await w.partner_asks(CONTOSO, CONTOSO_FORM)
    await asyncio.wait_for(died.wait(), 10)
    (untracked,) = w.posted_cards(w.ada, CONTOSO_CARD)
    await crashable.restart()
    await connector.wait_until(lambda: len(w.posted_cards(w.ada, CONTOSO_CARD)) == 2)
    avery_card = await w.card_to(w.avery, CONTOSO_CARD)
    assert len(w.posted_cards(w.ada, CONTOSO_CARD)) == 2, "Teams gives no way to avoid this copy"

    await w.avery.click(avery_card.activity_id, avery_card.card, "Approve")
    tracked = w.posted_cards(w.ada, CONTOSO_CARD)[1]
    await connector.wait_for(
        lambda s: s.method == "PUT" and s.activity_id == tracked.activity_id and "Done." in card_text(s.card)
    )
    assert not [s for s in connector.sent if s.method == "PUT" and s.activity_id == untracked.activity_id]
    # The extra copy was never updated, but Teams refreshes it through the bot when Ada views it.
    refresh = untracked.card["refresh"]
    assert w.ada.user_id in refresh["userIds"]
    answer = await w.ada.invoke_action(
        untracked.activity_id, refresh["action"]["verb"], refresh["action"]["data"]
    )
    shown = card_text(answer["value"])
    assert "Approved by Avery Admin" in shown and "Approve" not in card_actions(answer["value"])


async def test_a_crash_after_the_cards_reference_was_kept_sends_no_second_copy(
    crashable: RunningBot, people_of, connector: ConnectorDouble
):
    w = people_of(crashable)
    await w.install_all()
    died = asyncio.Event()

    async def die(*_args: object, **_kwargs: object) -> None:
        died.set()  # the card is out and kept; the process dies before the row is marked sent
        await asyncio.Event().wait()

    crashable.runtime.outbox.sent = die  # type: ignore[method-assign]
    await w.partner_asks(CONTOSO, CONTOSO_FORM)
    await asyncio.wait_for(died.wait(), 10)
    (card,) = w.posted_cards(w.ada, CONTOSO_CARD)
    await crashable.restart()
    await connector.wait_for(lambda s: s.method == "PUT" and s.activity_id == card.activity_id)
    await w.card_to(w.avery, CONTOSO_CARD)
    assert w.posted_cards(w.ada, CONTOSO_CARD) == [card], "the kept copy was updated, not sent again"
    await crashable.stop()  # the outcome of every delivery is recorded
    assert {r.status for r in await _outbox_rows(crashable)} == {"sent"}


# -- finding 4: a reply the channel refuses --------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 503])
async def test_a_refused_form_arrives_later_and_is_the_requests_card(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble, status: int
):
    assert await admin.install() == 201
    connector.fail_next(status, times=3)  # every in-turn attempt of the form
    assert await admin.say("add user") == 201
    assert connector.refused == [("POST", status)] * 3
    form = await connector.wait_for(lambda s: "Add a phone user to Contoso" in card_text(s.card))
    assert form.conversation_id == admin.conversation_id and form.method == "POST"
    draft = (await bot.runtime.requests.requests_of(await _actor(bot, admin)))[0]

    async def kept_as_the_requests_card() -> bool:  # right after the send, before the row is sent
        card_ref = await bot.runtime.requests.card_ref(draft.request_id)
        return card_ref is not None and card_ref["activity_id"] == form.activity_id

    await eventually(kept_as_the_requests_card)
    answer = await admin.click(
        form.activity_id,
        form.card,
        "Review",
        {"teamsUser": "isaiah@contoso.example", "voiceRoute": "US West", "extension": "108"},
    )
    assert "Check and add" in card_text(answer["value"])


async def test_a_turns_replies_after_a_refused_one_follow_it_in_order(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble
):
    assert await admin.install() == 201
    assert await admin.say("add user") == 201
    await connector.wait_for(lambda s: "Add a phone user to Contoso" in card_text(s.card))
    connector.fail_next(429, times=3, retry_after="0")
    assert await admin.say("add user") == 201  # "you already have one in progress", then its form
    assert connector.refused == [("POST", 429)] * 3, "the form was not tried against a throttled chat"
    kept = await bot.runtime.outbox.pending()
    assert [r.kind.value for r in kept] == ["reply", "reply"]
    for row in kept:
        assert set(row.payload) <= {"conversation", "activity", "placeholder", "update_of"}
        assert set(row.payload["activity"]) <= set(KEPT_FIELDS)
        assert (
            "Bearer" not in json.dumps(row.payload) and "authorization" not in json.dumps(row.payload).lower()
        )
        assert (row.recipient_tenant_id, row.recipient_id) == (CONTOSO, CONTOSO_ADMIN)
    text = await connector.wait_for(lambda s: "already have a phone user in progress" in s.text)
    form = await connector.wait_for(
        lambda s: (
            connector.sent.index(s) > connector.sent.index(text) and "Add a phone user" in card_text(s.card)
        )
    )
    assert form.conversation_id == admin.conversation_id


async def test_a_reply_refused_for_good_is_not_kept(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble
):
    assert await admin.install() == 201
    connector.fail_next(403, times=2)  # the user removed the bot: the reply, then the apology
    assert await admin.say("help") == 201
    assert connector.refused == [("POST", 403)] * 2
    assert await bot.runtime.outbox.pending() == []


async def test_a_partners_refused_enterprise_picker_arrives_later(
    bot: RunningBot, http: aiohttp.ClientSession, connector: ConnectorDouble
):
    pat = TeamsUser(http, bot.url, connector.url, NORTHWIND, NORTHWIND_PARTNER, "Pat Partner")
    assert await pat.install() == 201
    connector.fail_next(429, times=3, retry_after="1")
    assert await pat.say("add user") == 201
    picker = await connector.wait_for(lambda s: "Which enterprise" in card_text(s.card))
    assert picker.conversation_id == pat.conversation_id


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Wait for `check()`: what the bot writes just after something the test saw (10 s is a
    safety net against a hang, not a measure of speed)."""
    for _ in range(200):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{check.__name__} never held")


async def _actor(bot: RunningBot, user: TeamsUser):
    from services.directory import EmbeddedDirectory

    return await EmbeddedDirectory(bot.runtime.database).actor(user.tenant_id, user.aad_object_id)


async def _outbox_rows(bot: RunningBot) -> list:
    from sqlalchemy import select

    from services import db
    from services.db import Database

    database = Database(bot.runtime.database.url)
    try:
        return await database.read(lambda conn: conn.execute(select(db.outbox)).all())
    finally:
        await database.close()
