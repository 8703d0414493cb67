"""A partner asks; the tenant's global admins approve or reject with card buttons, exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest

from tests.conftest import RunningBot, make_settings, running_bot
from tests.doubles import (
    CONTOSO,
    CONTOSO_ADMIN,
    CONTOSO_ADMIN2,
    CONTOSO_USER,
    FABRIKAM,
    FABRIKAM_ADMIN,
    NORTHWIND,
    NORTHWIND_PARTNER,
    TAILSPIN,
    TAILSPIN_PARTNER,
    ConnectorDouble,
    Sent,
    TeamsUser,
    card_actions,
    card_text,
)

APPROVAL_HEADING = "Approve a new phone user for Contoso?"


@dataclass
class World:
    bot: RunningBot
    connector: ConnectorDouble
    pat: TeamsUser
    ada: TeamsUser
    avery: TeamsUser
    http: aiohttp.ClientSession

    def user(self, tenant: str, aad: str, name: str) -> TeamsUser:
        return TeamsUser(self.http, self.bot.url, self.connector.url, tenant, aad, name)

    def approval_cards_of(self, user: TeamsUser) -> list[Sent]:
        return [
            s
            for s in self.connector.for_conversation(user.conversation_id)
            if s.method == "POST" and APPROVAL_HEADING in card_text(s.card)
        ]

    async def latest_card(self, user: TeamsUser, marker: str) -> Sent:
        return await self.connector.wait_for(
            lambda s: s.conversation_id == user.conversation_id and marker in card_text(s.card)
        )

    async def text_to(self, user: TeamsUser, marker: str) -> Sent:
        return await self.connector.wait_for(
            lambda s: s.conversation_id == user.conversation_id and marker in s.text
        )


@pytest.fixture
async def world(http: aiohttp.ClientSession, bot: RunningBot, connector: ConnectorDouble) -> World:
    w = World(
        bot,
        connector,
        TeamsUser(http, bot.url, connector.url, NORTHWIND, NORTHWIND_PARTNER, "Pat Partner"),
        TeamsUser(http, bot.url, connector.url, CONTOSO, CONTOSO_ADMIN, "Ada Admin"),
        TeamsUser(http, bot.url, connector.url, CONTOSO, CONTOSO_ADMIN2, "Avery Admin"),
        http,
    )
    return w


async def partner_requests(
    w: World, extension: str = "108", teams_user: str = "isaiah@contoso.example"
) -> str:
    """Pat picks Contoso, fills the form, confirms; returns the id of Pat's card."""
    await w.pat.say("add user")
    picker = await w.latest_card(w.pat, "Which enterprise")
    offered = {c["title"] for c in picker.card["body"][2]["choices"]}
    assert offered == {"Contoso", "Fabrikam", "Litware"}  # Litware: the demo world's bulk-add tenant
    form = (await w.pat.click(picker.activity_id, picker.card, "Next", {"enterpriseId": CONTOSO}))["value"]
    assert "Add a phone user to Contoso" in card_text(form)
    review = (
        await w.pat.click(
            picker.activity_id,
            form,
            "Review",
            {"teamsUser": teams_user, "voiceRoute": "US West", "extension": extension},
        )
    )["value"]
    assert "Check and add" in card_text(review)
    await w.pat.click(picker.activity_id, review, "Add user")
    await w.connector.wait_for(
        lambda s: s.activity_id == picker.activity_id and "Waiting for a global admin" in card_text(s.card)
    )
    return picker.activity_id


async def admins_installed(w: World) -> None:
    for user in (w.pat, w.ada, w.avery):
        assert await user.install() == 201


