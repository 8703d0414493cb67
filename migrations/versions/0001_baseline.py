"""Baseline: the schema as it was when migrations were introduced.

Creates every table that is not there yet. A database made by `metadata.create_all` before
migrations existed already has its tables: they are kept with their data, and any nullable
column added to them later without a migration (e.g. requests.decided_at) is added now.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def _tables() -> dict[str, tuple[Callable[[], list[sa.SchemaItem]], list[tuple[str, list[str]]]]]:
    """Table name -> (its columns and constraints, its indexes as (name, columns))."""
    return {
        "tenants": (
            lambda: [
                sa.Column("tenant_id", sa.String(64), primary_key=True),
                sa.Column("name", sa.String(200), nullable=False),
                sa.Column("kind", sa.String(20), nullable=False),
                sa.Column("sync_required", sa.Boolean, nullable=False),
            ],
            [],
        ),
        "partner_enterprises": (
            lambda: [
                sa.Column("partner_tenant_id", sa.String(64), primary_key=True),
                sa.Column("enterprise_tenant_id", sa.String(64), primary_key=True),
            ],
            [],
        ),
        "people": (
            lambda: [
                sa.Column("tenant_id", sa.String(64), primary_key=True),
                sa.Column("aad_object_id", sa.String(64), primary_key=True),
                sa.Column("upn", sa.String(320), nullable=False),
                sa.Column("display_name", sa.String(200), nullable=False),
                sa.Column("global_admin", sa.Boolean, nullable=False),
                sa.Column("partner_user", sa.Boolean, nullable=False),
            ],
            [],
        ),
        "pbx_locations": (
            lambda: [
                sa.Column("tenant_id", sa.String(64), primary_key=True),
                sa.Column("name", sa.String(100), primary_key=True),
                sa.Column("domain", sa.String(200), nullable=False),
            ],
            [],
        ),
        "voice_routes": (
            lambda: [
                sa.Column("tenant_id", sa.String(64), primary_key=True),
                sa.Column("route_id", sa.Integer, primary_key=True, autoincrement=False),
                sa.Column("name", sa.String(100), nullable=False),
            ],
            [],
        ),
        "teams_users": (
            lambda: [
                sa.Column("tenant_id", sa.String(64), primary_key=True),
                sa.Column("upn", sa.String(320), primary_key=True),
                sa.Column("display_name", sa.String(200), nullable=False),
                sa.Column("licensed", sa.Boolean, nullable=False),
                sa.Column("provisioned", sa.Boolean, nullable=False),
                sa.Column("calling_enabled", sa.Boolean, nullable=False),
                sa.Column("pbx_location", sa.String(100)),
                sa.Column("voice_route", sa.String(100)),
                sa.Column("extension", sa.String(20)),
                sa.Column("phone_number", sa.String(20)),
                sa.Column("voicemail_disabled", sa.Boolean),
                sa.Column("default_dial_plan", sa.Boolean),
                sa.Column("sip_auth_id", sa.String(64)),
                sa.Column("device_password_hash", sa.String(200)),
            ],
            [],
        ),
        "extensions": (
            lambda: [
                sa.Column("tenant_id", sa.String(64), primary_key=True),
                sa.Column("pbx_location", sa.String(100), primary_key=True),
                sa.Column("number", sa.String(20), primary_key=True),
                sa.Column("caller_id", sa.String(20), nullable=False),
                sa.Column("assigned_to", sa.String(320)),
            ],
            [],
        ),
        "requests": (
            lambda: [
                sa.Column("request_id", sa.String(36), primary_key=True),
                sa.Column("kind", sa.String(20), nullable=False),
                sa.Column("tenant_id", sa.String(64), nullable=False),
                sa.Column("tenant_name", sa.String(200), nullable=False),
                sa.Column("requester_tenant_id", sa.String(64), nullable=False),
                sa.Column("requester_id", sa.String(64), nullable=False),
                sa.Column("requester_name", sa.String(200), nullable=False),
                sa.Column("state", sa.String(30), nullable=False),
                sa.Column("version", sa.Integer, nullable=False),
                sa.Column("values", sa.JSON, nullable=False),
                sa.Column("steps", sa.JSON, nullable=False),
                sa.Column("error", sa.Text),
                sa.Column("resume_state", sa.String(30)),
                sa.Column("decided_by", sa.String(200)),
                sa.Column("decision_note", sa.Text),
                sa.Column("card_ref", sa.JSON),
                sa.Column("decided_at", TZ),
                sa.Column("reminded_at", TZ),
                sa.Column("created_at", TZ, nullable=False),
                sa.Column("updated_at", TZ, nullable=False),
            ],
            [
                ("ix_requests_tenant_id", ["tenant_id"]),
                ("ix_requests_requester_id", ["requester_id"]),
                ("ix_requests_state", ["state"]),
            ],
        ),
        "audit": (
            lambda: [
                sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                sa.Column("at", TZ, nullable=False),
                sa.Column("actor_tenant_id", sa.String(64), nullable=False),
                sa.Column("actor_id", sa.String(64), nullable=False),
                sa.Column("actor_name", sa.String(200), nullable=False),
                sa.Column("tenant_id", sa.String(64)),
                sa.Column("request_id", sa.String(36)),
                sa.Column("action", sa.String(50), nullable=False),
                sa.Column("from_state", sa.String(30)),
                sa.Column("to_state", sa.String(30)),
                sa.Column("outcome", sa.String(500), nullable=False),
            ],
            [("ix_audit_tenant_id", ["tenant_id"]), ("ix_audit_request_id", ["request_id"])],
        ),
        "conversations": (
            lambda: [
                sa.Column("tenant_id", sa.String(64), primary_key=True),
                sa.Column("aad_object_id", sa.String(64), primary_key=True),
                sa.Column("user_id", sa.String(200), nullable=False),
                sa.Column("name", sa.String(200), nullable=False),
                sa.Column("reference", sa.JSON, nullable=False),
                sa.Column("updated_at", TZ, nullable=False),
            ],
            [],
        ),
        "outbox": (
            lambda: [
                sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                sa.Column("kind", sa.String(40), nullable=False),
                sa.Column("request_id", sa.String(36), nullable=False),
                sa.Column("recipient_tenant_id", sa.String(64)),
                sa.Column("recipient_id", sa.String(64)),
                sa.Column("payload", sa.JSON, nullable=False),
                sa.Column("status", sa.String(20), nullable=False),
                sa.Column("attempts", sa.Integer, nullable=False),
                sa.Column("next_attempt_at", TZ, nullable=False),
                sa.Column("lease_until", TZ),
                sa.Column("last_error", sa.String(500)),
                sa.Column("created_at", TZ, nullable=False),
                sa.Column("sent_at", TZ),
            ],
            [
                ("ix_outbox_request_id", ["request_id"]),
                ("ix_outbox_status", ["status"]),
                ("ix_outbox_next_attempt_at", ["next_attempt_at"]),
            ],
        ),
        "approval_cards": (
            lambda: [
                sa.Column("request_id", sa.String(36), primary_key=True),
                sa.Column("approver_tenant_id", sa.String(64), primary_key=True),
                sa.Column("approver_id", sa.String(64), primary_key=True),
                sa.Column("card_ref", sa.JSON, nullable=False),
            ],
            [],
        ),
        "bot_state": (
            lambda: [
                sa.Column("key", sa.String(400), primary_key=True),
                sa.Column("etag", sa.String(40), nullable=False),
                sa.Column("data", sa.JSON, nullable=False),
            ],
            [],
        ),
        # The ConnecttoTeams backend's record of the phone users it configured (services/provisioning/connecttoteams/records.py).
        "ctt_phone_users": (
            lambda: [
                sa.Column("tenant_id", sa.String(64), primary_key=True),
                sa.Column("upn_key", sa.String(320), primary_key=True),
                sa.Column("upn", sa.String(320), nullable=False),
                sa.Column("pbx_location", sa.String(100), nullable=False),
                sa.Column("extension", sa.String(20), nullable=False),
                sa.Column("voice_route", sa.String(100), nullable=False),
                sa.Column("sbc_gateway_id", sa.Integer, nullable=False),
                sa.Column("phone_number", sa.String(20), nullable=False),
                sa.Column("voicemail_disabled", sa.Boolean, nullable=False),
                sa.Column("default_dial_plan", sa.Boolean, nullable=False),
                sa.Column("sip_auth_id", sa.String(64), nullable=False),
                sa.Column("device_password_set", sa.Boolean, nullable=False),
                sa.Column("synced", sa.Boolean, nullable=False),
                sa.Column("calling_enabled", sa.Boolean, nullable=False),
                sa.Column("updated_at", TZ, nullable=False),
                sa.UniqueConstraint("tenant_id", "pbx_location", "extension", name="uq_ctt_extension"),
            ],
            [],
        ),
    }


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    existing = set(inspector.get_table_names())
    for name, (items, indexes) in _tables().items():
        if name not in existing:
            op.create_table(name, *items())
            for index_name, columns in indexes:
                op.create_index(index_name, name, columns)
            continue
        # Adopt a table made by create_all: add what later code expects and it lacks.
        have = {c["name"] for c in inspector.get_columns(name)}
        for column in (c for c in items() if isinstance(c, sa.Column) and c.name not in have):
            if not column.nullable:
                raise RuntimeError(f"table {name} lacks the required column {column.name}: migrate by hand")
            op.add_column(name, column)
        have_indexes = {i["name"] for i in inspector.get_indexes(name)}
        for index_name, columns in indexes:
            if index_name not in have_indexes:
                op.create_index(index_name, name, columns)


def downgrade() -> None:
    for name in reversed(list(_tables())):
        op.drop_table(name)
