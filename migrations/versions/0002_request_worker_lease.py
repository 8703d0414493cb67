"""The pipeline lease on requests: which instance runs a request's provisioning steps, until when.

With several instances, each resumes interrupted requests on start and takes over those whose
lease ran out (a crashed instance); a live lease keeps the others off.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("requests")}
    with op.batch_alter_table("requests") as batch:
        if "worker_id" not in have:
            batch.add_column(sa.Column("worker_id", sa.String(64)))
        if "worker_lease_until" not in have:
            batch.add_column(sa.Column("worker_lease_until", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("worker_lease_until")
        batch.drop_column("worker_id")
