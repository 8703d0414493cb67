"""ctt_phone_users.disabled: the ConnecttoTeams backend's record of a phone user whose calling was
disabled with the platform's disableUsers (the portal's "Disable User", issue 16). Such a user may be
deleted ("disable first, then delete") and keeps their extension until then. Existing rows were
never disabled.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("ctt_phone_users")}
    if "disabled" in have:
        return
    with op.batch_alter_table("ctt_phone_users") as batch:
        batch.add_column(sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("ctt_phone_users") as batch:
        batch.drop_column("disabled")
