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
from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from services import database as db
from services.database import Database, as_utc, utcnow

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


async def enqueue(conn: AsyncConnection, notices: list[Notice]) -> None:
    """Add notices inside the caller's transaction."""
    now = utcnow()
    for notice in notices:
        await conn.execute(
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
        async with self._db.engine.begin() as conn:
            await enqueue(conn, notices)

    async def claim_due(self, limit: int = 20) -> list[OutboxRow]:
        """Rows due now and not leased by another sender, leased to this one."""
        o = db.outbox
        now = utcnow()
        free = or_(o.c.lease_until.is_(None), o.c.lease_until < now)
        due = and_(o.c.status == "pending", o.c.next_attempt_at <= now, free)
        claimed: list[OutboxRow] = []
        async with self._db.engine.begin() as conn:
            rows = (await conn.execute(select(o).where(due).order_by(o.c.id).limit(limit))).all()
            for row in rows:
                result = await conn.execute(
                    update(o).where(o.c.id == row.id, due).values(lease_until=now + self._lease)
                )
                if result.rowcount == 1:
                    claimed.append(_row(row))
        return claimed

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
        """The recipient has no conversation with the bot yet: park until they do."""
        await self._set(
            row.id,
            next_attempt_at=utcnow() + WAIT_FOR_CONVERSATION,
            lease_until=None,
            last_error="no conversation",
        )

    async def recipient_reachable(self, tenant_id: str, aad_object_id: str) -> int:
        """A recipient just installed or wrote: their parked notices are due now."""
        o = db.outbox
        async with self._db.engine.begin() as conn:
            result = await conn.execute(
                update(o)
                .where(
                    o.c.status == "pending",
                    o.c.recipient_tenant_id == tenant_id,
                    o.c.recipient_id == aad_object_id,
                )
                .values(next_attempt_at=utcnow())
            )
        return result.rowcount

    async def pending(self, request_id: str | None = None) -> list[OutboxRow]:
        o = db.outbox
        query = select(o).where(o.c.status == "pending")
        if request_id:
            query = query.where(o.c.request_id == request_id)
        async with self._db.engine.connect() as conn:
            return [_row(r) for r in (await conn.execute(query.order_by(o.c.id))).all()]

    async def _set(self, row_id: int, **values: Any) -> None:
        async with self._db.engine.begin() as conn:
            await conn.execute(update(db.outbox).where(db.outbox.c.id == row_id).values(**values))


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
