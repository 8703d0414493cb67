"""`phone users` at scale: 5,000 phone users in one tenant, with the longest names the tables hold,
listed, searched and paged through the real services; every card fits in a Teams message (French)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import insert

from cards.phone_users import phone_users_card
from i18n import FRENCH, Words
from services import db
from services.db import Database
from services.directory import EmbeddedDirectory
from services.models import Actor, Role
from services.provisioning.embedded import EmbeddedProvisioningService
from services.requests.phone_users import ListingInvalid, clean_page, clean_query
from services.requests.service import RequestService
from services.seed_data import load_world
from tests.doubles import CONTOSO, CONTOSO_ADMIN
from tests.test_cards import TEAMS_MESSAGE_LIMIT, teams_size

USERS = 5_000
ADA = Actor(tenant_id=CONTOSO, aad_object_id=CONTOSO_ADMIN, name="Ada Admin", role=Role.tenant_admin)


@pytest.fixture
async def requests(tmp_path: Path) -> AsyncIterator[RequestService]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}")
    await database.create()
    await load_world(database)
    name = "Marie-Ève Bouchard-Tremblay de la Direction des technologies de l'information " * 3
    rows = [
        {
            "tenant_id": CONTOSO,
            "upn": (f"user{i:05d}." + "x" * 280)[:300] + "@contoso.example",
            "display_name": f"{name[:190]} {i:05d}",
            "licensed": True,
            "provisioned": True,
            "calling_enabled": i % 2 == 0,
            "sync_pending": i % 3 == 0,
            "pbx_location": "P" * 100,
            "voice_route": "V" * 100,
            "extension": f"{10_000_000 + i}",
            "phone_number": f"{10_000_000 + i}",
        }
        for i in range(USERS)
    ]
    await database.write(lambda conn: conn.execute(insert(db.teams_users), rows))
    service = EmbeddedProvisioningService(database)
    yield RequestService(database, service, EmbeddedDirectory(database))
    await database.close()


async def test_5000_phone_users_page_by_page_every_card_fits(requests: RequestService):
    french = Words(FRENCH)
    first = await requests.phone_users(ADA, CONTOSO, "", 1)
    assert first.total == USERS + 2 and first.pages == 501 and len(first.users) == 10
    for page in (1, 2, 250, 501):
        listing = await requests.phone_users(ADA, CONTOSO, "", page)
        size = teams_size(phone_users_card(listing, "x" * 100, words=french))
        assert size < TEAMS_MESSAGE_LIMIT, (page, size)
    last = await requests.phone_users(ADA, CONTOSO, "", 501)
    assert len(last.users) == 2
    found = await requests.phone_users(ADA, CONTOSO, "10004999", 1)
    assert [u.extension for u in found.users] == ["10004999"]
    searched = await requests.phone_users(ADA, CONTOSO, "marie", 3)
    assert searched.total == USERS and searched.page == 3


@pytest.mark.parametrize("value", ["abc", "-1", 0, -5, 100_001, 1.5, None, True, [], {}])
def test_a_page_no_card_of_ours_sends_is_refused(value: object):
    with pytest.raises(ListingInvalid):
        clean_page(value)


def test_pages_and_searches_a_card_sends():
    assert clean_page("3") == 3 and clean_page(1) == 1
    assert clean_query("  Alex   Wil ") == "Alex Wil" and clean_query(None) == ""
    for bad in ("x" * 101, "a\u200bb", 5, ["alex"]):
        with pytest.raises(ListingInvalid):
            clean_query(bad)
