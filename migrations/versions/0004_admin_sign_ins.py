"""Global Admin sign-in for tenants without service-provider consent: the sign-in link on the
request (shown on its cards) and the hashed, single-use, expiring callback states.

Revision ID: 0004
Revises: 0003
Create Date: 2025-01-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    have = {c["name"] for c in inspector.get_columns("requests")}
    with op.batch_alter_table("requests") as batch:
        if "sign_in_url" not in have:
            batch.add_column(sa.Column("sign_in_url", sa.Text))
        if "sign_in_expires_at" not in have:
            batch.add_column(sa.Column("sign_in_expires_at", TZ))
    if "admin_sign_ins" not in inspector.get_table_names():
        op.create_table(
            "admin_sign_ins",
            sa.Column("state_hash", sa.String(64), primary_key=True),
            sa.Column("request_id", sa.String(36), nullable=False),
            sa.Column("tenant_id", sa.String(64), nullable=False),
            sa.Column("upns", sa.JSON, nullable=False),
            sa.Column("created_at", TZ, nullable=False),
            sa.Column("expires_at", TZ, nullable=False),
            sa.Column("used_at", TZ),
            sa.Column("outcome", sa.String(30)),
        )
        op.create_index("ix_admin_sign_ins_request_id", "admin_sign_ins", ["request_id"])


def downgrade() -> None:
    op.drop_index("ix_admin_sign_ins_request_id", table_name="admin_sign_ins")
    op.drop_table("admin_sign_ins")
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("sign_in_expires_at")
        batch.drop_column("sign_in_url")