async def test_partner_asks_two_admins_get_cards_one_approves(world: World):
    w = world
    await admins_installed(w)
    pat_card = await partner_requests(w)
    told = await w.text_to(w.pat, "Waiting for a global admin of Contoso")
    assert "Ada Admin" in told.text and "Avery Admin" in told.text
    ada_card = await w.latest_card(w.ada, APPROVAL_HEADING)
    avery_card = await w.latest_card(w.avery, APPROVAL_HEADING)
    text = card_text(ada_card.card)
    assert "Pat Partner (Northwind Voice) added Isaiah Langer, isaiah@contoso.example" in text
    assert "SIP user: 108" in text and "Voice route: US West" in text
    assert ada_card.card["refresh"]["userIds"] == [w.ada.user_id, w.avery.user_id] or set(
        ada_card.card["refresh"]["userIds"]
    ) == {w.ada.user_id, w.avery.user_id}
    state = await w.bot.runtime.provisioning.user_state(CONTOSO, "isaiah@contoso.example")
    assert state.provisioned and not state.calling_enabled, "partner's half: added, calling not yet"

    answer = await w.ada.click(ada_card.activity_id, ada_card.card, "Approve")
    assert "Approved by Ada Admin" in card_text(answer["value"])
    await w.connector.wait_for(
        lambda s: (
            s.method == "PUT" and s.activity_id == avery_card.activity_id and "Done." in card_text(s.card)
        )
    )
    await w.connector.wait_for(
        lambda s: s.method == "PUT" and s.activity_id == ada_card.activity_id and "Done." in card_text(s.card)
    )
    avery_view = w.connector.cards[avery_card.activity_id]
    assert "Approved by Ada Admin at" in card_text(avery_view)
    assert "Approve" not in card_actions(avery_view), "no buttons once decided"
    await w.text_to(w.pat, "approved your request")
    await w.text_to(
        w.pat, "Done: Isaiah Langer, isaiah@contoso.example in Contoso can now make and receive Teams calls"
    )
    pat_view = await w.connector.wait_for(
        lambda s: s.method == "PUT" and s.activity_id == pat_card and "Done." in card_text(s.card)
    )
    assert "Approved by Ada Admin" in card_text(pat_view.card)
    state = await w.bot.runtime.provisioning.user_state(CONTOSO, "isaiah@contoso.example")
    assert state.calling_enabled
    assert not await w.bot.runtime.provisioning.sync_required(CONTOSO)
    audit = await w.bot.runtime.requests.audit_of_tenant(CONTOSO)
    by_action = {a.action: a for a in audit}
    assert by_action["approve"].actor_id == CONTOSO_ADMIN
    assert by_action["enable_calling"].actor_id == CONTOSO_ADMIN, "the approver is the actor"
    assert by_action["sync"].actor_id == CONTOSO_ADMIN


async def test_reject_needs_a_reason_and_everyone_sees_it(world: World):
    w = world
    await admins_installed(w)
    await partner_requests(w)
    ada_card = await w.latest_card(w.ada, APPROVAL_HEADING)
    avery_card = await w.latest_card(w.avery, APPROVAL_HEADING)
    reject = ada_card.card["actions"][1]["card"]["actions"][0]
    answer = await w.ada.invoke_action(
        ada_card.activity_id, reject["verb"], {**reject["data"], "reason": "  "}
    )
    assert "Please give a reason" in card_text(answer["value"])
    answer = await w.ada.invoke_action(
        ada_card.activity_id, reject["verb"], {**reject["data"], "reason": "Isaiah is leaving in May"}
    )
    assert "Rejected by Ada Admin at" in card_text(answer["value"])
    updated = await w.connector.wait_for(
        lambda s: (
            s.method == "PUT"
            and s.activity_id == avery_card.activity_id
            and "Rejected by" in card_text(s.card)
        )
    )
    assert "Reason: Isaiah is leaving in May" in card_text(updated.card)
    told = await w.text_to(w.pat, "rejected your request")
    assert "Isaiah is leaving in May" in told.text
    assert (
        "isaiah@contoso.example is removed from the provisioning service again and extension 108 freed"
        in told.text
    )
    # The user the partner's half added goes again, with the rejecting admin as the actor.
    for _ in range(100):
        state = await w.bot.runtime.provisioning.user_state(CONTOSO, "isaiah@contoso.example")
        if not state.provisioned:
            break
        await asyncio.sleep(0.05)
    assert not state.provisioned and not state.calling_enabled
    assert (await w.bot.runtime.provisioning.extension(CONTOSO, "PBX", "108")).assigned_to is None
    audit = await w.bot.runtime.requests.audit_of_tenant(CONTOSO)
    assert [a.actor_id for a in audit if a.action == "delete_user"] == [CONTOSO_ADMIN]


