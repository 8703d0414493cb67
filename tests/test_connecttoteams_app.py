"""The real app on the ConnecttoTeams backend (platform double, fake Graph, PBX file): an admin adds a
phone user end to end, with service-provider consent and, without it, through a Global Admin's
sign-in that the platform brings back to the bot's callback."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import pytest

from app import PARTS
from services.provisioning.connecttoteams import ConsentKind
from tests.conftest import RunningBot, free_port, running_bot
from tests.ctt_double import CttDouble, Status
from tests.ctt_local import ctt_settings, prepare_bot_database, start_doubles
from tests.doubles import (
    CONTOSO,
    CONTOSO_ADMIN,
    FABRIKAM,
    NORTHWIND,
    NORTHWIND_PARTNER,
    ConnectorDouble,
    Sent,
    TeamsUser,
    card_actions,
    card_text,
)

SIGN_IN = "Sign in as Global Admin to finish"
NEW_LINK = "Get a new sign-in link"
ADELE = {"teamsUser": "adele@contoso.example", "voiceRoute": "CA Central", "extension": "105"}


@dataclass
class Platform:
    bot: RunningBot
    ctt: CttDouble
    connector: ConnectorDouble
    http: aiohttp.ClientSession

    def user(self, tenant: str, aad: str, name: str) -> TeamsUser:
        return TeamsUser(self.http, self.bot.url, self.connector.url, tenant, aad, name)

    def msal_configures(self) -> list:
        return [c for c in self.ctt.calls("/enterprise/configureUser") if "authenticationResult" in c.body]

    async def card(self, activity_id: str, marker: str) -> Sent:
        return await self.connector.wait_for(
            lambda s: s.activity_id == activity_id and marker in card_text(s.card)
        )

    async def callback(self, method: str = "POST", **options) -> tuple[int, str]:
        async with self.http.request(method, f"{self.bot.url}/api/ctt/callback", **options) as answer:
            return answer.status, await answer.text()


@asynccontextmanager
async def platform(tmp_path: Path, consented: set[str], **extra: str) -> AsyncIterator[Platform]:
    ctt, graph = await start_doubles(consented)
    connector = ConnectorDouble()
    await connector.start()
    port = free_port()
    settings = ctt_settings(tmp_path, ctt, graph, port, consented, LOG_LEVEL="DEBUG", **extra)
    await prepare_bot_database(settings)
    try:
        async with (
            running_bot(settings, msal_http_client=graph.http_client(), port=port) as bot,
            aiohttp.ClientSession() as http,
        ):
            async with http.get(f"{bot.url}/readyz") as ready:
                assert ready.status == 200, await ready.text()
            yield Platform(bot, ctt, connector, http)
    finally:
        for double in (ctt, graph, connector):
            await double.stop()


async def admin_adds_adele(p: Platform, admin: TeamsUser) -> str:
    """Ada fills in and confirms the form; returns the id of the card that becomes the progress card."""
    assert await admin.say("add user") == 201
    form = await p.connector.wait_for(lambda s: "Add a phone user to Contoso" in card_text(s.card))
    review = await admin.click(form.activity_id, form.card, "Review", ADELE)
    await admin.click(form.activity_id, review["value"], "Add user")
    return form.activity_id


async def test_an_admin_adds_a_phone_user_on_the_platform(tmp_path: Path):
    async with platform(tmp_path, consented={CONTOSO}) as p:
        card_id = await admin_adds_adele(p, p.user(CONTOSO, CONTOSO_ADMIN, "Ada Admin"))
        done = await p.card(card_id, "Done.")
        assert "Enable calling: Calling enabled" in card_text(done.card)
        body = p.ctt.calls("/enterprise/configureUser")[0].body
        assert (body["pbxUserId"], body["sbcGatewayId"]) == ("105@pbx.contoso.example", 1)
        assert p.ctt.user(CONTOSO, "adele@contoso.example").microsoft_side
        assert not p.ctt.action_requests and not p.msal_configures()


async def test_without_consent_a_global_admin_signs_in_and_the_card_finishes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    async with platform(tmp_path, consented=set()) as p:
        ada = p.user(CONTOSO, CONTOSO_ADMIN, "Ada Admin")
        card_id = await admin_adds_adele(p, ada)
        waiting = await p.card(card_id, SIGN_IN)
        actions = card_actions(waiting.card)
        link = actions[SIGN_IN]
        assert link["type"] == "Action.OpenUrl" and link["url"] in p.ctt.action_callbacks
        assert NEW_LINK in actions
        assert "Waiting for a Global Admin of Contoso to sign in" in card_text(waiting.card)
        assert not p.ctt.user(CONTOSO, "adele@contoso.example").microsoft_side

        status, page = await p.ctt.global_admin_signs_in(link["url"], CONTOSO, "ga@contoso.example")
        assert status == 200 and "Calling is enabled for adele@contoso.example" in page
        done = await p.card(card_id, "Done.")
        assert "Calling enabled after ga@contoso.example signed in" in card_text(done.card)
        assert SIGN_IN not in card_actions(done.card)
        assert p.ctt.user(CONTOSO, "adele@contoso.example").microsoft_side
        assert len(p.msal_configures()) == 1

        # The link works once: the platform (or a browser) coming back again changes nothing.
        status, page = await p.ctt.global_admin_signs_in(link["url"], CONTOSO)
        assert status == 200 and "Calling is enabled for adele@contoso.example" in page
        assert len(p.msal_configures()) == 1
        # No state, a guessed one, garbage: a clear page, never a 500, nothing sent to the platform.
        assert (await p.callback("GET"))[0] == 400
        status, page = await p.callback(params={"state": "guessed"}, json={"accessToken": "x"})
        assert status == 404 and "not known" in page
        assert (await p.callback(params={"state": "s"}, data=b"{not json", headers=_json))[0] == 400
        assert (await p.callback(params={"state": "s"}, json=["a", 1]))[0] == 400
        assert (
            await p.callback(
                params={"state": "s"},
                data=io.BytesIO(b"x" * (p.bot.settings.max_body_bytes + 1)),
                headers=_json,
            )
        )[0] == 413
        assert len(p.msal_configures()) == 1
        state = dict(parse_qsl(urlsplit(p.ctt.action_callbacks[link["url"]]).query))["state"]
        # The Global Admin's tokens and the callback state reach no log line, chat message or database.
        stored = await _database_text(p.bot)
        sent = json.dumps([s.activity for s in p.connector.sent])
        for secret in ("ga-access-token-", "ga-id-token-", state):
            assert secret not in caplog.text and secret not in sent and secret.encode() not in stored


_json = {"Content-Type": "application/json"}


async def _database_text(bot: RunningBot) -> bytes:
    """Every row of every table, as text (SQLite or PostgreSQL alike)."""
    from sqlalchemy import select

    from services.db import metadata

    rows = []
    async with bot.runtime.database.engine.connect() as conn:
        for table in metadata.sorted_tables:
            rows += [repr(tuple(row)) for row in (await conn.execute(select(table))).all()]
    assert rows
    return "\n".join(rows).encode()


async def test_a_new_link_replaces_an_old_one_and_a_wrong_tenant_is_refused(tmp_path: Path):
    async with platform(tmp_path, consented=set()) as p:
        ada = p.user(CONTOSO, CONTOSO_ADMIN, "Ada Admin")
        card_id = await admin_adds_adele(p, ada)
        first = await p.card(card_id, SIGN_IN)
        old_link = card_actions(first.card)[SIGN_IN]["url"]
        renewed = await ada.click(card_id, first.card, NEW_LINK)
        assert "Working" in card_text(renewed["value"]) or SIGN_IN in card_text(renewed["value"])
        second = await p.connector.wait_for(
            lambda s: (
                s.activity_id == card_id
                and SIGN_IN in card_actions(s.card or {})
                and card_actions(s.card)[SIGN_IN]["url"] != old_link
            )
        )
        assert (await p.ctt.global_admin_signs_in(old_link, CONTOSO))[0] == 410

        # A Global Admin of another tenant signs in: refused, and the card offers a new try.
        new_link = card_actions(second.card)[SIGN_IN]["url"]
        status, page = await p.ctt.global_admin_signs_in(new_link, FABRIKAM, "ga@fabrikam.example")
        assert status == 422 and "another Microsoft 365 tenant" in page
        failed = await p.card(card_id, "That did not work.")
        assert "Try again" in card_actions(failed.card)
        assert not p.ctt.user(CONTOSO, "adele@contoso.example").microsoft_side
        assert not p.msal_configures()


async def partner_asks_and_ada_approves(p: Platform) -> tuple[TeamsUser, TeamsUser, Sent, Sent]:
    """Pat asks for Adele at Contoso, Ada approves; returns Pat, Ada, Pat's card, Ada's card."""
    pat = p.user(NORTHWIND, NORTHWIND_PARTNER, "Pat Partner")
    ada = p.user(CONTOSO, CONTOSO_ADMIN, "Ada Admin")
    for user in (pat, ada):
        assert await user.install() == 201
    await pat.say("add user")
    picker = await p.connector.wait_for(lambda s: "Which enterprise" in card_text(s.card))
    form = (await pat.click(picker.activity_id, picker.card, "Next", {"enterpriseId": CONTOSO}))["value"]
    review = (await pat.click(picker.activity_id, form, "Review", ADELE))["value"]
    await pat.click(picker.activity_id, review, "Add user")
    approval = await p.connector.wait_for(
        lambda s: s.conversation_id == ada.conversation_id and "Approve a new phone user" in card_text(s.card)
    )
    await ada.click(approval.activity_id, approval.card, "Approve")
    return pat, ada, picker, approval


async def test_a_partners_request_approved_without_consent_waits_for_the_sign_in(tmp_path: Path):
    async with platform(tmp_path, consented=set()) as p:
        pat, ada, picker, approval = await partner_asks_and_ada_approves(p)
        ada_waiting = await p.card(approval.activity_id, SIGN_IN)
        pat_waiting = await p.card(picker.activity_id, "Waiting for a Global Admin of Contoso to sign in")
        assert SIGN_IN not in card_actions(pat_waiting.card)  # the partner cannot sign in for Contoso
        await p.connector.wait_for(
            lambda s: s.conversation_id == pat.conversation_id and "has not allowed management" in s.text
        )
        # "pending" lists it for the tenant's admins, with the sign-in button.
        assert await ada.say("pending") == 201
        await p.connector.wait_for(
            lambda s: (
                s.conversation_id == ada.conversation_id and "waiting for a Global Admin to sign in" in s.text
            )
        )
        listed = await p.connector.wait_for(
            lambda s: (
                s.conversation_id == ada.conversation_id
                and s.activity_id != approval.activity_id
                and SIGN_IN in card_actions(s.card or {})
            )
        )
        link = card_actions(ada_waiting.card)[SIGN_IN]["url"]
        assert card_actions(listed.card)[SIGN_IN]["url"] == link
        status, _ = await p.ctt.global_admin_signs_in(link, CONTOSO)
        assert status == 200
        # The copy "pending" showed is the one kept up to date (one tracked copy per approver).
        await p.card(listed.activity_id, "Approved and done")
        await p.card(picker.activity_id, "Done.")
        await p.connector.wait_for(
            lambda s: (
                s.conversation_id == pat.conversation_id
                and s.text.startswith("Done: Adele Vance, adele@contoso.example")
            )
        )
        assert p.ctt.user(CONTOSO, "adele@contoso.example").microsoft_side


async def test_a_sign_in_nobody_gives_is_reminded_twice_then_escalated(tmp_path: Path):
    async with platform(
        tmp_path, consented=set(), REMINDER_AFTER_HOURS="0.0003", OUTBOX_POLL_SECONDS="0.1"
    ) as p:
        pat, ada, _, approval = await partner_asks_and_ada_approves(p)
        await p.card(approval.activity_id, SIGN_IN)
        reminder = "calling is enabled only once a Global Admin of Contoso signs in"
        await p.connector.wait_for(lambda s: s.conversation_id == ada.conversation_id and reminder in s.text)
        await p.connector.wait_for(
            lambda s: (
                s.conversation_id == pat.conversation_id
                and "No Global Admin of Contoso has signed in" in s.text
            )
        )
        escalation = "no Global Admin of Contoso has signed in since"
        await p.connector.wait_for(
            lambda s: s.conversation_id == ada.conversation_id and escalation in s.text
        )
        await p.connector.wait_for(
            lambda s: (
                s.conversation_id == pat.conversation_id and "Calling stays off until one does" in s.text
            )
        )
        await asyncio.sleep(2.0)  # several more sweeps: nothing more, and a sign-in wait does not expire
        sent = [s for s in p.connector.for_conversation(ada.conversation_id) if reminder in s.text]
        assert len(sent) == 2
        assert (
            len([s for s in p.connector.for_conversation(ada.conversation_id) if escalation in s.text]) == 1
        )


async def test_an_admin_stops_a_request_nobody_will_sign_in_for(tmp_path: Path):
    async with platform(tmp_path, consented=set()) as p:
        ada = p.user(CONTOSO, CONTOSO_ADMIN, "Ada Admin")
        card_id = await admin_adds_adele(p, ada)
        waiting = await p.card(card_id, SIGN_IN)
        link = card_actions(waiting.card)[SIGN_IN]["url"]
        stopped = (await ada.click(card_id, waiting.card, "Stop without calling"))["value"]
        text = card_text(stopped)
        assert "Stopped by Ada Admin before calling was enabled" in text and "stays added" in text
        assert SIGN_IN not in card_actions(stopped)
        status, page = await p.ctt.global_admin_signs_in(link, CONTOSO)
        assert status == 410 and "was stopped" in page
        assert not p.msal_configures()


async def test_a_partner_cannot_stop_what_the_admins_must_finish(tmp_path: Path):
    async with platform(tmp_path, consented=set()) as p:
        pat, ada, picker, approval = await partner_asks_and_ada_approves(p)
        waiting = await p.card(approval.activity_id, SIGN_IN)
        stop = card_actions(waiting.card)["Stop without calling"]
        refused = await pat.invoke_action(picker.activity_id, stop["verb"], stop["data"])
        assert "Only a global admin of Contoso can stop this request" in card_text(refused["value"])
        stopped = (await ada.click(approval.activity_id, waiting.card, "Stop without calling"))["value"]
        assert "Approved, then stopped" in card_text(stopped)
        await p.connector.wait_for(
            lambda s: (
                s.conversation_id == pat.conversation_id
                and "stays added at the provisioning service" in s.text
            )
        )
        await p.card(picker.activity_id, "calling was not enabled")


async def test_a_bulk_add_rides_out_a_429_storm_from_the_platform(tmp_path: Path):
    """Issue 18: the platform throttles (429 with Retry-After) while a batch runs; every call waits
    as told and is tried again, and each user is configured once."""
    async with platform(tmp_path, consented={CONTOSO}, CTT_BACKOFF_BASE_SECONDS="0.01") as p:
        ada = p.user(CONTOSO, CONTOSO_ADMIN, "Ada Admin")
        rows = "bulk add\nupn,extension,route\n" + "\n".join(
            f"{u}@contoso.example,{e},CA Central"
            for u, e in (("adele", 105), ("isaiah", 106), ("lynne", 107))
        )
        assert await ada.say(rows) == 201
        report = await p.connector.wait_for(lambda s: "3 user(s) ready to add" in card_text(s.card))
        # Fewer than CTT_MAX_ATTEMPTS (4) in a row: however they fall, no call gives up.
        p.ctt.inject("/enterprise/configureUser", *[Status(429, retry_after="0.2")] * 3)
        await ada.click(report.activity_id, report.card, "Add 3 user(s)")
        await p.connector.wait_for(
            lambda s: s.activity_id == report.activity_id and "3 of 3 user(s) added" in card_text(s.card)
        )
        calls = p.ctt.calls("/enterprise/configureUser")
        added = [c.body["teamsUserId"] for c in calls if c.status == 200 and "password" in c.body]
        assert sorted(added) == ["adele@contoso.example", "isaiah@contoso.example", "lynne@contoso.example"]
        assert len([c for c in calls if c.status == 429]) == 3, "every throttled call was tried again"


async def test_a_consent_comes_back_to_the_bot_and_then_calling_needs_no_sign_in(tmp_path: Path):
    """Issue 20: consent asked for through getActionItemUrl ("Enterprise Admin URL Workflow"), the
    Global Admin's answer brought back to the bot's callback, kept for the tenant (migration 0013)."""
    async with platform(tmp_path, consented=set()) as p:
        service = p.bot.app[PARTS].provisioning
        refused = await service.ask_for_consent(CONTOSO, ConsentKind.management)
        assert await p.ctt.global_admin_consents(refused.url, CONTOSO, grant=False) == 422
        assert (await service.tenant_state(CONTOSO)).management_consent == "refused"

        link = await service.ask_for_consent(CONTOSO, ConsentKind.management)
        callback = p.ctt.action_requests[-1]["callbackUrl"]
        assert callback.startswith(f"{p.bot.url}/api/ctt/callback?ctt_consent=management&state=")
        assert await p.ctt.global_admin_consents(link.url, CONTOSO) == 200
        assert await p.ctt.global_admin_consents(link.url, CONTOSO) == 410  # single use
        status, _ = await p.callback("GET", params={"ctt_consent": "management", "state": "x" * 43})
        assert status == 404
        assert (await service.tenant_state(CONTOSO)).management_consent == "granted"

        card_id = await admin_adds_adele(p, p.user(CONTOSO, CONTOSO_ADMIN, "Ada Admin"))
        done = await p.card(card_id, "Done.")
        assert "Enable calling: Calling enabled" in card_text(done.card)
        assert p.msal_configures() == [] and SIGN_IN not in card_text(done.card)
        assert p.ctt.user(CONTOSO, "adele@contoso.example").microsoft_side
