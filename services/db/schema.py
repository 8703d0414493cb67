"""The tables: one schema for SQLite (embedded default) and PostgreSQL.

The schema is owned by the alembic migrations in `migrations/` (`Database.migrate()` applies them
on start); the tables below are what the code reads and writes, and a test checks that both agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Column, DateTime, Index, Integer, MetaData, String, Table, Text
from sqlalchemy.types import TypeDecorator


class Clipped(TypeDecorator):
    """A bounded string cut to its column size when written.

    PostgreSQL refuses a value longer than VARCHAR(n) and SQLite stores it whole; for text that
    comes from outside (names and ids in activities, audit notes) both engines now keep the same
    first n characters, instead of one of them failing the turn.
    """

    impl = String
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        limit = self.impl_instance.length
        if isinstance(value, str) and limit and len(value) > limit:
            return value[:limit]
        return value


metadata = MetaData()

tenants = Table(
    "tenants",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(20), nullable=False),  # customer | partner
    Column("sync_required", Boolean, nullable=False, default=False),
)

partner_enterprises = Table(
    "partner_enterprises",
    metadata,
    Column("partner_tenant_id", String(64), primary_key=True),
    Column("enterprise_tenant_id", String(64), primary_key=True),
)

people = Table(
    "people",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("aad_object_id", String(64), primary_key=True),
    Column("upn", String(320), nullable=False),
    Column("display_name", String(200), nullable=False),
    Column("global_admin", Boolean, nullable=False, default=False),
    Column("partner_user", Boolean, nullable=False, default=False),
)

pbx_locations = Table(
    "pbx_locations",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("name", String(100), primary_key=True),
    Column("domain", String(200), nullable=False),
)

voice_routes = Table(
    "voice_routes",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("route_id", Integer, primary_key=True),
    Column("name", String(100), nullable=False),
)

teams_users = Table(
    "teams_users",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("upn", String(320), primary_key=True),
    Column("display_name", String(200), nullable=False),
    Column("licensed", Boolean, nullable=False),
    Column("provisioned", Boolean, nullable=False, default=False),
    Column("calling_enabled", Boolean, nullable=False, default=False),
    # Added or changed since the last "Sync Teams users" of the tenant.
    Column("sync_pending", Boolean, nullable=False, default=False),
    Column("pbx_location", String(100)),
    Column("voice_route", String(100)),
    Column("extension", String(20)),
    Column("phone_number", String(20)),
    Column("voicemail_disabled", Boolean),
    Column("default_dial_plan", Boolean),
    Column("sip_auth_id", String(64)),
    # A salted hash only, as a stand-in for the platform's own device record: the clear
    # password never reaches this database.
    Column("device_password_hash", String(200)),
)

extensions = Table(
    "extensions",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("pbx_location", String(100), primary_key=True),
    Column("number", String(20), primary_key=True),
    Column("caller_id", String(20), nullable=False),
    Column("assigned_to", String(320)),
)

requests = Table(
    "requests",
    metadata,
    Column("request_id", String(36), primary_key=True),
    Column("kind", String(20), nullable=False),
    # add | change | reset_password | disable_calling | enable_calling | remove (migration 0007).
    Column("action", String(30), nullable=False, default="add", server_default="add"),
    Column("tenant_id", String(64), nullable=False, index=True),
    Column("tenant_name", String(200), nullable=False),
    Column("requester_tenant_id", String(64), nullable=False),
    Column("requester_id", String(64), nullable=False, index=True),
    Column("requester_name", String(200), nullable=False),
    Column("state", String(30), nullable=False, index=True),
    Column("version", Integer, nullable=False),
    Column("values", JSON, nullable=False),
    Column("steps", JSON, nullable=False),
    Column("error", Text),
    Column("resume_state", String(30)),
    Column("decided_by", String(200)),
    Column("decision_note", Text),
    # Where the request's progress card lives, as opaque JSON from the bot edge.
    Column("card_ref", JSON),
    Column("decided_at", DateTime(timezone=True)),
    Column("reminded_at", DateTime(timezone=True)),
    # The bulk add this request is a row of (0011); NULL for a request of its own.
    Column("batch_id", String(36), index=True),
    # Follow-ups of the current wait for a global admin: reminders, then an escalation (0009).
    Column("reminders", Integer, nullable=False, default=0, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # The pipeline lease: which process runs this request's provisioning steps, and until when.
    # Another instance takes over only after the lease has run out (migration 0002).
    Column("worker_id", String(64)),
    Column("worker_lease_until", DateTime(timezone=True)),
    # While awaiting_admin_sign_in: the platform's Global Admin sign-in page, shown as the card's
    # button (migration 0004). The state that proves the callback is in admin_sign_ins, hashed.
    Column("sign_in_url", Text),
    Column("sign_in_expires_at", DateTime(timezone=True)),
    # The last move's audit (migration 0014): a move bumps audit_seq, and the database's trigger
    # on it inserts the audit row from these in the move's own statement.
    Column("audit_seq", Integer),
    Column("audit_actor_tenant_id", Clipped(64)),
    Column("audit_actor_id", Clipped(64)),
    Column("audit_actor_name", Clipped(200)),
    Column("audit_action", Clipped(50)),
    Column("audit_outcome", Clipped(500)),
)

# A partner's bulk add waits for one decision of the tenant's global admins for all its rows
# (issue 18, migration 0012): the round's state, moved by conditional writes like a request's.
# `running` while rows are still being added; `awaiting_approval` from when the last one has
# ended (asked_at); then `approved`, `rejected` or `expired`. Rows tried again after a decision
# start a new round (version + 1).
batch_approvals = Table(
    "batch_approvals",
    metadata,
    Column("batch_id", String(36), primary_key=True),
    Column("tenant_id", String(64), nullable=False, index=True),
    Column("state", String(30), nullable=False, index=True),
    Column("version", Integer, nullable=False),
    Column("asked_at", DateTime(timezone=True)),
    Column("decided_by", String(200)),
    Column("decided_at", DateTime(timezone=True)),
    Column("decision_note", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# The enterprise a partner picked for its bulk adds (0012): a file sent in the chat carries no
# card data, so the choice made with `bulk add` is kept until the next one.
bulk_targets = Table(
    "bulk_targets",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("aad_object_id", String(64), primary_key=True),
    Column("target_tenant_id", String(64), nullable=False),
    Column("chosen_at", DateTime(timezone=True), nullable=False),
)

# Global Admin sign-ins asked for (tenants without service-provider consent): the callback's
# state token as a SHA-256 hash (never the token), single use, until expires_at (migration 0004).
admin_sign_ins = Table(
    "admin_sign_ins",
    metadata,
    Column("state_hash", String(64), primary_key=True),
    Column("request_id", String(36), nullable=False, index=True),
    Column("tenant_id", String(64), nullable=False),
    Column("upns", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    # Set once: when the callback used it, or when a newer link replaced it.
    Column("used_at", DateTime(timezone=True)),
    Column("outcome", String(30)),
)

# The ConnecttoTeams backend's knowledge of each enterprise, as the platform showed it (migration
# 0013, services/provisioning/connecttoteams/tenant_state.py): its Global Admin's consents, asked
# for with getActionItemUrl and answered at the callback, and when its first Sync Teams Users was
# done (the platform accepted a Global Admin's sign-in result for it).
ctt_tenants = Table(
    "ctt_tenants",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("management_consent", String(20)),  # granted | refused; NULL: the platform never said
    Column("management_consent_at", DateTime(timezone=True)),
    Column("user_sync_consent_at", DateTime(timezone=True)),
    Column("first_sync_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Consent links asked for (getActionItemUrl): the callback's state as a SHA-256 hash, single use,
# until expires_at; like admin_sign_ins, but for a tenant rather than a request.
ctt_consent_links = Table(
    "ctt_consent_links",
    metadata,
    Column("state_hash", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True)),
)

audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor_tenant_id", Clipped(64), nullable=False),
    Column("actor_id", Clipped(64), nullable=False),
    Column("actor_name", Clipped(200), nullable=False),
    Column("tenant_id", Clipped(64), index=True),
    Column("request_id", Clipped(36), index=True),
    Column("action", Clipped(50), nullable=False),
    Column("from_state", Clipped(30)),
    Column("to_state", Clipped(30)),
    Column("outcome", Clipped(500), nullable=False),
)

# The last conversation reference of every user who installed the bot or wrote to it, as opaque
# JSON from the bot edge: proactive messages (approval cards, notices) go there.
conversations = Table(
    "conversations",
    metadata,
    Column("tenant_id", Clipped(64), primary_key=True),
    Column("aad_object_id", Clipped(64), primary_key=True),
    Column("user_id", Clipped(200), nullable=False),
    Column("name", Clipped(200), nullable=False),
    Column("reference", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # The person's own choice of language (`en`, `fr-CA`); NULL: their Teams client's (the
    # reference's locale). The time zone their client last gave (IANA name; NULL: not known).
    Column("language", String(8)),
    Column("time_zone", Clipped(64)),
)

# Notifications to send, written in the same transaction as the change that causes them.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(40), nullable=False),
    # NULL: about no request (a reply the channel refused during a turn, 0010).
    Column("request_id", String(36), index=True),
    Column("recipient_tenant_id", String(64)),
    Column("recipient_id", String(64)),
    Column("payload", JSON, nullable=False),
    Column("status", String(20), nullable=False, index=True),  # pending | sent | dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, index=True),
    Column("lease_until", DateTime(timezone=True)),
    Column("last_error", String(500)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    # One notice per recipient at a time is looked up by recipient when claiming (0010).
    Index("ix_outbox_recipient", "recipient_tenant_id", "recipient_id"),
)

# Each approver's copy of a request's approval card, so every copy can be updated.
approval_cards = Table(
    "approval_cards",
    metadata,
    Column("request_id", String(36), primary_key=True),
    Column("approver_tenant_id", String(64), primary_key=True),
    Column("approver_id", String(64), primary_key=True),
    Column("card_ref", JSON, nullable=False),
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)
