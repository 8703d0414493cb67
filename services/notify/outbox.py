"""The outbox: notifications written with the change that causes them, delivered by a sender.

Rows are claimed with a lease, so a sender that dies mid-delivery leaves them to be picked up
again; a row is marked sent only after delivery, so a crash between "saved" and "sent" loses
nothing.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Connection, and_, exists, insert, or_, select, update

from services import db
from services.db import Database, as_utc, utcnow

MAX_ATTEMPTS = 8
WAIT_FOR_CONVERSATION = timedelta(hours=6)


class NoticeKind(enum.StrEnum):
    approval_card = "approval_card"  # send a global admin the approval card
    approvers_update = "approvers_update"  # update every approver's copy to the current state
    requester_notice = "requester_notice"  # tell the requester (partner) what happened
    admin_reminder = "admin_reminder"  # a request has waited too long


class Notice(BaseModel):
    kind: NoticeKind
    request_id: str
    recipient_tenant_id: str | None = None
    recipient_id: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)


class OutboxRow(Notice):
    id: int
    attempts: int
    created_at: datetime


def enqueue(conn: Connection, notices: list[Notice]) -> None:
    """Add notices inside the caller's transaction (a `Database.write` unit of work)."""
    now = utcnow()
    for notice in notices:
        conn.execute(
            insert(db.outbox).values(
                kind=notice.kind.value,
                request_id=notice.request_id,
                recipient_tenant_id=notice.recipient_tenant_id,
                recipient_id=notice.recipient_id,
                payload=notice.payload,
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )


class Outbox:
    def __init__(self, database: Database, lease_seconds: float = 60.0) -> None:
        self._db = database
        self._lease = timedelta(seconds=lease_seconds)

    async def add(self, notices: list[Notice]) -> None:
        await self._db.write(lambda conn: enqueue(conn, notices))

    async def claim_due(self, limit: int = 20) -> list[OutboxRow]:
        """Rows due now and not leased by another sender, leased to this one.

        Several senders (one per instance) may claim at once. On PostgreSQL the candidates are
        locked with `FOR UPDATE SKIP LOCKED`, so two senders never wait on or take the same row;
        on SQLite, where writes are serialised anyway, the lease update re-checks the condition.
        One notice per request at a time: each is rendered from the request's state when it is
        delivered, and two copies of a card updated concurrently could finish out of order, the
        older state last. A sender that dies leaves its rows to the others once the lease ends.
        """
        o = db.outbox
        now = utcnow()
        claimable = _claimable(now)
        candidates = (
            select(o.c.id)
            .where(claimable)
            .order_by(o.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)  # rendered on PostgreSQL only
        )

        def work(conn: Connection) -> list[Any]:
            ids = list(conn.execute(candidates).scalars())
            if not ids:
                return []
            leased = conn.execute(
                update(o)
                .where(o.c.id.in_(ids), claimable)
                .values(lease_until=now + self._lease)
                .returning(*o.c)
            )
            return leased.all()

        return sorted((_row(r) for r in await self._db.write(work)), key=lambda row: row.id)

    async def sent(self, row_id: int) -> None:
        await self._set(row_id, status="sent", sent_at=utcnow(), lease_until=None, last_error=None)

    async def retry(self, row: OutboxRow, delay_seconds: float, error: str) -> None:
        if row.attempts + 1 >= MAX_ATTEMPTS:
            await self._set(
                row.id, status="dead", attempts=row.attempts + 1, lease_until=None, last_error=error[:500]
            )
            return
        await self._set(
            row.id,
            attempts=row.attempts + 1,
            next_attempt_at=utcnow() + timedelta(seconds=delay_seconds),
            lease_until=None,
            last_error=error[:500],
        )

    async def wait_for_conversation(self, row: OutboxRow) -> None:
        """The recipient has no conversation with the bot yet: park until they do.

        Parked only if they still have none, in the same statement: a recipient who installs the
        bot while this row is being delivered must not have their card parked for hours."""
        o, c = db.outbox, db.conversations
        still_unreachable = ~exists().where(
            c.c.tenant_id == row.recipient_tenant_id, c.c.aad_object_id == row.recipient_id
        )
        park = (
            update(o)
            .where(o.c.id == row.id, still_unreachable)
            .values(
                next_attempt_at=utcnow() + WAIT_FOR_CONVERSATION,
                lease_until=None,
                last_error="no conversation",
            )
        )
        due_now = update(o).where(o.c.id == row.id).values(next_attempt_at=utcnow(), lease_until=None)

        def work(conn: Connection) -> None:
            if conn.execute(park).rowcount == 0:
                conn.execute(due_now)

        await self._db.write(work)

    async def recipient_reachable(self, tenant_id: str, aad_object_id: str) -> int:
        """A recipient just installed or wrote: their parked notices are due now."""
        o = db.outbox
        due_now = (
            update(o)
            .where(
                o.c.status == "pending",
                o.c.recipient_tenant_id == tenant_id,
                o.c.recipient_id == aad_object_id,
            )
            .values(next_attempt_at=utcnow())
        )
        return await self._db.write(lambda conn: conn.execute(due_now).rowcount)

    async def pending(self, request_id: str | None = None) -> list[OutboxRow]:
        o = db.outbox
        query = select(o).where(o.c.status == "pending")
        if request_id:
            query = query.where(o.c.request_id == request_id)
        return [_row(r) for r in await self._db.read(lambda conn: conn.execute(query.order_by(o.c.id)).all())]

    async def _set(self, row_id: int, **values: Any) -> None:
        change = update(db.outbox).where(db.outbox.c.id == row_id).values(**values)
        await self._db.write(lambda conn: conn.execute(change))


def _claimable(now: datetime):
    """Pending, due, not leased; and its request has no notice being delivered or due before it."""
    o = db.outbox
    other = o.alias("other")
    free = or_(o.c.lease_until.is_(None), o.c.lease_until < now)
    busy_sibling = (
        select(other.c.id)
        .where(other.c.request_id == o.c.request_id, other.c.status == "pending", other.c.id != o.c.id)
        .where(
            or_(
                other.c.lease_until >= now,  # being delivered right now
                and_(  # due before this one (rows parked or backing off do not hold the others up)
                    other.c.id < o.c.id,
                    other.c.next_attempt_at <= now,
                    or_(other.c.lease_until.is_(None), other.c.lease_until < now),
                ),
            )
        )
        .exists()
    )
    return and_(o.c.status == "pending", o.c.next_attempt_at <= now, free, ~busy_sibling)


def _row(row) -> OutboxRow:  # a SQLAlchemy row
    return OutboxRow(
        id=row.id,
        kind=NoticeKind(row.kind),
        request_id=row.request_id,
        recipient_tenant_id=row.recipient_tenant_id,
        recipient_id=row.recipient_id,
        payload=row.payload or {},
        attempts=row.attempts,
        created_at=as_utc(row.created_at),
    )
