"""Search over HTTP (issue 19, point 3): the Teams-user typeahead and the `phone users` search match
the start of a name or of a word of it and the start of the address, never the domain alone
("x" must not find everyone because every address ends in "example")."""

from __future__ import annotations

import aiohttp
import pytest

from tests.conftest import RunningBot
from tests.doubles import ConnectorDouble, TeamsUser, card_text
from tests.test_phone_users_e2e import phone_users

# The demo world's Litware: 250 licensed users, "given.surname@litware.example", so its form
# searches (README, "The demo world").
LITWARE = "1e2f3a4b-5c6d-4e7f-8a9b-0c1d2e3f4a5b"
LIAM_ADMIN = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
SURNAMES = 10


@pytest.fixture
async def liam(http: aiohttp.ClientSession, bot: RunningBot, connector: ConnectorDouble) -> TeamsUser:
    return TeamsUser(http, bot.url, connector.url, LITWARE, LIAM_ADMIN, "Liam Admin")


async def user_dataset(liam: TeamsUser, connector: ConnectorDouble) -> str:
    """The dataset of the Teams-user field of Liam's add-user form."""
    assert await liam.say("add user") == 201
    sent = await connector.wait_for(lambda s: "Add a phone user to Litware" in card_text(s.card))
    field = next(e for e in sent.card["body"] if e.get("id") == "teamsUser")
    return field["choices.data"]["dataset"]


async def found(liam: TeamsUser, dataset: str, query: str) -> list[tuple[str, str]]:
    answer = await liam.search(dataset, query)
    assert answer["type"] == "application/vnd.microsoft.search.searchResponse"
    return [(r["title"], r["value"]) for r in answer["value"]["results"]]


async def test_the_user_typeahead_matches_names_words_and_local_parts_not_the_domain(
    liam: TeamsUser, connector: ConnectorDouble
):
    dataset = await user_dataset(liam, connector)

    ximenas = await found(liam, dataset, "x")
    assert len(ximenas) == SURNAMES, "only the Ximenas: every address contains 'x' in 'example'"
    assert all(title.startswith("Ximena ") for title, _ in ximenas), ximenas

    # A name's second word: the surname, in any case.
    duboises = await found(liam, dataset, "DUBOIS")
    assert duboises and all(" Dubois (" in title for title, _ in duboises), duboises
    assert len(duboises) == 15, "as many as Teams shows"

    # The address's local part, which the name does not spell ("aaron.abb" is not "Aaron Abb").
    assert [upn for _, upn in await found(liam, dataset, "aaron.abb")] == ["aaron.abbott@litware.example"]
    assert [upn for _, upn in await found(liam, dataset, "aaron.abbott@litware.example")] == [
        "aaron.abbott@litware.example"
    ]

    # The domain alone matches nobody, however much of it is typed.
    for domain in ("litware", "litware.example", "@litware.example", "example", ".example"):
        assert await found(liam, dataset, domain) == [], domain

    # Accents set aside, as a French-Canadian reader types: "élif" finds Elif.
    assert [title for title, _ in await found(liam, dataset, "élif chen")] == [
        "Elif Chen (elif.chen@litware.example)"
    ]


async def test_the_phone_users_search_matches_the_same_way(admin: TeamsUser, connector: ConnectorDouble):
    """Contoso's phone users are Alex Wilber (101) and Megan Bowen (100)."""

    async def listed(search: str) -> str:
        _, card = await phone_users(admin, connector, f"phone users {search}")
        return card_text(card)

    nobody = "No phone user matches this search."
    assert nobody in await listed("x"), "'x' is in alex and in example, at the start of neither"
    assert nobody in await listed("contoso.example")
    bowen = await listed("bowen")
    assert "Megan Bowen" in bowen and "Alex Wilber" not in bowen
    by_address = await listed("megan@contoso.example")
    assert "Megan Bowen" in by_address and "Alex Wilber" not in by_address
    by_extension = await listed("10")
    assert "Megan Bowen" in by_extension and "Alex Wilber" in by_extension
