"""outbox.request_id may be NULL, and an index on the outbox's recipient (issue 17).

A reply the channel refused during a turn (429 beyond the in-turn retries, 5xx, no answer) is
handed to the outbox and delivered later; such a reply (a welcome, an answer to `help`) is about
no request. The sender claims one notice per recipient at a time, oldest first, so that one
person's messages keep their order while other people's go at once: `ix_outbox_recipient` keeps
that lookup cheap. Existing rows all have a request and keep it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    nullable = next(c["nullable"] for c in inspector.get_columns("outbox") if c["name"] == "request_id")
    indexes = {i["name"] for i in inspector.get_indexes("outbox")}
    with op.batch_alter_table("outbox") as batch:
        if not nullable:
            batch.alter_column("request_id", existing_type=sa.String(36), nullable=True)
        if "ix_outbox_recipient" not in indexes:
            batch.create_index("ix_outbox_recipient", ["recipient_tenant_id", "recipient_id"])


def downgrade() -> None:
    # Rows about no request have nothing to keep them under the old schema: they go.
    op.execute("DELETE FROM outbox WHERE request_id IS NULL")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_recipient")
        batch.alter_column("request_id", existing_type=sa.String(36), nullable=False)
