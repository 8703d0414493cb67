"""The demo world's tenant for a 200-user bulk add (issue 18, "Demo world"): Litware is seeded large
enough (licensed users without phone service, free extensions at one PBX location, a voice route, a
global admin, managed by Northwind too), the other tenants are exactly as before, and a check of
200 rows for it, over HTTP, reports 200 ready. Nothing is provisioned here: the test stays fast
(bench/bulk.py runs the 200 adds)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import Connection, func, select

from services import db
from services.db import Database
from services.directory import EmbeddedDirectory
from services.models import Role
from services.provisioning.embedded import EmbeddedProvisioningService
from services.seed_data import bulk_add_csv, load_world, read_world
from tests.conftest import RunningBot
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
    TeamsUser,
    card_actions,
    card_text,
)

LITWARE = "1e2f3a4b-5c6d-4e7f-8a9b-0c1d2e3f4a5b"
LITWARE_ADMIN = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
LITWARE_USER = "b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e"


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}")
    await database.create()
    await load_world(database)
    try:
        yield database
    finally:
        await database.close()


def counts(database: Database, tenant_id: str) -> Awaitable[tuple[int, dict[str, int], int]]:
    """(licensed users without phone service, free extensions by PBX location, phone users)."""
    tu, ext = db.teams_users, db.extensions

    def work(conn: Connection) -> tuple[int, dict[str, int], int]:
        waiting = conn.execute(
            select(func.count()).where(
                tu.c.tenant_id == tenant_id, tu.c.licensed.is_(True), tu.c.provisioned.is_(False)
            )
        ).scalar_one()
        free = conn.execute(
            select(ext.c.pbx_location, func.count())
            .where(ext.c.tenant_id == tenant_id, ext.c.assigned_to.is_(None))
            .group_by(ext.c.pbx_location)
        ).all()
        phone_users = conn.execute(
            select(func.count()).where(tu.c.tenant_id == tenant_id, tu.c.provisioned.is_(True))
        ).scalar_one()
        return waiting, dict(free), phone_users

    return database.read(work)


async def test_litware_is_large_enough_for_a_200_user_bulk_add(database: Database):
    waiting, free, phone_users = await counts(database, LITWARE)
    assert waiting >= 250 and phone_users == 0
    assert list(free) == ["PBX"] and free["PBX"] >= 300

    provisioning = EmbeddedProvisioningService(database)
    options = await provisioning.form_options(LITWARE)
    assert options.tenant.name == "Litware"
    assert options.pbx_locations == ["PBX"] and [r.name for r in options.voice_routes] == ["CA Central"]
    assert options.needs_user_search, "too many users for one list: the form searches"
    assert [t.name for t in await provisioning.enterprises_of(NORTHWIND)] == [
        "Contoso",
        "Fabrikam",
        "Litware",
    ]
    assert [t.name for t in await provisioning.enterprises_of(TAILSPIN)] == ["Fabrikam"]

    directory = EmbeddedDirectory(database)
    assert (await directory.actor(LITWARE, LITWARE_ADMIN)).role is Role.tenant_admin
    assert (await directory.actor(LITWARE, LITWARE_USER)).role is Role.none
    assert [p.upn for p in await directory.global_admins(LITWARE)] == ["admin@litware.example"]


async def test_the_other_tenants_are_as_they_were(database: Database):
    tenants = {t["tenant_id"]: t for t in read_world()["tenants"]}
    assert {tid: t["name"] for tid, t in tenants.items()} == {
        CONTOSO: "Contoso",
        FABRIKAM: "Fabrikam",
        NORTHWIND: "Northwind Voice",
        TAILSPIN: "Tailspin Telecom",
        LITWARE: "Litware",
    }
    contoso = tenants[CONTOSO]
    assert [u["licensed"] for u in contoso["teams_users"]].count(True) == 12
    assert len(contoso["teams_users"]) == 15
    assert [e["number"] for e in contoso["pbx_locations"][0]["extensions"]] == [
        str(n) for n in range(100, 120)
    ]
    people = {tid: [p["aad_object_id"] for p in t.get("people", [])] for tid, t in tenants.items()}
    assert people[CONTOSO] == [CONTOSO_ADMIN, CONTOSO_ADMIN2, CONTOSO_USER]
    assert (people[FABRIKAM], people[NORTHWIND], people[TAILSPIN]) == (
        [FABRIKAM_ADMIN],
        [NORTHWIND_PARTNER],
        [TAILSPIN_PARTNER],
    )
    assert len(tenants[FABRIKAM]["teams_users"]) == 8
    assert tenants[NORTHWIND]["manages"][:2] == [CONTOSO, FABRIKAM]

    # Contoso's form, as the add-user tests know it: search and the free-extension hint unchanged.
    options = await EmbeddedProvisioningService(database).form_options(CONTOSO)
    assert options.licensed_user_count == 12
    assert [e.number for e in options.free_extensions] == [str(n) for n in range(102, 114)]
    assert await counts(database, CONTOSO) == (10, {"PBX": 18}, 2)
    assert await counts(database, FABRIKAM) == (8, {"PBX East": 5, "PBX West": 5}, 0)


async def test_loading_the_world_again_adds_nothing(database: Database):
    before = await counts(database, LITWARE)
    await load_world(database)
    assert await counts(database, LITWARE) == before


def test_the_bulk_file_fits_the_world_and_refuses_more_than_it_has():
    rows = bulk_add_csv(LITWARE, 200).splitlines()
    assert rows[0] == "teams_user,extension,voice_route" and len(rows) == 201
    assert rows[1] == "aaron.abbott@litware.example,2000,CA Central"
    assert len({r.split(",")[0] for r in rows[1:]}) == 200 and len({r.split(",")[1] for r in rows[1:]}) == 200
    with pytest.raises(ValueError, match="at most 250 rows"):
        bulk_add_csv(LITWARE, 251)


async def test_a_200_row_check_for_litware_reports_200_ready(
    bot: RunningBot, connector: ConnectorDouble, http: aiohttp.ClientSession
):
    liam = TeamsUser(http, bot.url, connector.url, LITWARE, LITWARE_ADMIN, "Liam Admin")
    assert await liam.say("bulk add\n" + bulk_add_csv(LITWARE, 200)) == 201
    sent = await connector.wait_for(
        lambda s: s.conversation_id == liam.conversation_id and s.card is not None
    )
    assert "Bulk add for Litware" in card_text(sent.card)
    assert "200 user(s) ready to add, 0 problem(s). Nothing has been sent yet." in card_text(sent.card)
    assert "Add 200 user(s)" in card_actions(sent.card)
    assert await counts(bot.runtime.database, LITWARE) == (250, {"PBX": 300}, 0), "a check writes nothing"
