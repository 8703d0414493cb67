"""The actions on one phone user over HTTP (issue 16): Ada changes Alex's extension, resets his
device password, disables and enables his calling, removes Megan and adds someone on Megan's freed
extension; each refusal (wrong role, stale card, taken extension, a partner who does not manage the
tenant), double clicks, and a restart in the middle of a removal."""

from __future__ import annotations

import asyncio

import aiohttp
from sqlalchemy import select

from services import db
from services.models import RequestState
from tests.conftest import RunningBot, make_settings, running_bot
from tests.doubles import (
    CONTOSO,
    CONTOSO_ADMIN,
    CONTOSO_USER,
    TAILSPIN,
    TAILSPIN_PARTNER,
    ConnectorDouble,
    TeamsUser,
    card_actions,
    card_text,
)
from tests.test_phone_users_e2e import phone_users

ALEX = "alex@contoso.example"
MEGAN = "megan@contoso.example"


async def open_user(admin: TeamsUser, connector: ConnectorDouble, search: str) -> tuple[str, dict]:
    """`phone users <search>`, then Open on the first user found: the card's id and the user's card."""
    card_id, listing = await phone_users(admin, connector, f"phone users {search}")
    opened = (await admin.click(card_id, listing, "Open"))["value"]
    return card_id, opened


async def wait_card(connector: ConnectorDouble, card_id: str, marker: str) -> dict:
    sent = await connector.wait_for(
        lambda s: s.method == "PUT" and s.activity_id == card_id and marker in card_text(s.card)
    )
    return sent.card


async def audit_actions(bot: RunningBot, request_id: str) -> list[str]:
    a = db.audit
    query = select(a.c.action).where(a.c.request_id == request_id).order_by(a.c.id)
    return list(await bot.runtime.database.read(lambda conn: conn.execute(query).scalars().all()))


async def test_ada_changes_alex_to_a_free_extension_and_101_is_freed(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble
):
    card_id, alex = await open_user(admin, connector, "alex")
    assert {"Change", "Reset device password", "Disable calling", "Remove"} <= set(card_actions(alex))
    form = (await admin.click(card_id, alex, "Change"))["value"]
    text = card_text(form)
    assert "Change Alex Wilber in Contoso" in text
    inputs = {e.get("id"): e.get("value") for e in form["body"] if e.get("id")}
    assert inputs["teamsUser"] == ALEX and inputs["extension"] == "101", "the form is prefilled"

    taken = (await admin.click(card_id, form, "Review", {"extension": "100"}))["value"]
    assert "Extension 100 is already assigned to megan@contoso.example." in card_text(taken)

    review = (await admin.click(card_id, taken, "Review", {"extension": "106"}))["value"]
    review_text = card_text(review)
    assert "Check and change" in review_text and "SIP user: 101 → 106" in review_text
    assert "Phone number: 106" in review_text and "SIP authentication ID: 106t" in review_text
    assert "Device password: unchanged" in review_text
    before = await bot.runtime.provisioning.user_state(CONTOSO, ALEX)

    await admin.click(card_id, review, "Change user")
    done = await wait_card(connector, card_id, "Done.")
    assert "Alex Wilber now has extension 106." in card_text(done)
    state = await bot.runtime.provisioning.user_state(CONTOSO, ALEX)
    assert state.extension == "106" and state.phone_number == "106" and state.sip_auth_id == "106t"
    assert state.calling_enabled is before.calling_enabled, "a change leaves calling as it was"
    assert not state.sync_pending, "synced after the change"
    assert (await bot.runtime.provisioning.extension(CONTOSO, "PBX", "101")).assigned_to is None
    assert (await bot.runtime.provisioning.extension(CONTOSO, "PBX", "106")).assigned_to == ALEX


