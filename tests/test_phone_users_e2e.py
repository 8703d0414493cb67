"""`phone users` over HTTP (issue 16, first part): the list, its search and pages, one user's card, who
may see them; and "add user" refusing an existing phone user without sending anything."""

from __future__ import annotations

from typing import Any

import aiohttp
from sqlalchemy import delete, insert, select

from services import db
from services.errors import ProvisioningError
from services.models import PhoneUserSpec
from tests.conftest import RunningBot
from tests.doubles import (
    CONTOSO,
    CONTOSO_USER,
    NORTHWIND,
    NORTHWIND_PARTNER,
    TAILSPIN,
    TAILSPIN_PARTNER,
    ConnectorDouble,
    TeamsUser,
    card_actions,
    card_text,
)

HEADING = "Phone users of Contoso"


async def phone_users(
    user: TeamsUser, connector: ConnectorDouble, text: str = "phone users"
) -> tuple[str, dict]:
    before = len(connector.sent)
    assert await user.say(text) == 201
    sent = await connector.wait_for(lambda s: s in connector.sent[before:] and s.card is not None)
    return sent.activity_id, sent.card


async def add_phone_users(bot: RunningBot, count: int) -> None:
    """`count` more phone users of Contoso, named "Zed Tester NN" (after the demo users by name)."""
    rows = [
        {
            "tenant_id": CONTOSO,
            "upn": f"zed{i:02d}@contoso.example",
            "display_name": f"Zed Tester {i:02d}",
            "licensed": True,
            "provisioned": True,
            "calling_enabled": True,
            "sync_pending": False,
            "pbx_location": "PBX",
            "voice_route": "US West",
            "extension": f"5{i:02d}",
            "phone_number": f"5{i:02d}",
        }
        for i in range(count)
    ]
    await bot.runtime.database.write(lambda conn: conn.execute(insert(db.teams_users), rows))


async def test_ada_lists_searches_pages_and_opens_alex(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble
):
    card_id, listing = await phone_users(admin, connector)
    text = card_text(listing)
    assert HEADING in text
    assert "Alex Wilber" in text and "alex@contoso.example" in text and "Megan Bowen" in text
    assert "Extension 101 · Phone number 101" in text
    assert "Adele Vance" not in text, "only phone users are listed"
    assert "Next" not in card_actions(listing), "one page"

    found = (await admin.click(card_id, listing, "Search", {"searchText": "wil"}))["value"]
    assert "Alex Wilber" in card_text(found) and "Megan Bowen" not in card_text(found)
    by_extension = (await admin.click(card_id, found, "Search", {"searchText": "100"}))["value"]
    assert "Megan Bowen" in card_text(by_extension) and "Alex Wilber" not in card_text(by_extension)
    by_domain = (await admin.click(card_id, found, "Search", {"searchText": "contoso"}))["value"]
    assert "No phone user matches this search." in card_text(by_domain)

    _, typed = await phone_users(admin, connector, "phone users alex@")
    assert "Alex Wilber" in card_text(typed) and "Megan Bowen" not in card_text(typed)

    alex = (await admin.click(card_id, found, "Open"))["value"]
    details = card_text(alex)
    assert "Alex Wilber" in details and "Sign-in address: alex@contoso.example" in details
    assert "Extension: 101" in details and "Voice route:" in details and "State: Calling on" in details
    back = (await admin.click(card_id, alex, "Back to the list"))["value"]
    assert "Alex Wilber" in card_text(back) and "Megan Bowen" not in card_text(back), "the search is kept"


async def test_pages_of_ten_with_previous_and_next(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble
):
    await add_phone_users(bot, 23)  # 25 in all: three pages
    card_id, first = await phone_users(admin, connector)
    assert "Phone users found: 25. Page 1 of 3." in card_text(first)
    assert "Previous" not in card_actions(first)
    second = (await admin.click(card_id, first, "Next"))["value"]
    assert "Page 2 of 3." in card_text(second) and {"Previous", "Next"} <= set(card_actions(second))
    third = (await admin.click(card_id, second, "Next"))["value"]
    assert "Page 3 of 3." in card_text(third) and "Next" not in card_actions(third)
    assert card_text(third).count("Zed Tester") == 5

    # The list shrinks; a card still showing page 3 asks for it: the last page, and why.
    await bot.runtime.database.write(
        lambda conn: conn.execute(delete(db.teams_users).where(db.teams_users.c.upn.like("zed1%")))
    )
    stale = (await admin.click(card_id, second, "Next"))["value"]
    assert "The list changed: page 3 no longer exists. Here is page 2." in card_text(stale)


