"""The tenant admin adds a phone user end to end, over HTTP, as the seed's portal procedure does."""

from __future__ import annotations

from tests.conftest import RunningBot
from tests.doubles import CONTOSO, ConnectorDouble, TeamsUser, card_actions, card_text


async def open_form(admin: TeamsUser, connector: ConnectorDouble) -> tuple[str, dict]:
    assert await admin.say("add user") == 201
    sent = await connector.wait_for(lambda s: "Add a phone user to Contoso" in card_text(s.card))
    return sent.activity_id, sent.card


async def test_admin_adds_user_to_completion(bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble):
    assert await admin.install() == 201
    welcome = await connector.wait_for(lambda s: "Teams Phone Connector" in card_text(s.card))
    assert "Add a phone user" in card_actions(welcome.card)

    card_id, form = await open_form(admin, connector)
    text = card_text(form)
    assert "Only users with a Teams Phone licence are listed." in text
    users = next(e for e in form["body"] if e.get("id") == "teamsUser")
    offered = {c["value"] for c in users["choices"]}
    assert "adele@contoso.example" in offered and "nestor@contoso.example" not in offered
    pbx = next(e for e in form["body"] if e.get("id") == "pbxLocation")
    assert pbx["value"] == "PBX", "the only PBX location is preselected"

    answer = await admin.click(
        card_id,
        form,
        "Review",
        {"teamsUser": "adele@contoso.example", "voiceRoute": "CA Central", "extension": "105"},
    )
    review = answer["value"]
    review_text = card_text(review)
    assert "Check and add" in review_text
    assert "Phone number: 105" in review_text
    assert "SIP authentication ID: 105t" in review_text
    assert "Device password: generated: 8 characters" in review_text
    assert "Disable voicemail in Teams: Yes" in review_text

    answer = await admin.click(card_id, review, "Add user")
    assert "Working" in card_text(answer["value"]) or "Done" in card_text(answer["value"])
    done = await connector.wait_for(
        lambda s: s.method == "PUT" and s.activity_id == card_id and "Done." in card_text(s.card)
    )
    summary = card_text(done.card)
    assert "Sync Teams users: Teams users synced" in summary
    assert "Enable calling: Calling enabled" in summary

    state = await bot.runtime.provisioning.user_state(CONTOSO, "adele@contoso.example")
    assert state is not None
    assert state.provisioned and state.calling_enabled
    assert state.voice_route == "CA Central"
    assert state.extension == "105" and state.phone_number == "105"
    assert state.voicemail_disabled is True and state.default_dial_plan is True
    assert state.sip_auth_id == "105t" and state.device_password_set
    assert await bot.runtime.provisioning.sync_required(CONTOSO) is False
    ext = await bot.runtime.provisioning.extension(CONTOSO, "PBX", "105")
    assert ext is not None and ext.assigned_to == "adele@contoso.example"


async def review(admin: TeamsUser, card_id: str, form: dict, **inputs: str) -> dict:
    values = {"teamsUser": "adele@contoso.example", "voiceRoute": "CA Central", "extension": "105"}
    answer = await admin.click(card_id, form, "Review", values | inputs)
    return answer["value"]


async def wait_done(connector: ConnectorDouble, card_id: str, marker: str = "Done.") -> dict:
    sent = await connector.wait_for(
        lambda s: s.method == "PUT" and s.activity_id == card_id and marker in card_text(s.card)
    )
    return sent.card


async def test_taken_extension_comes_back_next_to_its_field_with_values_kept(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble
):
    card_id, form = await open_form(admin, connector)
    again = await review(admin, card_id, form, extension="101")
    text = card_text(again)
    assert "Extension 101 is already assigned to alex@contoso.example." in text
    body = again["body"]
    position = {e.get("id"): i for i, e in enumerate(body) if e.get("id")}
    error_at = next(i for i, e in enumerate(body) if "already assigned" in e.get("text", ""))
    assert position["extension"] < error_at < position["phoneNumber"], "message sits next to its field"
    inputs = {e["id"]: e.get("value") for e in body if e.get("id")}
    assert inputs["teamsUser"] == "adele@contoso.example"
    assert inputs["voiceRoute"] == "CA Central"
    assert inputs["extension"] == "101"
    assert (await bot.runtime.provisioning.user_state(CONTOSO, "adele@contoso.example")).provisioned is False


async def test_unlicensed_user_is_refused(bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble):
    card_id, form = await open_form(admin, connector)
    again = await review(admin, card_id, form, teamsUser="nestor@contoso.example")
    assert "nestor@contoso.example has no Teams Phone licence." in card_text(again)
    assert "Check and add" not in card_text(again)


