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
