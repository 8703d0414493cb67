"""requests.batch_id: the bulk add (issue 18) a request is one row of; NULL for a request of its own.
A batch's rows are requests like any other (drafts until its report's "Add N users", then the same
state machine); the id groups them for the report, the one progress card and its counts.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("requests")}
    if "batch_id" not in have:
        with op.batch_alter_table("requests") as batch:
            batch.add_column(sa.Column("batch_id", sa.String(36)))
        op.create_index("ix_requests_batch_id", "requests", ["batch_id"])


def downgrade() -> None:
    op.drop_index("ix_requests_batch_id", table_name="requests")
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("batch_id")