async def test_wrong_people_cannot_approve_and_are_audited(world: World):
    w = world
    await admins_installed(w)
    await partner_requests(w)
    ada_card = await w.latest_card(w.ada, APPROVAL_HEADING)
    intruders = [
        w.user(FABRIKAM, FABRIKAM_ADMIN, "Farah Admin"),
        w.user(CONTOSO, CONTOSO_USER, "Uma User"),
        w.user(TAILSPIN, TAILSPIN_PARTNER, "Sam Partner"),
        w.user(NORTHWIND, NORTHWIND_PARTNER, "Pat Partner"),
    ]
    for intruder in intruders:
        answer = await intruder.click(ada_card.activity_id, ada_card.card, "Approve")
        assert "Not allowed" in card_text(answer["value"]), intruder.name
    request = (await w.bot.runtime.requests.awaiting_approval(CONTOSO))[0]
    assert request.state.value == "awaiting_approval"
    refused = [a for a in await w.bot.runtime.requests.audit_of_tenant(CONTOSO) if a.action == "refused"]
    assert {(a.actor_tenant_id, a.actor_id) for a in refused} >= {
        (FABRIKAM, FABRIKAM_ADMIN),
        (CONTOSO, CONTOSO_USER),
        (TAILSPIN, TAILSPIN_PARTNER),
        (NORTHWIND, NORTHWIND_PARTNER),
    }
    # A tampered card (wrong version) is refused too, and the right admin then still decides.
    approve = ada_card.card["actions"][0]
    answer = await w.ada.invoke_action(
        ada_card.activity_id, approve["verb"], {**approve["data"], "version": 999}
    )
    assert "Approved by" not in card_text(answer["value"])
    assert (await w.bot.runtime.requests.get(request.request_id)).state.value == "awaiting_approval"


async def test_twenty_concurrent_approvals_make_one_decision_and_one_provisioning_call(
    world: World, monkeypatch: pytest.MonkeyPatch
):
    w = world
    await admins_installed(w)
    await partner_requests(w)
    ada_card = await w.latest_card(w.ada, APPROVAL_HEADING)
    avery_card = await w.latest_card(w.avery, APPROVAL_HEADING)
    provisioning = w.bot.runtime.provisioning
    calls: list[str] = []
    real_enable, real_sync = provisioning.enable_calling, provisioning.sync_users

    async def enable(tenant_id: str, upn: str) -> None:
        calls.append("enable")
        await real_enable(tenant_id, upn)

    async def sync(tenant_id: str) -> None:
        calls.append("sync")
        await real_sync(tenant_id)

    monkeypatch.setattr(provisioning, "enable_calling", enable)
    monkeypatch.setattr(provisioning, "sync_users", sync)
    approve = ada_card.card["actions"][0]
    duplicate = w.ada._activity(
        type="invoke",
        name="adaptiveCard/action",
        replyToId=ada_card.activity_id,
        value={"action": {"type": "Action.Execute", "verb": approve["verb"], "data": approve["data"]}},
    )

    async def redelivered() -> dict:
        async with w.http.post(f"{w.bot.url}/api/messages", json=duplicate) as resp:
            assert resp.status == 200
            return await resp.json()

    clicks = []
    for i in range(20):
        if i % 3 == 0:
            clicks.append(redelivered())
        elif i % 2:
            clicks.append(w.ada.click(ada_card.activity_id, ada_card.card, "Approve"))
        else:
            clicks.append(w.avery.click(avery_card.activity_id, avery_card.card, "Approve"))
    answers = await asyncio.gather(*clicks)
    assert all("Approved by" in card_text(a["value"]) for a in answers)
    await w.text_to(w.pat, "Done:")
    audit = await w.bot.runtime.requests.audit_of_tenant(CONTOSO)
    assert [a.action for a in audit].count("approve") == 1
    assert calls == ["sync", "enable"]
    winner = next(a for a in audit if a.action == "approve").actor_name
    for answer in answers:
        assert f"Approved by {winner}" in card_text(answer["value"])