async def test_reset_disable_enable_each_once_even_when_double_clicked(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble
):
    hashes = select(db.teams_users.c.device_password_hash).where(db.teams_users.c.upn == ALEX)
    before = await bot.runtime.database.read(lambda conn: conn.execute(hashes).scalar_one())

    card_id, alex = await open_user(admin, connector, "alex")
    confirm = (await admin.click(card_id, alex, "Reset device password"))["value"]
    assert "Nobody sees it and the bot does not keep it." in card_text(confirm)
    first, second = await asyncio.gather(
        admin.click(card_id, confirm, "Reset the device password"),
        admin.click(card_id, confirm, "Reset the device password"),
    )
    assert "New device password for Alex Wilber" in card_text(first["value"])
    assert "New device password for Alex Wilber" in card_text(second["value"])
    await wait_card(connector, card_id, "has a new password")
    r = db.requests
    reset_id = await bot.runtime.database.read(
        lambda conn: conn.execute(select(r.c.request_id).where(r.c.action == "reset_password")).scalar_one()
    )
    actions = await audit_actions(bot, reset_id)
    assert actions.count("submit") == 1 and actions.count("reset_password") == 1, actions
    after = await bot.runtime.database.read(lambda conn: conn.execute(hashes).scalar_one())
    assert after and after != before

    card_id, alex = await open_user(admin, connector, "alex")
    confirm = (await admin.click(card_id, alex, "Disable calling"))["value"]
    await admin.click(card_id, confirm, "Disable calling")
    await wait_card(connector, card_id, "Calling is disabled for Alex Wilber.")
    assert (await bot.runtime.provisioning.user_state(CONTOSO, ALEX)).calling_enabled is False

    card_id, alex = await open_user(admin, connector, "alex")
    assert "State: Calling off" in card_text(alex)
    assert "Enable calling" in card_actions(alex) and "Disable calling" not in card_actions(alex)
    confirm = (await admin.click(card_id, alex, "Enable calling"))["value"]
    await admin.click(card_id, confirm, "Enable calling")
    await wait_card(connector, card_id, "Calling is enabled for Alex Wilber.")
    assert (await bot.runtime.provisioning.user_state(CONTOSO, ALEX)).calling_enabled is True

    # A stale "Disable calling" from the first card (calling was off then): refused, nothing done.
    again = (await admin.click(card_id, alex, "Enable calling"))["value"]
    assert "Calling is already enabled for alex@contoso.example." in card_text(again)


async def test_ada_removes_megan_then_adds_someone_on_extension_100(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble
):
    card_id, megan = await open_user(admin, connector, "megan")
    confirm = (await admin.click(card_id, megan, "Remove"))["value"]
    text = card_text(confirm)
    assert "First, calling is disabled for Megan Bowen" in text and "extension 100 becomes free" in text
    assert "Teams Phone licence" in text
    await admin.click(card_id, confirm, "Remove")
    done = card_text(await wait_card(connector, card_id, "Done."))
    assert "Disable calling: Calling disabled" in done
    assert "megan@contoso.example deleted, extension 100 free" in done
    state = await bot.runtime.provisioning.user_state(CONTOSO, MEGAN)
    assert not state.provisioned and not state.calling_enabled
    assert (await bot.runtime.provisioning.extension(CONTOSO, "PBX", "100")).assigned_to is None

    _, listing = await phone_users(admin, connector)
    assert "Megan Bowen" not in card_text(listing)

    assert await admin.say("add user") == 201
    sent = await connector.wait_for(lambda s: "Add a phone user to Contoso" in card_text(s.card))
    review = (
        await admin.click(
            sent.activity_id,
            sent.card,
            "Review",
            {"teamsUser": "adele@contoso.example", "voiceRoute": "CA Central", "extension": "100"},
        )
    )["value"]
    await admin.click(sent.activity_id, review, "Add user")
    await wait_card(connector, sent.activity_id, "Done.")
    assert (await bot.runtime.provisioning.extension(CONTOSO, "PBX", "100")).assigned_to == (
        "adele@contoso.example"
    )


