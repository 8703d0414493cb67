"""requests.audit_*: a request's move writes its audit row in the same statement (issue 22).

A transition is one conditional `UPDATE requests`; its audit row was a second statement in the
same transaction. The move now also sets who did it, what and with which outcome (`audit_*`,
the last move's, kept on the request) and bumps `audit_seq`; a trigger on that column inserts the
audit row from the new and old row in the same statement, so the row still commits with the move
or not at all. One statement fewer per move, six per add-user conversation. Other writes of the
request do not touch `audit_seq` and write no audit row. The trigger is SQLite's and
PostgreSQL's own DDL; the code that moves a request is the same for both.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

COLUMNS = {
    "audit_seq": sa.Integer,
    "audit_actor_tenant_id": lambda: sa.String(64),
    "audit_actor_id": lambda: sa.String(64),
    "audit_actor_name": lambda: sa.String(200),
    "audit_action": lambda: sa.String(50),
    "audit_outcome": lambda: sa.String(500),
}

_INSERT = """
    INSERT INTO audit (at, actor_tenant_id, actor_id, actor_name, tenant_id, request_id, action,
                       from_state, to_state, outcome)
    VALUES (NEW.updated_at, NEW.audit_actor_tenant_id, NEW.audit_actor_id, NEW.audit_actor_name,
            NEW.tenant_id, NEW.request_id, NEW.audit_action, OLD.state, NEW.state, NEW.audit_outcome)
"""


def upgrade() -> None:
    have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("requests")}
    with op.batch_alter_table("requests") as batch:
        for name, kind in COLUMNS.items():
            if name not in have:
                batch.add_column(sa.Column(name, kind()))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""CREATE OR REPLACE FUNCTION requests_audit() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN {_INSERT}; RETURN NULL; END $$"""
        )
        op.execute("DROP TRIGGER IF EXISTS requests_audit ON requests")
        op.execute(
            """CREATE TRIGGER requests_audit AFTER UPDATE OF audit_seq ON requests FOR EACH ROW
            WHEN (NEW.audit_seq IS DISTINCT FROM OLD.audit_seq) EXECUTE FUNCTION requests_audit()"""
        )
    else:
        op.execute("DROP TRIGGER IF EXISTS requests_audit")
        op.execute(
            f"""CREATE TRIGGER requests_audit AFTER UPDATE OF audit_seq ON requests
            WHEN NEW.audit_seq IS NOT OLD.audit_seq BEGIN {_INSERT}; END"""
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS requests_audit ON requests")
        op.execute("DROP FUNCTION IF EXISTS requests_audit()")
    else:
        op.execute("DROP TRIGGER IF EXISTS requests_audit")
    with op.batch_alter_table("requests") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