async def test_crash_between_saving_and_sending_delivers_once_after_restart(world: World):
    w = world
    await admins_installed(w)
    w.bot.runtime.notifier.pause()  # the process "dies" before the sender runs
    await partner_requests(w)
    await asyncio.sleep(0.3)
    assert w.approval_cards_of(w.ada) == [] and w.approval_cards_of(w.avery) == []
    assert len(await w.bot.runtime.outbox.pending()) >= 2
    await w.bot.restart()
    await w.latest_card(w.ada, APPROVAL_HEADING)
    await w.latest_card(w.avery, APPROVAL_HEADING)
    await asyncio.sleep(0.5)
    assert len(w.approval_cards_of(w.ada)) == 1
    assert len(w.approval_cards_of(w.avery)) == 1


async def test_no_admin_yet_partner_told_then_card_arrives_on_install(world: World):
    w = world
    assert await w.pat.install() == 201
    await partner_requests(w)
    told = await w.text_to(w.pat, "no global admin of Contoso has the Phone Connector bot")
    assert "admin@contoso.example" in told.text and "install" in told.text
    request = (await w.bot.runtime.requests.awaiting_approval(CONTOSO))[0]
    assert request.state.value == "awaiting_approval"
    assert await w.ada.install() == 201
    card = await w.latest_card(w.ada, APPROVAL_HEADING)
    assert "Approve" in card_actions(card.card)
    assert w.approval_cards_of(w.avery) == []


async def test_pending_lists_open_requests_with_buttons(world: World):
    w = world
    assert await w.pat.install() == 201
    await partner_requests(w)
    await w.avery.say("pending")
    listed = await w.latest_card(w.avery, APPROVAL_HEADING)
    answer = await w.avery.click(listed.activity_id, listed.card, "Approve")
    assert "Approved by Avery Admin" in card_text(answer["value"])
    await w.text_to(w.pat, "Done:")
    await w.ada.say("pending")
    await w.text_to(w.ada, "No requests are waiting for your approval.")
    await w.pat.say("my requests")
    listing = await w.latest_card(w.pat, "My requests")
    assert (
        "**Isaiah Langer, isaiah@contoso.example**, ext. 108 · Contoso · **Done**, Approved by Avery Admin"
        in card_text(listing.card)
    )
    await w.ada.say("audit")
    audit = await w.latest_card(w.ada, "Audit: Contoso")
    assert "Avery Admin approved adding Isaiah Langer, extension 108" in card_text(audit.card)


async def test_partner_cannot_pick_an_enterprise_it_does_not_manage(world: World):
    w = world
    sam = w.user(TAILSPIN, TAILSPIN_PARTNER, "Sam Partner")
    await sam.say("add user")
    picker = await w.latest_card(sam, "Which enterprise")
    assert {c["value"] for c in picker.card["body"][2]["choices"]} == {FABRIKAM}
    answer = await sam.click(picker.activity_id, picker.card, "Next", {"enterpriseId": CONTOSO})
    assert "You do not manage that enterprise." in card_text(answer["value"])
    refused = [a for a in await w.bot.runtime.requests.audit_of_tenant(CONTOSO) if a.action == "refused"]
    assert any(a.actor_id == TAILSPIN_PARTNER for a in refused)


