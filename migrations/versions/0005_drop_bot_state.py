"""Drop `bot_state`: botbuilder conversation/user state that nothing in production ever used.

The bot keeps no SDK state (a conversation's state is its persisted request), and the storage
adapter that wrote this table went with botbuilder. The downgrade makes the empty table again.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "bot_state" in sa.inspect(op.get_bind()).get_table_names():
        op.drop_table("bot_state")


def downgrade() -> None:
    if "bot_state" not in sa.inspect(op.get_bind()).get_table_names():
        op.create_table(
            "bot_state",
            sa.Column("key", sa.String(400), primary_key=True),
            sa.Column("etag", sa.String(40), nullable=False),
            sa.Column("data", sa.JSON, nullable=False),
        )