async def test_forged_page_and_search_get_a_clear_answer(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble
):
    card_id, listing = await phone_users(admin, connector)
    for page in ("abc", -1, 0, 10**9, None, {"x": 1}, True):
        answer = await admin.invoke_action(
            card_id, "phoneUsers.page", {"tenantId": CONTOSO, "query": "", "page": page}
        )
        text = card_text(answer["value"])
        assert "This card is not valid" in text and "Type **phone users** to see the list again." in text
    answer = await admin.invoke_action(
        card_id, "phoneUsers.page", {"tenantId": CONTOSO, "query": "x" * 5000, "page": 1}
    )
    assert "Search for at most 100 characters" in card_text(answer["value"])
    long_search = (await admin.click(card_id, listing, "Search", {"searchText": "a\u0000b"}))["value"]
    assert HEADING in card_text(long_search), "the list stays, with the problem under the search box"
    assert "control or formatting characters" in card_text(long_search)
    gone = await admin.invoke_action(
        card_id,
        "phoneUsers.open",
        {"tenantId": CONTOSO, "query": "", "page": 1, "upn": "adele@contoso.example"},
    )
    assert "adele@contoso.example is not a phone user of Contoso (any more)." in card_text(gone["value"])
    assert "too long" not in card_text(gone["value"])


async def test_pat_picks_contoso_then_lists_it_and_nobody_else_sees(
    bot: RunningBot, http: aiohttp.ClientSession, admin: TeamsUser, connector: ConnectorDouble
):
    pat = TeamsUser(http, bot.url, connector.url, NORTHWIND, NORTHWIND_PARTNER, "Pat Partner")
    card_id, picker = await phone_users(pat, connector, "phone users alex")
    assert "Whose phone users?" in card_text(picker)
    listing = (await pat.click(card_id, picker, "Next", {"enterpriseId": CONTOSO}))["value"]
    assert HEADING in card_text(listing) and "Alex Wilber" in card_text(listing)
    assert "Megan Bowen" not in card_text(listing), "the search typed with the command is kept"

    # A partner who does not manage Contoso, with a card forged to name it.
    tess = TeamsUser(http, bot.url, connector.url, TAILSPIN, TAILSPIN_PARTNER, "Tess Partner")
    forged = await tess.invoke_action(
        card_id, "phoneUsers.page", {"tenantId": CONTOSO, "query": "", "page": 1}
    )
    assert "Not allowed" in card_text(forged["value"]) and "Alex" not in card_text(forged["value"])
    forged = await tess.invoke_action(card_id, "phoneUsers.for", {"enterpriseId": CONTOSO, "query": ""})
    assert "Not allowed" in card_text(forged["value"])

    # Someone of Contoso who is not an admin.
    uma = TeamsUser(http, bot.url, connector.url, CONTOSO, CONTOSO_USER, "Uma User")
    before = len(connector.sent)
    assert await uma.say("phone users") == 201
    refused = await connector.wait_for(lambda s: s in connector.sent[before:])
    assert "not authorised" in refused.text and refused.card is None
    clicked = await uma.invoke_action(
        card_id,
        "phoneUsers.open",
        {"tenantId": CONTOSO, "query": "", "page": 1, "upn": "alex@contoso.example"},
    )
    assert "Not allowed" in card_text(clicked["value"]) and "101" not in card_text(clicked["value"])


async def _alex_row(bot: RunningBot) -> Any:
    tu = db.teams_users
    query = select(tu).where(tu.c.tenant_id == CONTOSO, tu.c.upn == "alex@contoso.example")
    return await bot.runtime.database.read(lambda conn: conn.execute(query).one())


async def test_add_user_refuses_alex_who_is_already_on_101_and_sends_nothing(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble
):
    before = await _alex_row(bot)
    sent_adds: list[str] = []
    real_add = bot.runtime.provisioning.add_user

    async def counting_add(tenant_id: str, spec: PhoneUserSpec, password: str) -> None:
        sent_adds.append(spec.teams_user)
        await real_add(tenant_id, spec, password)

    bot.runtime.provisioning.add_user = counting_add  # type: ignore[method-assign]
    assert await admin.say("add user") == 201
    sent = await connector.wait_for(lambda s: "Add a phone user to Contoso" in card_text(s.card))
    users = next(e for e in sent.card["body"] if e.get("id") == "teamsUser")
    titles = {c["value"]: c["title"] for c in users["choices"]}
    assert titles["alex@contoso.example"] == "Alex Wilber (alex@contoso.example, extension 101)"
    assert titles["adele@contoso.example"] == "Adele Vance (adele@contoso.example)"

    inputs = {"teamsUser": "alex@contoso.example", "voiceRoute": "CA Central", "extension": "101"}
    form = (await admin.click(sent.activity_id, sent.card, "Review", inputs))["value"]
    assert "Alex Wilber is already a phone user on extension 101." in card_text(form)
    assert "Check and add" not in card_text(form)
    body = form["body"]
    field_at = next(i for i, e in enumerate(body) if e.get("id") == "teamsUser")
    error_at = next(i for i, e in enumerate(body) if "already a phone user" in e.get("text", ""))
    assert field_at < error_at < next(i for i, e in enumerate(body) if e.get("id") == "extension")
    alex = (await admin.click(sent.activity_id, form, "Open this phone user"))["value"]
    assert "Sign-in address: alex@contoso.example" in card_text(alex)

    assert sent_adds == [], "nothing was sent to the service"
    assert await _alex_row(bot) == before, "Alex's phone user record (and device password) unchanged"