async def test_phone_number_other_than_extension_is_refused(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble
):
    card_id, form = await open_form(admin, connector)
    again = await review(admin, card_id, form, phoneNumber="6045550105")
    assert (
        "6045550105 looks like the PBX caller ID. The Phone Connector needs the extension here: 105."
        in card_text(again)
    )
    # Never cut: the whole number is kept in the field, whatever its length (issue 19).
    values = {e["id"]: e.get("value") for e in again["body"] if e.get("id")}
    assert values["phoneNumber"] == "6045550105"
    e164 = await review(admin, card_id, again, phoneNumber="+16045550105")
    assert "+16045550105 is a full phone number (E.164)." in card_text(e164)


async def test_voicemail_left_on_needs_a_confirmation_naming_the_consequence(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble
):
    card_id, form = await open_form(admin, connector)
    warned = await review(admin, card_id, form, disableVoicemail="false")
    text = card_text(warned)
    assert "stops calls from reaching the user's PBX voicemail" in text
    assert "call queue routing" in text
    assert "Check and add" not in text
    confirmed = await review(admin, card_id, warned, disableVoicemail="false", voicemailConfirmed="true")
    assert "Disable voicemail in Teams: No" in card_text(confirmed)
    assert "Teams voicemail stays on" in card_text(confirmed)
    await admin.click(card_id, confirmed, "Add user")
    await wait_done(connector, card_id)
    state = await bot.runtime.provisioning.user_state(CONTOSO, "adele@contoso.example")
    assert state.voicemail_disabled is False and state.calling_enabled


async def test_typed_cancel_drops_the_form_and_nothing_is_sent(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble
):
    card_id, form = await open_form(admin, connector)
    await review(admin, card_id, form)
    assert await admin.say("cancel") == 201
    await connector.wait_for(lambda s: "Cancelled. Nothing was sent" in s.text)
    await connector.wait_for(
        lambda s: s.method == "PUT" and s.activity_id == card_id and "cancelled" in card_text(s.card)
    )
    assert (await bot.runtime.provisioning.user_state(CONTOSO, "adele@contoso.example")).provisioned is False
    # The old card's buttons no longer act.
    stale = await admin.click(card_id, form, "Review", {"teamsUser": "adele@contoso.example"})
    assert "cancelled" in card_text(stale["value"])
    # And a new request can start right away.
    assert await admin.say("add user") == 201
    await connector.wait_for(
        lambda s: s.activity_id != card_id and "Add a phone user to Contoso" in card_text(s.card)
    )


async def test_cancel_button_on_review(bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble):
    card_id, form = await open_form(admin, connector)
    checked = await review(admin, card_id, form)
    answer = await admin.click(card_id, checked, "Cancel")
    assert "Add user cancelled" in card_text(answer["value"])
    assert await admin.say("my requests") == 201
    listing = await connector.wait_for(lambda s: "My requests" in card_text(s.card))
    assert "You have no requests yet." in card_text(listing.card)


async def test_edit_from_review_keeps_values(bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble):
    card_id, form = await open_form(admin, connector)
    checked = await review(admin, card_id, form, extension="107")
    answer = await admin.click(card_id, checked, "Edit")
    values = {e["id"]: e.get("value") for e in answer["value"]["body"] if e.get("id")}
    assert values["extension"] == "107" and values["phoneNumber"] == "107"
    # Shown, not typed: the extension and the provider's suffix.
    assert "Device: SIP authentication ID: 107t" in card_text(answer["value"])


async def test_service_failure_then_try_again(bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble):
    bot.runtime.provisioning.faults.fail_next("enable_calling")
    card_id, form = await open_form(admin, connector)
    checked = await review(admin, card_id, form)
    await admin.click(card_id, checked, "Add user")
    failed = await wait_done(connector, card_id, "That did not work.")
    text = card_text(failed)
    assert "did not answer in time" in text
    assert "Traceback" not in text
    assert "Try again" in card_actions(failed)
    assert "Sync Teams users: Teams users synced" in text, "the steps that worked are kept"
    answer = await admin.click(card_id, failed, "Try again")
    assert "Working" in card_text(answer["value"]) or "Done." in card_text(answer["value"])
    done = await wait_done(connector, card_id)
    assert "Enable calling: Calling enabled" in card_text(done)
    state = await bot.runtime.provisioning.user_state(CONTOSO, "adele@contoso.example")
    assert state.calling_enabled


async def test_add_failure_then_try_again(bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble):
    bot.runtime.provisioning.faults.fail_next("add_user")
    card_id, form = await open_form(admin, connector)
    await admin.click(card_id, await review(admin, card_id, form), "Add user")
    failed = await wait_done(connector, card_id, "That did not work.")
    assert {"Try again", "Edit", "Cancel"} <= set(card_actions(failed))
    await admin.click(card_id, failed, "Try again")
    await wait_done(connector, card_id)
    assert (await bot.runtime.provisioning.user_state(CONTOSO, "adele@contoso.example")).calling_enabled


async def test_restart_between_turns_loses_nothing(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble
):
    card_id, form = await open_form(admin, connector)
    checked = await review(admin, card_id, form)
    await bot.restart()
    await admin.click(card_id, checked, "Add user")
    await wait_done(connector, card_id)
    assert (await bot.runtime.provisioning.user_state(CONTOSO, "adele@contoso.example")).calling_enabled


