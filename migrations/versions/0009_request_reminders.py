"""requests.reminders: how many follow-ups the request's current wait for a global admin has had
(issue 17: a first reminder, a second, then an escalation to the partner and every admin; an
approval waiting longer than REQUEST_EXPIRY_DAYS expires). Existing rows: one if `reminded_at` is
set (the release before sent one reminder at most), else none.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("requests")}
    if "reminders" not in have:
        with op.batch_alter_table("requests") as batch:
            batch.add_column(sa.Column("reminders", sa.Integer, nullable=False, server_default="0"))
        op.execute("UPDATE requests SET reminders = 1 WHERE reminded_at IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("reminders")