async def test_a_request_whose_own_add_went_through_still_completes(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble
):
    """The add reached the service but its answer was lost: the step failed. The admin goes back to
    the form and adds again, then (another time) presses Try again: both go on, since this request
    made Adele a phone user."""
    real_add = bot.runtime.provisioning.add_user
    lose_answers = [2]

    async def add_then_lose_the_answer(tenant_id: str, spec: PhoneUserSpec, password: str) -> None:
        await real_add(tenant_id, spec, password)
        if lose_answers[0]:
            lose_answers[0] -= 1
            raise ProvisioningError("The provisioning service did not answer in time.", retryable=True)

    bot.runtime.provisioning.add_user = add_then_lose_the_answer  # type: ignore[method-assign]
    assert await admin.say("add user") == 201
    sent = await connector.wait_for(lambda s: "Add a phone user to Contoso" in card_text(s.card))
    card_id = sent.activity_id
    inputs = {"teamsUser": "adele@contoso.example", "voiceRoute": "CA Central", "extension": "105"}
    review = (await admin.click(card_id, sent.card, "Review", inputs))["value"]
    await admin.click(card_id, review, "Add user")
    failed = await connector.wait_for(
        lambda s: s.method == "PUT" and s.activity_id == card_id and "Try again" in card_actions(s.card)
    )
    assert (await bot.runtime.provisioning.user_state(CONTOSO, "adele@contoso.example")).provisioned

    form = (await admin.click(card_id, failed.card, "Edit"))["value"]
    review = (await admin.click(card_id, form, "Review"))["value"]
    assert "already a phone user" not in card_text(review) and "Check and add" in card_text(review)
    await admin.click(card_id, review, "Add user")
    failed = await connector.wait_for(
        lambda s: (
            s.method == "PUT"
            and s.activity_id == card_id
            and "Try again" in card_actions(s.card)
            and s is not failed
        )
    )
    await admin.click(card_id, failed.card, "Try again")
    await connector.wait_for(
        lambda s: s.method == "PUT" and s.activity_id == card_id and "Done." in card_text(s.card)
    )
    state = await bot.runtime.provisioning.user_state(CONTOSO, "adele@contoso.example")
    assert state.provisioned and state.calling_enabled and state.extension == "105"


async def test_in_french(bot: RunningBot, http: aiohttp.ClientSession, connector: ConnectorDouble):
    from tests.doubles import CONTOSO_ADMIN

    ada = TeamsUser(http, bot.url, connector.url, CONTOSO, CONTOSO_ADMIN, "Ada Admin", locale="fr-CA")
    card_id, listing = await phone_users(ada, connector, "Utilisateurs téléphoniques wil")
    text = card_text(listing)
    assert "Utilisateurs téléphoniques de Contoso" in text and "Poste 101" in text
    assert "Megan Bowen" not in text
    alex = (await ada.click(card_id, listing, "Ouvrir"))["value"]
    assert "Adresse de connexion: alex@contoso.example" in card_text(alex)
    assert "Retour à la liste" in card_actions(alex)

    assert await ada.say("ajouter un utilisateur") == 201
    sent = await connector.wait_for(
        lambda s: "Ajouter un utilisateur téléphonique à Contoso" in card_text(s.card)
    )
    users = next(e for e in sent.card["body"] if e.get("id") == "teamsUser")
    assert "Alex Wilber (alex@contoso.example, poste 101)" in {c["title"] for c in users["choices"]}
    inputs = {"teamsUser": "alex@contoso.example", "voiceRoute": "CA Central", "extension": "101"}
    form = (await ada.click(sent.activity_id, sent.card, "Vérifier", inputs))["value"]
    assert "Alex Wilber est déjà un utilisateur téléphonique au poste 101." in card_text(form)
    assert "Ouvrir cet utilisateur téléphonique" in card_actions(form)
