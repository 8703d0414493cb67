"""The seed's procedure exactly, over HTTP (issue 19, points 1 and 2): unticking the default dial plan
warns and asks for a confirmation like voicemail; the SIP authentication ID is the extension and the
provider's suffix, shown and not typed (a crafted value is ignored) unless the provider turns editing
on, and then checked; hints come from the tenant's own data per PBX location; nothing mentions the
portal; the review and the cards name the person."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from sqlalchemy import select

from services import db
from tests.conftest import RunningBot, make_settings, running_bot
from tests.doubles import (
    CONTOSO,
    CONTOSO_ADMIN,
    FABRIKAM,
    NORTHWIND,
    NORTHWIND_PARTNER,
    ConnectorDouble,
    TeamsUser,
    card_actions,
    card_text,
)
from tests.test_admin_flow_e2e import open_form, review, wait_done


async def stored(bot: RunningBot, upn: str) -> dict:
    tu = db.teams_users
    query = select(tu).where(tu.c.tenant_id == CONTOSO, tu.c.upn == upn)
    row = await bot.runtime.database.read(lambda conn: conn.execute(query).first())
    return dict(row._mapping) if row else {}


async def test_unticking_the_default_dial_plan_warns_and_asks_for_a_confirmation(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble
):
    card_id, form = await open_form(admin, connector)
    warned = await review(admin, card_id, form, defaultDialPlan="false")
    text = card_text(warned)
    assert "**No default dial plan policy.** Without the default dial plan policy" in text
    assert "I understand: no default dial plan policy" in text and "Check and add" not in text
    checked = await review(admin, card_id, warned, defaultDialPlan="false", dialPlanConfirmed="true")
    text = card_text(checked)
    assert "Check and add" in text and "Default dial plan policy: No" in text
    assert "**No default dial plan policy.**" in text, "the review repeats the warning"
    await admin.click(card_id, checked, "Add user")
    await wait_done(connector, card_id)
    assert (await stored(bot, "adele@contoso.example"))["default_dial_plan"] is False


async def test_the_sip_authentication_id_is_shown_not_typed_and_a_crafted_one_is_ignored(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble
):
    card_id, form = await open_form(admin, connector)
    assert "sipAuthId" not in {e.get("id") for e in form["body"]}, "no field to type in"
    checked = await review(admin, card_id, form, extension="106", sipAuthId="999t")
    text = card_text(checked)
    assert "SIP authentication ID: 106t" in text and "999t" not in text
    assert "Teams user: Adele Vance, adele@contoso.example" in text, "the review names the person"
    await admin.click(card_id, checked, "Add user")
    done = await wait_done(connector, card_id)
    assert "Adele Vance, adele@contoso.example" in card_text(done)
    assert (await stored(bot, "adele@contoso.example"))["sip_auth_id"] == "106t"


async def test_a_provider_with_another_suffix_and_editing_on_gets_it_checked(
    tmp_path: Path, connector: ConnectorDouble, http: aiohttp.ClientSession
):
    settings = make_settings(
        tmp_path, CONNECTOR_URL=connector.url, SIP_AUTH_ID_SUFFIX="tp", SIP_AUTH_ID_EDITABLE="true"
    )
    async with running_bot(settings) as bot:
        admin = TeamsUser(http, bot.url, connector.url, CONTOSO, CONTOSO_ADMIN, "Ada Admin")
        card_id, form = await open_form(admin, connector)
        field = next(e for e in form["body"] if e.get("id") == "sipAuthId")
        assert field["placeholder"].startswith("The extension followed by tp")
        wrong = await review(admin, card_id, form, extension="106", sipAuthId="999t")
        assert "The SIP authentication ID is the extension followed by a suffix, e.g. 106tp." in card_text(
            wrong
        )
        own = await review(admin, card_id, wrong, extension="106", sipAuthId="106x")
        assert "SIP authentication ID: 106x" in card_text(own)
        form_again = (await admin.click(card_id, own, "Edit"))["value"]
        empty = await review(admin, card_id, form_again, extension="106", sipAuthId="")
        assert "SIP authentication ID: 106tp" in card_text(empty), "empty: the rule's value"


async def test_fabrikam_s_hints_are_per_pbx_location_and_name_its_own_extensions(
    bot: RunningBot, connector: ConnectorDouble, http: aiohttp.ClientSession
):
    pat = TeamsUser(http, bot.url, connector.url, NORTHWIND, NORTHWIND_PARTNER, "Pat Partner")
    assert await pat.say("add user") == 201
    picker = await connector.wait_for(lambda s: "Which enterprise" in card_text(s.card))
    form = (await pat.click(picker.activity_id, picker.card, "Next", {"enterpriseId": FABRIKAM}))["value"]
    text = card_text(form)
    assert "Free at PBX East: 200-204. Free at PBX West: 205-209." in text
    assert "portal" not in text.lower()
    extension = next(e for e in form["body"] if e.get("id") == "extension")
    assert extension["placeholder"] == "e.g. 200"
    chosen = (
        await pat.click(picker.activity_id, form, "Review", {"pbxLocation": "PBX West", "extension": "201"})
    )["value"]
    assert "Extension 201 does not exist on PBX West." in card_text(chosen)
    west = next(e for e in chosen["body"] if e.get("id") == "extension")
    assert west["placeholder"] == "e.g. 205", "the example follows the chosen location"
    assert "Review" in card_actions(chosen)


async def test_a_tenant_with_many_routes_and_locations_gets_them_searched_as_typed(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble
):
    """200 voice routes and PBX locations would pass Teams' message limit as lists (issue 19)."""
    routes = [{"tenant_id": CONTOSO, "route_id": 100 + i, "name": f"Route {i:03}"} for i in range(200)]
    places = [
        {"tenant_id": CONTOSO, "name": f"Site {i:03}", "domain": f"site{i}.example"} for i in range(200)
    ]

    def more(conn) -> None:
        conn.execute(db.voice_routes.insert(), routes)
        conn.execute(db.pbx_locations.insert(), places)

    await bot.runtime.database.write(more)
    card_id, form = await open_form(admin, connector)
    fields = {e.get("id"): e for e in form["body"] if e.get("id")}
    route, place = fields["voiceRoute"], fields["pbxLocation"]
    assert route["choices.data"]["dataset"].startswith("voiceRoutes:") and len(route["choices"]) <= 15
    assert place["choices.data"]["dataset"].startswith("pbxLocations:") and len(place["choices"]) <= 15
    found = await admin.search(route["choices.data"]["dataset"], "route 19")
    assert [r["value"] for r in found["value"]["results"]] == [f"Route {i}" for i in range(190, 200)]
    assert (await admin.search(place["choices.data"]["dataset"], "site 007"))["value"]["results"] == [
        {"title": "Site 007", "value": "Site 007"}
    ]
    checked = await review(admin, card_id, form, voiceRoute="Route 042", pbxLocation="PBX")
    assert "Voice route: Route 042" in card_text(checked)


async def test_a_new_extension_on_a_form_that_came_back_takes_the_phone_number_along(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble
):
    card_id, form = await open_form(admin, connector)
    refused = await review(admin, card_id, form, extension="101")  # Alex's: the form comes back
    values = {e["id"]: e.get("value") for e in refused["body"] if e.get("id")}
    assert values["phoneNumber"] == "101"
    # The person changes only the extension; the card sends the phone number it shows.
    checked = await review(admin, card_id, refused, extension="106", phoneNumber="101")
    text = card_text(checked)
    assert "Check and add" in text and "Phone number: 106" in text and "SIP authentication ID: 106t" in text
