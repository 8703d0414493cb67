"""The outbox: notifications written with the change that causes them, delivered by a sender.

Rows are claimed with a lease, so a sender that dies mid-delivery leaves them to be picked up
again; a row is marked sent only after delivery, so a crash between "saved" and "sent" loses
nothing. A row claimed again after its lease ran out (neither sent nor rescheduled) comes back
`interrupted`: its first delivery may have reached the chat, and the sender avoids a second copy
where Teams lets it (docs/scale-out.md, "Duplicates after a crash").
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Connection, and_, bindparam, exists, insert, or_, select, update

from services import db
from services.db import Database, as_utc, utcnow
from services.retry import RetryPolicy

MAX_ATTEMPTS = 8
WAIT_FOR_CONVERSATION = timedelta(hours=6)
# The outbox's own backoff between attempts of one row: 1 s, 2 s, 4 s ... up to 5 min, with jitter.
OUTBOX_RETRY = RetryPolicy(attempts=MAX_ATTEMPTS, backoff_base_seconds=1.0, backoff_max_seconds=300.0)


class NoticeKind(enum.StrEnum):
    approval_card = "approval_card"  # send a global admin the approval card
    approvers_update = "approvers_update"  # update every approver's copy to the current state
    requester_notice = "requester_notice"  # tell the requester (partner) what happened
    admin_reminder = "admin_reminder"  # a request has waited too long
    # A partner's bulk add (issue 18): the notice's request_id is the batch's id.
    batch_approval_card = "batch_approval_card"  # send a global admin the batch's approval card
    batch_approvers_update = "batch_approvers_update"  # update every copy of it
    batch_requester_notice = "batch_requester_notice"  # tell the partner the batch's outcome
    # A reply the channel refused during its turn (429 beyond the in-turn retries, 5xx, no answer):
    # the payload holds the activity as it was to be sent and the conversation's reference.
    reply = "reply"


class Notice(BaseModel):
    kind: NoticeKind
    # None: a notice about no request (a refused reply to a command, a welcome).
    request_id: str | None
    recipient_tenant_id: str | None = None
    recipient_id: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)


class OutboxRow(Notice):
    id: int
    attempts: int
    created_at: datetime
    # Claimed again after a sender died while delivering it: it may have reached the chat already.
    interrupted: bool = False


def enqueue(conn: Connection, notices: list[Notice], delay_seconds: float = 0.0) -> None:
    """Add notices inside the caller's transaction (a `Database.write` unit of work), due after
    `delay_seconds`."""
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
                next_attempt_at=now + timedelta(seconds=delay_seconds),
                created_at=now,
            )
        )


class Outbox:
    def __init__(self, database: Database, lease_seconds: float = 60.0) -> None:
        self._db = database
        self._lease = timedelta(seconds=lease_seconds)

    async def add(self, notices: list[Notice], delay_seconds: float = 0.0) -> None:
        await self._db.write(lambda conn: enqueue(conn, notices, delay_seconds))

    async def claim_due(self, limit: int = 20) -> list[OutboxRow]:
        """Rows due now and not leased by another sender, leased to this one.

        Several senders (one per instance) may claim at once. On PostgreSQL the candidates are
        locked with `FOR UPDATE SKIP LOCKED`, so two senders never wait on or take the same row;
        on SQLite, where writes are serialised anyway, the lease update re-checks the condition.
        One notice per request at a time: each is rendered from the request's state when it is
        delivered, and two copies of a card updated concurrently could finish out of order, the
        older state last. One notice per recipient at a time, oldest first: one person's chat
        gets its messages in order, and the rows claimed together all go to different people,
        so a sender may deliver them at once. A sender that dies leaves its rows to the others
        once the lease ends.
        """
        o = db.outbox
        now = utcnow()
        claimable = _claimable(now)
        candidates = (
            select(o.c.id, o.c.lease_until)
            .where(claimable)
            .order_by(o.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)  # rendered on PostgreSQL only
        )

        def work(conn: Connection) -> list[tuple[Any, bool]]:
            found = conn.execute(candidates).all()
            if not found:
                return []
            # A lease that ran out without the row being sent or rescheduled: its sender died.
            cut_off = {row.id for row in found if row.lease_until is not None}
            leased = conn.execute(
                update(o)
                .where(o.c.id.in_([row.id for row in found]), claimable)
                .values(lease_until=now + self._lease)
                .returning(*o.c)
            )
            return [(row, row.id in cut_off) for row in leased.all()]

        rows = [_row(r, interrupted) for r, interrupted in await self._db.write(work)]
        return sorted(rows, key=lambda row: row.id)

    async def sent(self, row_id: int) -> None:
        # `sent_at` is taken when the write runs, not when it was asked for: it is the end of the
        # window in which a crash repeats a message (measured by bench/outbox_sender.py).
        def work(conn: Connection) -> None:
            conn.execute(
                update(db.outbox)
                .where(db.outbox.c.id == row_id)
                .values(status="sent", sent_at=utcnow(), lease_until=None, last_error=None)
            )

        await self._db.write(work)

    async def retry(
        self, row: OutboxRow, delay_seconds: float, error: str, *, hold_recipient: bool = False
    ) -> None:
        """Try `row` again after `delay_seconds` (or give it up after MAX_ATTEMPTS).

        `hold_recipient`: the recipient's chat said "not now" (429, 5xx, no answer), so their
        other due rows wait as long, in the same write: their order is kept, and the next attempt
        at that chat is one, not one per row. Nobody else's rows wait."""
        o = db.outbox
        now = utcnow()
        until = now + timedelta(seconds=delay_seconds)
        if row.attempts + 1 >= MAX_ATTEMPTS:
            change = update(o).where(o.c.id == row.id).values(status="dead", attempts=row.attempts + 1)
        else:
            change = (
                update(o).where(o.c.id == row.id).values(attempts=row.attempts + 1, next_attempt_at=until)
            )
        change = change.values(lease_until=None, last_error=error[:500])
        hold = None
        if hold_recipient and row.recipient_id is not None:
            hold = (
                update(o)
                .where(
                    o.c.status == "pending",
                    o.c.id != row.id,
                    o.c.recipient_tenant_id == row.recipient_tenant_id,
                    o.c.recipient_id == row.recipient_id,
                    o.c.next_attempt_at < until,
                    or_(o.c.lease_until.is_(None), o.c.lease_until < now),  # not one in delivery
                )
                .values(next_attempt_at=until)
            )

        def work(conn: Connection) -> None:
            conn.execute(change)
            if hold is not None:
                conn.execute(hold)

        await self._db.write(work)

    async def give_up(self, row: OutboxRow, error: str) -> None:
        """The channel refused for good (the user removed the bot, the request is gone)."""
        await self._set(
            row.id, status="dead", attempts=row.attempts + 1, lease_until=None, last_error=error[:500]
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
        key = {"key_tenant_id": tenant_id, "key_recipient_id": aad_object_id, "next_attempt_at": utcnow()}
        return await self._db.write(lambda conn: conn.execute(_DUE_NOW, key).rowcount)

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
    """Pending, due, not leased; and neither its request nor its recipient has a notice being
    delivered or due before it. Rows parked or backing off hold nobody up (a recipient's chat
    that said "not now" holds its own rows back in `Outbox.retry`)."""
    o = db.outbox
    free = or_(o.c.lease_until.is_(None), o.c.lease_until < now)

    def busy(name: str, *same: Any) -> Any:
        other = o.alias(name)
        return (
            select(other.c.id)
            .where(*(column(other) == column(o) for column in same))
            .where(other.c.status == "pending", other.c.id != o.c.id)
            .where(
                or_(
                    other.c.lease_until >= now,  # being delivered right now
                    and_(  # due before this one
                        other.c.id < o.c.id,
                        other.c.next_attempt_at <= now,
                        or_(other.c.lease_until.is_(None), other.c.lease_until < now),
                    ),
                )
            )
            .exists()
        )

    # A NULL request or recipient equals nothing in SQL: such a row waits for no sibling there.
    busy_request = busy("same_request", lambda t: t.c.request_id)
    busy_recipient = busy("same_recipient", lambda t: t.c.recipient_tenant_id, lambda t: t.c.recipient_id)
    return and_(o.c.status == "pending", o.c.next_attempt_at <= now, free, ~busy_request, ~busy_recipient)


def _row(row, interrupted: bool = False) -> OutboxRow:  # a SQLAlchemy row
    return OutboxRow(
        id=row.id,
        kind=NoticeKind(row.kind),
        request_id=row.request_id,
        recipient_tenant_id=row.recipient_tenant_id,
        recipient_id=row.recipient_id,
        payload=row.payload or {},
        attempts=row.attempts,
        created_at=as_utc(row.created_at),
        interrupted=interrupted,
    )


# Built once (every new person's first turn runs it); next_attempt_at is the execution's.
_DUE_NOW = update(db.outbox).where(
    db.outbox.c.status == "pending",
    db.outbox.c.recipient_tenant_id == bindparam("key_tenant_id"),
    db.outbox.c.recipient_id == bindparam("key_recipient_id"),
)
