"""requests.action: what a request does to its phone user (issue 16): `add` (every request before
this revision), `change`, `reset_password`, `disable_calling`, `enable_calling` or `remove`. The
same state machine carries them all; `kind` still says who asked (an admin or a partner).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("requests")}
    if "action" not in have:
        with op.batch_alter_table("requests") as batch:
            batch.add_column(sa.Column("action", sa.String(30), nullable=False, server_default="add"))


def downgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("action")
