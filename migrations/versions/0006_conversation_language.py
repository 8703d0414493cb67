"""conversations.language and conversations.time_zone: each person's language and time zone, for
the messages the bot sends them when they are not the one talking (approval cards, notices).

`language` is the person's own choice (the `language` / `langue` command), NULL to follow their
Teams client (the stored reference's locale); `time_zone` is the IANA name their client last gave.
Both are columns, not keys of the reference: every turn rewrites the reference, which must not
erase a choice, and the reference stays in the Bot Framework's shape.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("conversations")}
    with op.batch_alter_table("conversations") as batch:
        if "language" not in have:
            batch.add_column(sa.Column("language", sa.String(8)))
        if "time_zone" not in have:
            batch.add_column(sa.Column("time_zone", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("time_zone")
        batch.drop_column("language")
