"""A provider with 300 enterprises over HTTP (issue 19, point 4): its pickers (add user, phone users,
bulk add) search as the partner types instead of carrying 300 choices, stay within Teams' message
limit in either language, and offer only the partner's own enterprises."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from services.seed_data import load_world
from tests.conftest import RunningBot
from tests.doubles import (
    CONTOSO,
    CONTOSO_ADMIN,
    NORTHWIND,
    NORTHWIND_PARTNER,
    ConnectorDouble,
    TeamsUser,
    card_text,
)
from tests.test_cards import TEAMS_MESSAGE_LIMIT

# Not the demo world's: this provider and its enterprises exist only in these tests.
MAPLE = "5e5e5e5e-0000-4000-8000-000000000300"
MAPLE_PARTNER = "5e5e5e5e-1111-4000-8000-000000000301"
CITIES = ("Gatineau", "Laval", "Lévis", "Longueuil", "Montréal", "Québec", "Saguenay", "Sherbrooke")
CITIES += ("Terrebonne", "Trois-Rivières")
TRADES = ("Bakery", "Construction", "Dental Clinic", "Garage", "Hardware", "Insurance", "Law Office")
TRADES += ("Notaries", "Pharmacy", "Transport")
SHOWN = 15  # Teams shows at most this many typeahead results (tests/doubles.py asks for them)


def enterprise_id(n: int) -> str:
    return f"5e5e5e5e-2222-4000-8000-{n:012d}"


def enterprise_name(n: int) -> str:
    """300 names as a Quebec provider's customers might be called, accents and hyphens included."""
    city, trade, branch = CITIES[n // 30], TRADES[n // 3 % 10], n % 3 + 1
    return f"{city} {trade} {branch}"


@pytest.fixture
async def maple(
    tmp_path: Path, http: aiohttp.ClientSession, bot: RunningBot, connector: ConnectorDouble
) -> TeamsUser:
    """Mia of Maple Voice, a partner managing 300 enterprises, loaded into the embedded backend's
    tables next to the demo world; the first enterprise has a PBX and a route."""
    enterprises = [
        {"tenant_id": enterprise_id(n), "name": enterprise_name(n), "kind": "customer"} for n in range(300)
    ]
    enterprises[0] |= {
        "pbx_locations": [{"name": "PBX", "domain": "pbx.gatineau.example", "extensions": []}],
        "voice_routes": [{"route_id": 1, "name": "CA Central"}],
    }
    partner = {
        "tenant_id": MAPLE,
        "name": "Maple Voice",
        "kind": "partner",
        "manages": [e["tenant_id"] for e in enterprises],
        "people": [
            {
                "aad_object_id": MAPLE_PARTNER,
                "upn": "mia@maple.example",
                "display_name": "Mia Partner",
                "partner_user": True,
            }
        ],
    }
    path = tmp_path / "maple.json"
    path.write_text(json.dumps({"tenants": [*enterprises, partner]}), encoding="utf-8")
    await load_world(bot.runtime.database, path)
    return TeamsUser(http, bot.url, connector.url, MAPLE, MAPLE_PARTNER, "Mia Partner")


def teams_size(activity: dict[str, Any]) -> int:
    """A message's size as Teams counts it: UTF-16 (tests/test_cards.py)."""
    return len(json.dumps(activity, ensure_ascii=False).encode("utf-16-le"))


async def picker(user: TeamsUser, connector: ConnectorDouble, text: str) -> tuple[str, dict[str, Any]]:
    """What `text` sends: the card's id and the card; the message is within Teams' limit."""
    before = len(connector.sent)
    assert await user.say(text) == 201
    sent = await connector.wait_for(lambda s: s in connector.sent[before:] and s.card is not None)
    assert teams_size(sent.activity) <= TEAMS_MESSAGE_LIMIT
    return sent.activity_id, sent.card


def enterprise_field(card: dict[str, Any]) -> dict[str, Any]:
    return next(e for e in card["body"] if e.get("id") == "enterpriseId")


async def found(user: TeamsUser, query: str) -> list[tuple[str, str]]:
    answer = await user.search("enterprises", query)
    assert answer["type"] == "application/vnd.microsoft.search.searchResponse"
    return [(r["title"], r["value"]) for r in answer["value"]["results"]]


@pytest.mark.parametrize("locale", ["en-US", "fr-CA"])
async def test_a_partner_with_300_enterprises_gets_a_picker_that_searches(
    maple: TeamsUser, connector: ConnectorDouble, locale: str
):
    maple.locale = locale
    card_id, card = await picker(maple, connector, "add user")
    field = enterprise_field(card)
    assert field["choices.data"] == {"type": "Data.Query", "dataset": "enterprises"}
    assert len(field["choices"]) == SHOWN, "the first few only: Teams asks for the others as Mia types"
    assert enterprise_name(150) not in json.dumps(card, ensure_ascii=False)

    trois = await found(maple, "trois")
    assert len(trois) == SHOWN and all(title.startswith("Trois-Rivières ") for title, _ in trois)
    # A word of the name, after a hyphen, typed without its accent.
    assert [t for t, _ in await found(maple, "rivieres dental")] == [
        f"Trois-Rivières Dental Clinic {n}" for n in (1, 2, 3)
    ]
    assert [t for t, _ in await found(maple, "CLINIC 3")][:2] == [
        "Gatineau Dental Clinic 3",
        "Laval Dental Clinic 3",
    ]
    assert await found(maple, "x") == []
    assert await found(maple, "clinic3") == []

    [(title, value)] = await found(maple, "gatineau bakery 1")
    assert value == enterprise_id(0)
    form = await maple.click(
        card_id, card, "Next" if locale == "en-US" else "Suivant", {"enterpriseId": value}
    )
    heading = "Add a phone user to" if locale == "en-US" else "Ajouter un utilisateur"
    assert heading in card_text(form["value"]) and title in card_text(form["value"])


async def test_phone_users_and_bulk_add_pick_by_searching_too(maple: TeamsUser, connector: ConnectorDouble):
    card_id, card = await picker(maple, connector, "phone users")
    assert enterprise_field(card)["choices.data"]["dataset"] == "enterprises"
    [(title, value)] = await found(maple, "sherbrooke law office 2")
    listing = (await maple.click(card_id, card, "Next", {"enterpriseId": value}))["value"]
    assert f"Phone users of {title}" in card_text(listing)

    card_id, card = await picker(maple, connector, "bulk add")
    assert "Which enterprise are the users in?" in card_text(card)
    assert enterprise_field(card)["choices.data"]["dataset"] == "enterprises"
    help_card = (await maple.click(card_id, card, "Next", {"enterpriseId": value}))["value"]
    assert f"The rows you send now go to **{title}**" in card_text(help_card)


async def test_each_partner_finds_only_its_own_enterprises(
    maple: TeamsUser, http: aiohttp.ClientSession, bot: RunningBot, connector: ConnectorDouble
):
    pat = TeamsUser(http, bot.url, connector.url, NORTHWIND, NORTHWIND_PARTNER, "Pat Partner")
    ada = TeamsUser(http, bot.url, connector.url, CONTOSO, CONTOSO_ADMIN, "Ada Admin")
    assert await found(pat, "trois") == []
    assert await found(pat, "con") == [("Contoso", CONTOSO)]
    assert await found(ada, "trois") == [] and await found(ada, "con") == [], "a tenant admin picks none"
    assert await found(maple, "contoso") == []

    # A few enterprises stay a list, which works in every Teams client.
    _, few = await picker(pat, connector, "add user")
    assert "choices.data" not in enterprise_field(few)
    assert [c["title"] for c in enterprise_field(few)["choices"]] == ["Contoso", "Fabrikam", "Litware"]

    # An enterprise that is not Mia's, sent as if picked, is refused on Next.
    card_id, card = await picker(maple, connector, "add user")
    refused = (await maple.click(card_id, card, "Next", {"enterpriseId": CONTOSO}))["value"]
    assert "You do not manage that enterprise." in card_text(refused)
    assert enterprise_field(refused)["choices.data"]["dataset"] == "enterprises"
