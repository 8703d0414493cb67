"""ctt_tenants and ctt_consent_links: what the ConnecttoTeams backend learnt from the platform about
each enterprise (issue 20). `ctt_tenants` keeps its Global Admin's consents ("Allow Management by
Service Provider", user sync) as the platform's callback answered them, and when its first Sync
Teams Users was done; `ctt_consent_links` the hashed, single-use, expiring states of the consent
links asked for with getActionItemUrl. Tenants start knowing nothing (CTT_CONSENTED_TENANTS still
says which consented).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    have = set(sa.inspect(op.get_bind()).get_table_names())
    if "ctt_tenants" not in have:
        op.create_table(
            "ctt_tenants",
            sa.Column("tenant_id", sa.String(64), primary_key=True),
            sa.Column("management_consent", sa.String(20)),
            sa.Column("management_consent_at", TZ),
            sa.Column("user_sync_consent_at", TZ),
            sa.Column("first_sync_at", TZ),
            sa.Column("updated_at", TZ, nullable=False),
        )
    if "ctt_consent_links" not in have:
        op.create_table(
            "ctt_consent_links",
            sa.Column("state_hash", sa.String(64), primary_key=True),
            sa.Column("tenant_id", sa.String(64), nullable=False),
            sa.Column("kind", sa.String(20), nullable=False),
            sa.Column("created_at", TZ, nullable=False),
            sa.Column("expires_at", TZ, nullable=False),
            sa.Column("used_at", TZ),
        )


def downgrade() -> None:
    op.drop_table("ctt_consent_links")
    op.drop_table("ctt_tenants")
