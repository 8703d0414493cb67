"""A request's move writes its audit row in its own statement (issue 22, migration 0014): one row
per move with who, what, from and to, none for other writes or a move someone else made first;
the same on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from services import db
from services.db import Database
from services.directory import EmbeddedDirectory
from services.errors import StaleRequest
from services.provisioning.embedded import EmbeddedProvisioningService
from services.requests.service import RequestService
from services.seed_data import load_world
from tests.doubles import CONTOSO, CONTOSO_ADMIN
from tests.pg import pg_server, pg_url  # noqa: F401  (fixtures)

ENGINES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=ENGINES)
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    url = (
        f"sqlite:///{tmp_path / 'bot.sqlite3'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    database = Database(url)
    await database.migrate()
    await load_world(database)
    try:
        yield database
    finally:
        await database.close()


async def audit_rows(
    database: Database, request_id: str
) -> list[tuple[str, str | None, str | None, str, str]]:
    a = db.audit

    def work(conn):
        query = (
            select(a.c.action, a.c.from_state, a.c.to_state, a.c.actor_name, a.c.outcome)
            .where(a.c.request_id == request_id)
            .order_by(a.c.id)
        )
        return [tuple(row) for row in conn.execute(query)]

    return await database.read(work)


async def test_each_move_writes_one_audit_row_and_other_writes_none(database: Database):
    directory = EmbeddedDirectory(database)
    requests = RequestService(database, EmbeddedProvisioningService(database), directory)
    actor = await directory.actor(CONTOSO, CONTOSO_ADMIN)
    draft = await requests.start_draft(actor)
    await requests.set_card_ref(draft.request_id, {"conversation": {}, "activity_id": "m1"})
    assert [row[:3] for row in await audit_rows(database, draft.request_id)] == [("create", None, "draft")]

    cancelled = await requests.cancel(actor, draft.request_id, draft.version)
    rows = await audit_rows(database, draft.request_id)
    assert [row[:3] for row in rows] == [("create", None, "draft"), ("cancel", "draft", "cancelled")]
    assert rows[-1][3] == actor.name
    # The row reads back through the audit card's query, with its time and tenant.
    entry = (await requests.audit_of_tenant(CONTOSO))[0]
    assert (entry.request_id, entry.action, entry.tenant_id) == (draft.request_id, "cancel", CONTOSO)
    assert entry.at is not None

    # A click on the old card: no move (its refusal is a row of its own, not a second move).
    with pytest.raises(StaleRequest):
        await requests.cancel(actor, draft.request_id, draft.version)
    after = await audit_rows(database, draft.request_id)
    assert [row[2] for row in after].count("cancelled") == 1
    assert "stale card" in after[-1][4]
    await requests.set_card_ref(cancelled.request_id, {"conversation": {}, "activity_id": "m2"})
    assert await audit_rows(database, draft.request_id) == after
