"""The database: the schema (tables), the engines and units of work, the SQLite worker, migrations.

Callers write `from services import db` and use `db.requests` (a table), `db.Database`, `db.utcnow`.
"""

from services.db.database import Database, alembic_config, async_url, sqlite_url
from services.db.schema import (
    Clipped,
    admin_sign_ins,
    approval_cards,
    as_utc,
    audit,
    batch_approvals,
    bulk_targets,
    conversations,
    extensions,
    metadata,
    outbox,
    partner_enterprises,
    pbx_locations,
    people,
    requests,
    teams_users,
    tenants,
    utcnow,
    voice_routes,
)
from services.db.sqlite_worker import SQLiteWorker

__all__ = [
    "Clipped",
    "Database",
    "SQLiteWorker",
    "admin_sign_ins",
    "alembic_config",
    "approval_cards",
    "as_utc",
    "async_url",
    "audit",
    "batch_approvals",
    "bulk_targets",
    "conversations",
    "extensions",
    "metadata",
    "outbox",
    "partner_enterprises",
    "pbx_locations",
    "people",
    "requests",
    "sqlite_url",
    "teams_users",
    "tenants",
    "utcnow",
    "voice_routes",
]
