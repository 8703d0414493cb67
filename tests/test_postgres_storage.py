"""The storage layer on both engines: migrations and outbox claims across instances.

Every test here runs on SQLite and on PostgreSQL (see tests/pg.py for how PostgreSQL is found).
"Instances" are separate `Database` objects, each with its own connection pool, as separate
processes would have.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, inspect, select, text

from services import db
from services.db import Database, metadata, utcnow
from services.notify.conversations import ConversationBook
from services.notify.outbox import Notice, NoticeKind, Outbox
from services.provisioning.connecttoteams import records as ctt_records
from tests.pg import pg_server, pg_url  # noqa: F401  (fixtures)

ENGINES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=ENGINES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await database.migrate()
    yield database
    await database.close()


async def schema_differences(database: Database) -> list:
    def compare(connection):
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, [metadata, ctt_records.metadata])

    async with database.engine.connect() as conn:
        return await conn.run_sync(compare)


async def alembic_version(database: Database) -> str:
    async with database.engine.connect() as conn:
        return (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()


# -- migrations ------------------------------------------------------------------------------------


async def test_migrations_make_exactly_the_schema_the_code_uses(database: Database):
    assert await schema_differences(database) == []
    head = await alembic_version(database)
    await database.migrate()  # a second start changes nothing
    assert await alembic_version(database) == head


async def test_instances_starting_together_migrate_once(database_url: str):
    instances = [Database(database_url) for _ in range(4)]
    try:
        outcomes = await asyncio.gather(*(d.migrate() for d in instances), return_exceptions=True)
        assert outcomes == [None] * 4
        assert await schema_differences(instances[0]) == []
    finally:
        for d in instances:
            await d.close()


async def test_a_database_made_before_migrations_is_adopted_with_its_data(tmp_path: Path):
    """A data dir from before migrations: `create_all` of an older schema, no alembic_version."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
    old = Database(url)
    async with old.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        # What the oldest schema lacked: columns added later, and the ConnecttoTeams table.
        for column in ("worker_id", "worker_lease_until", "decided_at", "reminded_at"):
            await conn.execute(text(f"ALTER TABLE requests DROP COLUMN {column}"))
        await conn.execute(text("ALTER TABLE teams_users DROP COLUMN sync_pending"))
        await conn.execute(
            insert(db.tenants).values(tenant_id="t1", name="Old Tenant", kind="customer", sync_required=False)
        )
        await conn.execute(
            text(
                "INSERT INTO teams_users (tenant_id, upn, display_name, licensed, provisioned, calling_enabled)"
                " VALUES ('t1', 'old@t1.example', 'Old User', 1, 1, 0)"
            )
        )
    await old.close()

    database = Database(url)
    try:
        await database.migrate()
        assert await schema_differences(database) == []
        async with database.engine.connect() as conn:
            assert (await conn.execute(select(db.tenants.c.name))).scalars().all() == ["Old Tenant"]
            user = (await conn.execute(select(db.teams_users))).one()
        assert user.upn == "old@t1.example" and user.sync_pending is False
    finally:
        await database.close()


async def test_the_release_before_loses_its_unused_bot_state_table(database_url: str):
    """Upgrading from the botbuilder release's schema (0004, with a `bot_state` row) drops the
    table that only its storage adapter used, and keeps everything else."""
    from alembic import command

    from services.db import alembic_config

    database = Database(database_url)
    try:
        async with database.migration_connection() as conn:
            await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "base"))
            await conn.run_sync(lambda c: command.upgrade(alembic_config(c), "0004"))
        async with database.engine.begin() as conn:
            await conn.execute(text("INSERT INTO bot_state (key, etag, data) VALUES ('k', 'e', '{}')"))
            await conn.execute(
                insert(db.tenants).values(tenant_id="t1", name="Kept", kind="customer", sync_required=False)
            )
        await database.migrate()
        assert await schema_differences(database) == []
        async with database.engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
            assert "bot_state" not in tables
            assert (await conn.execute(select(db.tenants.c.name))).scalars().all() == ["Kept"]
    finally:
        await database.close()


async def test_migrations_downgrade_to_nothing_and_up_again(database: Database):
    from alembic import command

    from services.db import alembic_config

    def down(connection):
        command.downgrade(alembic_config(connection), "base")

    async with database.migration_connection() as conn:
        await conn.run_sync(down)
    async with database.engine.connect() as conn:
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert tables <= {"alembic_version"}
    await database.migrate()
    assert await schema_differences(database) == []


# -- eTag state --------------------------------------------------------------------------------------


# -- the outbox across instances --------------------------------------------------------------------


async def _fill(outbox: Outbox, requests: int, per_request: int) -> None:
    await outbox.add(
        [
            Notice(kind=NoticeKind.approvers_update, request_id=f"req-{r:03d}", payload={"n": n})
            for n in range(per_request)
            for r in range(requests)
        ]
    )