async def test_failure_after_approval_shows_try_again_to_admins(world: World):
    w = world
    await admins_installed(w)
    await partner_requests(w)
    ada_card = await w.latest_card(w.ada, APPROVAL_HEADING)
    w.bot.runtime.provisioning.faults.fail_next("enable_calling")
    await w.ada.click(ada_card.activity_id, ada_card.card, "Approve")
    failed = await w.connector.wait_for(
        lambda s: s.activity_id == ada_card.activity_id and "That did not work." in card_text(s.card)
    )
    await w.text_to(w.pat, "did not work")
    # The partner cannot retry the admin's half; the admin can.
    pat_try = await w.pat.click(ada_card.activity_id, failed.card, "Try again")
    assert "Only a global admin of Contoso" in card_text(pat_try["value"])
    await w.ada.click(ada_card.activity_id, failed.card, "Try again")
    await w.text_to(w.pat, "Done:")
    assert (await w.bot.runtime.provisioning.user_state(CONTOSO, "isaiah@contoso.example")).calling_enabled


@pytest.fixture
async def reminding_bot(tmp_path) -> AsyncIterator[RunningBot]:
    # A follow-up every 0.72 s; the approval expires after 3.5 s; the sweeper looks every 0.5 s.
    settings = make_settings(
        tmp_path,
        REMINDER_AFTER_HOURS="0.0002",
        REQUEST_EXPIRY_DAYS=str(3.5 / 86400),
        OUTBOX_POLL_SECONDS="0.1",
        PIPELINE_LEASE_SECONDS="1",
    )
    async with running_bot(settings) as running:
        yield running


async def test_an_approval_nobody_gives_is_reminded_twice_escalated_then_expires_and_is_undone(
    http: aiohttp.ClientSession, reminding_bot: RunningBot, connector: ConnectorDouble
):
    w = World(
        reminding_bot,
        connector,
        TeamsUser(http, reminding_bot.url, connector.url, NORTHWIND, NORTHWIND_PARTNER, "Pat Partner"),
        TeamsUser(http, reminding_bot.url, connector.url, CONTOSO, CONTOSO_ADMIN, "Ada Admin"),
        TeamsUser(http, reminding_bot.url, connector.url, CONTOSO, CONTOSO_ADMIN2, "Avery Admin"),
        http,
    )
    await admins_installed(w)
    pat_card = await partner_requests(w)
    await w.text_to(w.ada, "Escalation:")
    await w.text_to(w.avery, "Escalation:")
    await w.text_to(w.pat, "after two reminders")
    told = await w.text_to(w.pat, "expired: no global admin of Contoso approved or rejected it in time")
    assert "isaiah@contoso.example is removed from the provisioning service again" in told.text
    ada_card = await w.latest_card(w.ada, "Expired: new phone user for Contoso")
    assert "Approve" not in card_actions(ada_card.card)
    await w.connector.wait_for(lambda s: s.activity_id == pat_card and "Expired at" in card_text(s.card))
    for _ in range(100):  # the clean-up removal, run by the pipeline sweeper
        state = await w.bot.runtime.provisioning.user_state(CONTOSO, "isaiah@contoso.example")
        if not state.provisioned:
            break
        await asyncio.sleep(0.1)
    assert not state.provisioned
    assert (await w.bot.runtime.provisioning.extension(CONTOSO, "PBX", "108")).assigned_to is None
    await asyncio.sleep(1.0)  # more sweeps: nothing more is sent
    for admin in (w.ada, w.avery):
        sent = [s.text for s in connector.for_conversation(admin.conversation_id) if s.text]
        assert sum(t.startswith("Reminder:") for t in sent) == 2
        assert sum(t.startswith("Escalation:") for t in sent) == 1
    assert sum("We reminded them" in s.text for s in connector.for_conversation(w.pat.conversation_id)) == 2
    actions = [a.action for a in await w.bot.runtime.requests.audit_of_tenant(CONTOSO)]
    assert actions.count("remind") == 2 and actions.count("escalate") == 1 and actions.count("expire") == 1


