"""batch_approvals and bulk_targets: a partner's bulk add (issue 18).

A partner's batch is added row by row like an admin's, then waits for one decision of the tenant's
global admins for all its rows: `batch_approvals` holds that round's state, moved by conditional
writes (running -> awaiting_approval -> approved | rejected | expired; a new round after rows are
tried again). `bulk_targets` keeps the enterprise a partner picked with `bulk add`, since a file
sent in the chat carries no card data.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    have = set(sa.inspect(op.get_bind()).get_table_names())
    if "batch_approvals" not in have:
        op.create_table(
            "batch_approvals",
            sa.Column("batch_id", sa.String(36), primary_key=True),
            sa.Column("tenant_id", sa.String(64), nullable=False),
            sa.Column("state", sa.String(30), nullable=False),
            sa.Column("version", sa.Integer, nullable=False),
            sa.Column("asked_at", sa.DateTime(timezone=True)),
            sa.Column("decided_by", sa.String(200)),
            sa.Column("decided_at", sa.DateTime(timezone=True)),
            sa.Column("decision_note", sa.Text),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        )
        op.create_index("ix_batch_approvals_tenant_id", "batch_approvals", ["tenant_id"])
        op.create_index("ix_batch_approvals_state", "batch_approvals", ["state"])
    if "bulk_targets" not in have:
        op.create_table(
            "bulk_targets",
            sa.Column("tenant_id", sa.String(64), primary_key=True),
            sa.Column("aad_object_id", sa.String(64), primary_key=True),
            sa.Column("target_tenant_id", sa.String(64), nullable=False),
            sa.Column("chosen_at", sa.DateTime(timezone=True), nullable=False),
        )


def downgrade() -> None:
    op.drop_table("bulk_targets")
    op.drop_index("ix_batch_approvals_state", table_name="batch_approvals")
    op.drop_index("ix_batch_approvals_tenant_id", table_name="batch_approvals")
    op.drop_table("batch_approvals")
