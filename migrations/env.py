"""alembic's environment. The connection comes from the app (`Database.migrate()`) or, from the
command line (`python -m migrations ...`), from the bot's own settings: DATABASE_URL, or SQLite
in DATA_DIR."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from services import db as database
from services.provisioning.connecttoteams import records as ctt_records

config = context.config
# Every table the bot writes: its own, and the ConnecttoTeams backend's record of phone users.
target_metadata = [database.metadata, ctt_records.metadata]


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot alter most things in place: alembic copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine() -> None:
    from bot.settings import Settings

    db = database.Database(config.get_main_option("sqlalchemy.url") or Settings().database_url)
    try:
        async with db.migration_connection() as connection:
            await connection.run_sync(_run)
    finally:
        await db.close()


if context.is_offline_mode():
    raise SystemExit("Offline (--sql) migrations are not supported: run them against the database.")

if config.attributes.get("connection") is not None:
    _run(config.attributes["connection"])
else:
    asyncio.run(_run_with_own_engine())