async def test_a_reminder_for_a_wait_that_is_over_is_not_sent(world: World):
    w = world
    await admins_installed(w)
    await partner_requests(w)
    ada_card = await w.latest_card(w.ada, APPROVAL_HEADING)
    await w.text_to(w.pat, "Waiting for a global admin of Contoso")
    w.bot.runtime.notifier.pause()
    request = (await w.bot.runtime.requests.awaiting_approval(CONTOSO))[0]
    assert await w.bot.runtime.requests.remind(request)  # queued, not delivered yet
    await w.ada.click(ada_card.activity_id, ada_card.card, "Approve")
    w.bot.runtime.notifier.resume()
    await w.text_to(w.pat, "Done:")
    await asyncio.sleep(0.5)
    assert not [s for s in w.connector.sent if "Reminder:" in s.text or "We reminded them" in s.text]


async def test_throttled_approval_card_is_retried_after_retry_after(world: World):
    w = world
    await admins_installed(w)
    w.bot.runtime.notifier.pause()
    await partner_requests(w)
    await w.text_to(w.pat, "Waiting for a global admin of Contoso")  # nothing else is in flight now
    w.connector.fail_next(429, times=1, retry_after="1")
    w.connector.fail_next(503, times=1)
    paused_at = asyncio.get_running_loop().time()
    w.bot.runtime.notifier.resume()
    await w.latest_card(w.ada, APPROVAL_HEADING)
    await w.latest_card(w.avery, APPROVAL_HEADING)
    assert [status for _, status in w.connector.refused] == [429, 503]
    assert asyncio.get_running_loop().time() - paused_at >= 1.0, "Retry-After was honoured"
    await asyncio.sleep(0.3)
    assert len(w.approval_cards_of(w.ada)) == 1 and len(w.approval_cards_of(w.avery)) == 1


async def test_global_admin_can_view_but_not_change_a_partners_draft(world: World):
    w = world
    await w.pat.say("add user")
    picker = await w.latest_card(w.pat, "Which enterprise")
    form = (await w.pat.click(picker.activity_id, picker.card, "Next", {"enterpriseId": CONTOSO}))["value"]
    answer = await w.ada.click(
        picker.activity_id,
        form,
        "Review",
        {"teamsUser": "isaiah@contoso.example", "voiceRoute": "US West", "extension": "108"},
    )
    assert "Only the person who started this request can change it." in card_text(answer["value"])
    draft = (await w.bot.runtime.requests.requests_of(await _pat_actor(w)))[0]
    assert draft.state.value == "draft" and not draft.values.get("teams_user")


async def _pat_actor(w: World):
    from services.directory import EmbeddedDirectory

    return await EmbeddedDirectory(w.bot.runtime.database).actor(NORTHWIND, NORTHWIND_PARTNER)


async def test_an_admin_whose_chat_refuses_the_bot_is_named_to_the_partner(world: World):
    """Issue 17, finding 9: Avery removed the bot; the partner was told the card went to Avery too."""
    w = world
    await admins_installed(w)
    w.connector.blocked.add(w.avery.conversation_id)
    await partner_requests(w)
    told = await w.text_to(w.pat, "did not reach Avery Admin")
    assert "their Teams refuses the Phone Connector bot" in told.text
    assert "Approve" in card_actions((await w.latest_card(w.ada, APPROVAL_HEADING)).card)
    # From now on Avery is named as unreachable up front, until they open the bot again.
    reachable, unreachable = await w.bot.runtime.notifier.reachable_admins(CONTOSO)
    assert reachable == ["Ada Admin"] and unreachable == ["admin2@contoso.example"]
    w.connector.blocked.clear()
    assert await w.avery.install() == 201
    await w.latest_card(w.avery, APPROVAL_HEADING)  # the parked card reaches them when they come back