async def test_restart_during_provisioning_resumes_it(tmp_path, http, connector: ConnectorDouble):
    from tests.conftest import make_settings, running_bot
    from tests.doubles import CONTOSO_ADMIN

    settings = make_settings(tmp_path, EMBEDDED_DELAY_SECONDS="0.5", SHUTDOWN_GRACE_SECONDS="0")
    async with running_bot(settings) as running:
        admin = TeamsUser(http, running.url, connector.url, CONTOSO, CONTOSO_ADMIN, "Ada Admin")
        card_id, form = await open_form(admin, connector)
        await admin.click(card_id, await review(admin, card_id, form), "Add user")
        await running.restart()  # cuts the pipeline off mid-step
        await wait_done(connector, card_id)
        state = await running.runtime.provisioning.user_state(CONTOSO, "adele@contoso.example")
        assert state.calling_enabled


async def test_stale_card_is_refused_with_the_current_one(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble
):
    card_id, form = await open_form(admin, connector)
    checked = await review(admin, card_id, form)
    await admin.click(card_id, checked, "Add user")
    await wait_done(connector, card_id)
    # Clicking the old form again, or "Add user" twice, changes nothing.
    again = await admin.click(card_id, checked, "Add user")
    assert "out of date" in card_text(again["value"]) or "Done." in card_text(again["value"])
    old = await admin.click(card_id, form, "Review", {"teamsUser": "adele@contoso.example"})
    assert "Done." in card_text(old["value"])
    added = [a for a in await bot.runtime.requests.audit_of_tenant(CONTOSO) if a.action == "add_user"]
    assert len(added) == 1


async def test_my_requests_lists_state(bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble):
    card_id, form = await open_form(admin, connector)
    await admin.click(card_id, await review(admin, card_id, form), "Add user")
    await wait_done(connector, card_id)
    await admin.say("my requests")
    listing = await connector.wait_for(lambda s: "My requests" in card_text(s.card))
    assert "**Adele Vance, adele@contoso.example**, ext. 105 · Contoso · **Done**" in card_text(listing.card)


async def test_non_admin_is_not_authorised(
    http, bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble
):
    from tests.doubles import CONTOSO_USER

    card_id, form = await open_form(admin, connector)
    uma = TeamsUser(http, bot.url, connector.url, CONTOSO, CONTOSO_USER, "Uma User")
    assert await uma.say("add user") == 201
    refusal = await connector.wait_for(lambda s: s.conversation_id == uma.conversation_id and s.text)
    assert "not authorised" in refusal.text
    # Even with the admin's card data, a click does nothing and is audited.
    answer = await uma.click(card_id, form, "Review", {"teamsUser": "adele@contoso.example"})
    assert "Not allowed" in card_text(answer["value"])
    refused = [a for a in await bot.runtime.requests.audit_of_tenant(CONTOSO) if a.action == "refused"]
    assert refused, "the refused click is audited"
    assert any(a.actor_id == CONTOSO_USER for a in refused)


async def test_unknown_text_gets_a_way_forward(bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble):
    assert await admin.say("what's the weather") == 201
    reply = await connector.wait_for(lambda s: bool(s.text))
    assert "add user" in reply.text and "help" in reply.text


async def test_install_welcomes_once(bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble):
    assert await admin.install() == 201
    resp = await admin.post(admin._activity(type="installationUpdate", action="add"))
    assert resp.status in (200, 201)
    await connector.wait_for(lambda s: "Teams Phone Connector" in card_text(s.card))
    welcomes = [s for s in connector.sent if "Teams Phone Connector" in card_text(s.card)]
    assert len(welcomes) == 1


async def test_a_refused_click_on_someone_elses_card_does_not_take_its_updates(
    tmp_path, http, connector: ConnectorDouble
):
    """While Ada's request is provisioned, another admin of the tenant replays its buttons from
    his own chat: refused, and the progress still goes to Ada's card, never to his."""
    from tests.conftest import make_settings, running_bot
    from tests.doubles import CONTOSO_ADMIN, CONTOSO_ADMIN2

    async with running_bot(make_settings(tmp_path, EMBEDDED_DELAY_SECONDS="0.4")) as slow_bot:
        ada = TeamsUser(http, slow_bot.url, connector.url, CONTOSO, CONTOSO_ADMIN, "Ada Admin")
        avery = TeamsUser(http, slow_bot.url, connector.url, CONTOSO, CONTOSO_ADMIN2, "Avery Admin")
        card_id, form = await open_form(ada, connector)
        review_card = await review(ada, card_id, form)
        await ada.click(card_id, review_card, "Add user")
        for title in ("Add user", "Cancel", "Edit"):  # stale or not his: refused, nothing changes
            await avery.click("msg-avery", review_card, title)
        await wait_done(connector, card_id)
    assert not [s for s in connector.sent if s.conversation_id == avery.conversation_id and s.method == "PUT"]