async def test_restart_between_disable_and_delete_finishes_the_removal_once(
    tmp_path, http: aiohttp.ClientSession, connector: ConnectorDouble
):
    # Each provisioning call takes 0.5 s: the process stops while the delete step runs, after
    # calling was disabled (the platform's order: disable first, then delete).
    settings = make_settings(tmp_path, EMBEDDED_DELAY_SECONDS="0.5", SHUTDOWN_GRACE_SECONDS="0")
    async with running_bot(settings) as running:
        admin = TeamsUser(http, running.url, connector.url, CONTOSO, CONTOSO_ADMIN, "Ada Admin")
        card_id, megan = await open_user(admin, connector, "megan")
        confirm = (await admin.click(card_id, megan, "Remove"))["value"]
        await admin.click(card_id, confirm, "Remove")
        r = db.requests
        removal = select(r.c.request_id, r.c.state).where(r.c.action == "remove")
        for _ in range(100):
            row = await running.runtime.database.read(lambda conn: conn.execute(removal).one())
            if row.state == RequestState.calling_disabled:
                break
            await asyncio.sleep(0.05)
        assert row.state == RequestState.calling_disabled
        state = await running.runtime.provisioning.user_state(CONTOSO, MEGAN)
        assert state.provisioned and not state.calling_enabled, "between the two steps"
        await running.restart()  # cuts the delete step off; the new process resumes the removal
        await wait_card(connector, card_id, "Megan Bowen is removed")
        state = await running.runtime.provisioning.user_state(CONTOSO, MEGAN)
        assert not state.provisioned
        assert (await running.runtime.provisioning.extension(CONTOSO, "PBX", "100")).assigned_to is None
        actions = await audit_actions(running, row.request_id)
        assert actions.count("disable_calling") == 1 and actions.count("delete_user") == 1, actions


async def test_a_failed_delete_says_so_and_try_again_finishes_it(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble
):
    card_id, megan = await open_user(admin, connector, "megan")
    confirm = (await admin.click(card_id, megan, "Remove"))["value"]
    bot.runtime.provisioning.faults.fail_next("delete_user")
    await admin.click(card_id, confirm, "Remove")
    failed = await wait_card(connector, card_id, "That did not work.")
    text = card_text(failed)
    assert "Disable calling: Calling disabled" in text and "did not answer in time" in text
    assert "Try again" in card_actions(failed)
    await admin.click(card_id, failed, "Try again")
    await wait_card(connector, card_id, "Megan Bowen is removed")
    assert not (await bot.runtime.provisioning.user_state(CONTOSO, MEGAN)).provisioned


async def test_who_may_act_on_a_phone_user(
    bot: RunningBot,
    admin: TeamsUser,
    connector: ConnectorDouble,
    http: aiohttp.ClientSession,
):
    card_id, _ = await open_user(admin, connector, "alex")
    data = {"tenantId": CONTOSO, "upn": ALEX, "query": "", "page": 1, "action": "remove"}
    # A plain user of Contoso, and a partner who does not manage Contoso: refused, nothing created.
    user = TeamsUser(http, bot.url, connector.url, CONTOSO, CONTOSO_USER, "Una User")
    outsider = TeamsUser(http, bot.url, connector.url, TAILSPIN, TAILSPIN_PARTNER, "Tia Tailspin")
    for who in (user, outsider):
        answer = await who.invoke_action(card_id, "phoneUsers.action", data)
        assert "Not allowed" in card_text(answer["value"])
    forged = await admin.invoke_action(card_id, "phoneUsers.action", data | {"action": "explode"})
    assert "This card asked for an action that does not exist." in card_text(forged["value"])
    gone = await admin.invoke_action(card_id, "phoneUsers.action", data | {"upn": "adele@contoso.example"})
    assert "adele@contoso.example is not a phone user of Contoso (any more)." in card_text(gone["value"])
    r = db.requests
    count = await bot.runtime.database.read(
        lambda conn: conn.execute(select(r.c.request_id).where(r.c.action != "add")).all()
    )
    assert count == [], "nothing was started"  # the managing partner's path: test_partner_actions_e2e