async def test_senders_on_several_instances_deliver_every_notice_once(database_url: str):
    instances = [Database(database_url) for _ in range(3)]
    try:
        await instances[0].migrate()
        await _fill(Outbox(instances[0]), requests=40, per_request=3)
        delivered: list[int] = []
        in_flight: dict[str, int] = {}
        overlaps: list[str] = []

        async def sender(outbox: Outbox) -> None:
            while rows := await outbox.claim_due(limit=7):
                for row in rows:
                    if in_flight.get(row.request_id):
                        overlaps.append(row.request_id)
                    in_flight[row.request_id] = in_flight.get(row.request_id, 0) + 1
                    await asyncio.sleep(0.001)  # the delivery
                    delivered.append(row.id)
                    await outbox.sent(row.id)
                    in_flight[row.request_id] -= 1

        await asyncio.gather(*(sender(Outbox(d)) for d in instances for _ in range(2)))
        assert sorted(delivered) == sorted(set(delivered)) and len(delivered) == 120
        assert overlaps == [], "two notices of one request were delivered at the same time"
        assert await Outbox(instances[0]).pending() == []
    finally:
        for d in instances:
            await d.close()


async def test_a_crashed_senders_rows_go_to_another_after_the_lease(database_url: str):
    instances = [Database(database_url), Database(database_url)]
    try:
        await instances[0].migrate()
        crashed, survivor = Outbox(instances[0], lease_seconds=0.5), Outbox(instances[1])
        await _fill(crashed, requests=3, per_request=1)
        taken = await crashed.claim_due()
        assert len(taken) == 3  # ... and the process dies before marking them sent
        assert await survivor.claim_due() == []
        await asyncio.sleep(0.6)
        again = await survivor.claim_due()
        assert sorted(r.id for r in again) == sorted(r.id for r in taken)
    finally:
        for d in instances:
            await d.close()


async def test_notices_of_one_request_go_one_at_a_time_in_order(database: Database):
    outbox = Outbox(database)
    await _fill(outbox, requests=1, per_request=3)
    first = await outbox.claim_due()
    assert [r.payload["n"] for r in first] == [0]
    assert await outbox.claim_due() == [], "the next waits while the first is being delivered"
    await outbox.retry(first[0], delay_seconds=60, error="429")  # backing off: the others go on
    second = await outbox.claim_due()
    assert [r.payload["n"] for r in second] == [1]
    await outbox.sent(second[0].id)
    assert [r.payload["n"] for r in await outbox.claim_due()] == [2]


@pytest.mark.postgres
async def test_postgres_claims_skip_rows_locked_by_another_sender(pg_url: str):  # noqa: F811
    database = Database(pg_url)
    try:
        await database.migrate()
        outbox = Outbox(database)
        await _fill(outbox, requests=2, per_request=1)
        async with database.engine.connect() as locker:
            await locker.begin()
            locked = (
                await locker.execute(text("SELECT id FROM outbox ORDER BY id LIMIT 1 FOR UPDATE"))
            ).scalar_one()
            claimed = await asyncio.wait_for(outbox.claim_due(), timeout=5)  # does not wait for the lock
            assert [r.id for r in claimed] == [locked + 1]
            await locker.rollback()
        assert [r.id for r in await outbox.claim_due()] == [locked]
    finally:
        await database.close()


# -- outside text never fails a write on one engine only ------------------------------------------------


async def test_overlong_outside_text_is_clipped_the_same_on_both_engines(database: Database):
    book = ConversationBook(database)
    long_id = "x" * 300
    assert await book.remember(long_id, long_id, "29:" + "u" * 400, "N" * 1000, {"conversation": {}})
    contact = await book.contact(long_id, long_id)
    assert contact is not None and contact.name == "N" * 200 and len(contact.user_id) == 200
    async with database.engine.begin() as conn:
        await conn.execute(
            insert(db.audit).values(
                at=utcnow(),
                actor_tenant_id=long_id,
                actor_id=long_id,
                actor_name="A" * 999,
                tenant_id=long_id,
                request_id=str(uuid.uuid4()) + "-and-more",
                action="refused",
                outcome="o" * 999,
            )
        )
        row = (await conn.execute(select(db.audit))).one()
    assert len(row.actor_name) == 200 and len(row.outcome) == 500 and len(row.request_id) == 36


async def test_outbox_lease_times_compare_across_engines(database: Database):
    """Timestamps round-trip with their zone on both engines (the lease arithmetic relies on it)."""
    outbox = Outbox(database, lease_seconds=30)
    await _fill(outbox, requests=1, per_request=1)
    before = utcnow()
    (row,) = await outbox.claim_due()
    async with database.engine.connect() as conn:
        lease = (await conn.execute(select(db.outbox.c.lease_until))).scalar_one()
    assert db.as_utc(lease) - before >= timedelta(seconds=29)
    assert row.created_at.tzinfo is not None
