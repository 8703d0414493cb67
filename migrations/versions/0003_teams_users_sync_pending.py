"""teams_users.sync_pending: the embedded service marks users added or changed since the last sync.

Revision ID: 0003
Revises: 0002
Create Date: 2025-01-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("teams_users")}
    if "sync_pending" in have:
        return
    with op.batch_alter_table("teams_users") as batch:
        # Existing users count as synced: the tenant-wide flag still says whether a sync is due.
        batch.add_column(sa.Column("sync_pending", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("teams_users") as batch:
        batch.drop_column("sync_pending")
