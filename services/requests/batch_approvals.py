"""A partner's bulk add waits for one decision (issue 18): once its rows have been added, the
tenant's global admins get one approval card for the whole batch; "Approve all" approves every row
waiting in one conditional write, "Reject" (with a reason) rejects them and removes the users the
partner's half added, and a batch nobody decides expires like a single request. Each move is a
conditional write on the batch's round (batch_approvals) with the rows' moves, their audit rows and
the notices, in one transaction: exactly once under double clicks, concurrent approvers, restarts
and several instances."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, exists, select, update

from i18n import T, Text
from services import db
from services.db import as_utc, utcnow
from services.errors import NotAuthorised, StaleRequest
from services.models import Actor, RequestState, Role
from services.notify.outbox import Notice, NoticeKind, enqueue
from services.requests.batches import Batches
from services.requests.cleanup import CLEANUP_REQUEST, cleanup_removal, needs_cleanup
from services.requests.decisions import rejection_reason
from services.requests.repository import request_from_row
from services.requests.transitions import SYSTEM

# A round's states (batch_approvals.state).
RUNNING, AWAITING, APPROVED, REJECTED, EXPIRED = (
    "running",
    "awaiting_approval",
    "approved",
    "rejected",
    "expired",
)

# Rows listed on the approval card; the rest are counted (the card stays under Teams' limit).
LISTED = 15
# A batch's rows that never reached the approvers (the check's drafts, cancelled before they ran).
_NEVER_ASKED = frozenset({RequestState.draft, RequestState.queued, RequestState.cancelled})
# How long after a run the approvers' copies are redrawn with its counts.
REDRAW_AFTER_SECONDS = 2.0


@dataclass
class BatchApproval:
    """A partner's batch as its approvers see it: the round, and the rows waiting for it."""

    batch_id: str
    tenant_id: str
    tenant_name: str
    requester_tenant_id: str
    requester_name: str
    state: str
    version: int
    asked_at: datetime | None
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None
    counts: Counter[RequestState] = field(default_factory=Counter)
    # (line, user, extension, PBX location, voice route) of the first rows waiting for the decision.
    waiting: list[tuple[int, str, str, str, str]] = field(default_factory=list)
    # (line, user, extension, state) of the first rows a decision moved, once decided.
    decided: list[tuple[int, str, str, RequestState]] = field(default_factory=list)

    @property
    def waiting_count(self) -> int:
        return self.counts[RequestState.awaiting_approval]


class BatchDecisions(Batches):
    async def batch_approval(self, batch_id: str) -> BatchApproval:
        a, r = db.batch_approvals, db.requests

        def work(conn: Connection) -> tuple[Any, list[Any]]:
            round_ = conn.execute(select(a).where(a.c.batch_id == batch_id)).first()
            rows = conn.execute(select(r).where(r.c.batch_id == batch_id)).all() if round_ else []
            return round_, rows

        round_, rows = await self._db.read(work)
        if round_ is None or not rows:
            raise StaleRequest(T("That bulk add does not exist (any more)."))
        requests = sorted(
            (request_from_row(row) for row in rows), key=lambda q: int(q.values.get("line") or 0)
        )
        first = requests[0]
        found = BatchApproval(
            batch_id,
            round_.tenant_id,
            first.tenant_name,
            first.requester_tenant_id,
            first.requester_name,
            round_.state,
            round_.version,
            as_utc(round_.asked_at) if round_.asked_at else None,
            round_.decided_by,
            as_utc(round_.decided_at) if round_.decided_at else None,
            round_.decision_note,
        )
        for q in requests:
            found.counts[q.state] += 1
            if q.state not in _NEVER_ASKED and len(found.decided) < LISTED:
                line = int(str(q.values.get("line") or 0))
                found.decided.append((line, q.person, str(q.values.get("extension") or ""), q.state))
            if q.state is RequestState.awaiting_approval and len(found.waiting) < LISTED:
                v = q.values
                found.waiting.append(
                    (
                        int(str(v.get("line") or 0)),
                        str(v.get("teams_user") or ""),
                        str(v.get("extension") or ""),
                        str(v.get("pbx_location") or ""),
                        str(v.get("voice_route") or ""),
                    )
                )
        return found

    async def ask_batch_approval(self, batch_id: str) -> bool:
        """After a run of the batch's rows. Once no row is still being added, the rows waiting for
        the decision are sent to the tenant's global admins, once (whoever else asks at the same
        time); otherwise, once asked, the approvers' cards are redrawn with the latest counts (rows
        that joined the round, or how the approved ones went). Returns whether this call asked."""
        a, r = db.batch_approvals, db.requests
        round_ = await self._db.read(
            lambda conn: conn.execute(select(a).where(a.c.batch_id == batch_id)).first()
        )
        if round_ is None:
            return False  # an admin's batch: nothing to approve
        admins = await self._directory.global_admins(round_.tenant_id)
        of_batch = r.c.batch_id == batch_id
        adding = (RequestState.queued.value, RequestState.submitted.value)
        ready = and_(
            ~exists().where(of_batch, r.c.state.in_(adding)),
            exists().where(of_batch, r.c.state == RequestState.awaiting_approval.value),
        )
        ask = (
            update(a)
            .where(a.c.batch_id == batch_id, a.c.state != AWAITING, ready)
            .values(state=AWAITING, version=a.c.version + 1, asked_at=utcnow(), updated_at=utcnow())
            .returning(a.c.version)
        )

        def work(conn: Connection) -> bool:
            asked = conn.execute(ask).first()
            if asked is None:
                if conn.execute(select(a.c.state).where(a.c.batch_id == batch_id)).scalar() != RUNNING:
                    # A moment later: the answer to the approver's click (the card at the click)
                    # must not arrive after, and hide, the card this redraws.
                    update_ = Notice(kind=NoticeKind.batch_approvers_update, request_id=batch_id)
                    enqueue(conn, [update_], delay_seconds=REDRAW_AFTER_SECONDS)
                return False
            enqueue(
                conn,
                [
                    Notice(
                        kind=NoticeKind.batch_approval_card,
                        request_id=batch_id,
                        recipient_tenant_id=admin.tenant_id,
                        recipient_id=admin.aad_object_id,
                    )
                    for admin in admins
                ],
            )
            self._audit(
                conn,
                SYSTEM,
                round_.tenant_id,
                None,
                "batch_ask",
                None,
                RequestState.awaiting_approval,
                T("bulk add {batch} sent to {count} global admin(s)", batch=batch_id[:8], count=len(admins)),
            )
            return True

        return await self._db.write(work)

    async def batches_to_ask(self) -> list[str]:
        """Rounds whose rows have all been added but were never asked for (the runner stopped
        between the two): the sweeper asks for them."""
        a, r = db.batch_approvals, db.requests
        adding = (RequestState.queued.value, RequestState.submitted.value)
        query = select(a.c.batch_id).where(
            a.c.state != AWAITING,
            ~exists().where(r.c.batch_id == a.c.batch_id, r.c.state.in_(adding)),
            exists().where(r.c.batch_id == a.c.batch_id, r.c.state == RequestState.awaiting_approval.value),
        )
        return list(await self._db.read(lambda conn: conn.execute(query).scalars().all()))

    async def approve_batch(self, actor: Actor, batch_id: str, version: int) -> list[str]:
        """ "Approve all": the round and every row waiting for it, in one write; returns the rows
        approved (their pipelines start, with this process's lease taken in the same write)."""
        found = await self._decidable_batch(actor, batch_id, version)
        moved = await self._decide_batch(
            actor,
            found,
            version,
            APPROVED,
            RequestState.approved,
            T("approved by {name}", name=actor.name),
            event="approved",
            values=dict(decided_by=actor.name, decided_at=utcnow(), reminders=0, **self._lease_values()),
        )
        if moved is None:
            raise StaleRequest(T("This request was already decided. Here is where it stands."))
        return [request_id for request_id, _ in moved]

    async def reject_batch(self, actor: Actor, batch_id: str, version: int, reason: str) -> list[str]:
        """ "Reject" with a reason: every row waiting is rejected and the user its add put at the
        service removed again (a removal request each, created in the same write); returns those
        removals, to run."""
        reason = rejection_reason(reason)
        found = await self._decidable_batch(actor, batch_id, version)
        moved = await self._decide_batch(
            actor,
            found,
            version,
            REJECTED,
            RequestState.rejected,
            T("rejected by {name}: {reason}", name=actor.name, reason=reason),
            event="rejected",
            note=reason,
            values=dict(decided_by=actor.name, decided_at=utcnow(), decision_note=reason),
        )
        if moved is None:
            raise StaleRequest(T("This request was already decided. Here is where it stands."))
        return [removal for _, removal in moved if removal]

    async def batches_due_for_expiry(self, older_than: timedelta) -> list[str]:
        a = db.batch_approvals
        query = select(a.c.batch_id).where(a.c.state == AWAITING, a.c.asked_at < utcnow() - older_than)
        return list(await self._db.read(lambda conn: conn.execute(query).scalars().all()))

    async def expire_batch(self, batch_id: str, days: float) -> bool:
        """Nobody decided: the round expires (once), its rows too, and their users are removed
        again by removals the pipeline's sweeper runs."""
        found = await self.batch_approval(batch_id)
        if found.state != AWAITING:
            return False
        moved = await self._decide_batch(
            SYSTEM,
            found,
            found.version,
            EXPIRED,
            RequestState.expired,
            T("expired: no global admin decided within {days} days", days=days),
            event="expired",
            values=dict(decided_at=utcnow()),
        )
        return moved is not None

    async def pending_batches(self, tenant_id: str, limit: int = 10) -> list[BatchApproval]:
        a = db.batch_approvals
        query = select(a.c.batch_id).where(a.c.tenant_id == tenant_id, a.c.state == AWAITING).limit(limit)
        ids = await self._db.read(lambda conn: conn.execute(query.order_by(a.c.asked_at)).scalars().all())
        return [await self.batch_approval(batch_id) for batch_id in ids]

    async def _decidable_batch(self, actor: Actor, batch_id: str, version: int) -> BatchApproval:
        found = await self.batch_approval(batch_id)
        if actor.role is not Role.tenant_admin or actor.tenant_id != found.tenant_id:
            await self.audit(actor, found.tenant_id, None, "refused", None, None, T("decide batch: not a GA"))
            raise NotAuthorised(
                T(
                    "Only a global admin of {tenant} can approve or reject this request.",
                    tenant=found.tenant_name,
                )
            )
        if found.version != version or found.state != AWAITING:
            await self.audit(
                actor,
                found.tenant_id,
                None,
                "refused",
                None,
                None,
                T("decide batch {batch}: stale card", batch=batch_id[:8]),
            )
            raise StaleRequest(T("This request was already decided. Here is where it stands."))
        return found

    async def _decide_batch(
        self,
        actor: Actor,
        found: BatchApproval,
        version: int,
        to: str,
        rows_to: RequestState,
        outcome: Text,
        *,
        event: str,
        values: dict[str, Any],
        note: str | None = None,
    ) -> list[tuple[str, str | None]] | None:
        """The round's move and its waiting rows', with an audit row each, a removal for each row
        whose user must go (not on an approval), the approvers' cards redrawn and the partner told:
        one transaction. Returns (row, its removal) for each row moved; None if someone was first
        (a double click, another approver, another instance)."""
        a, r = db.batch_approvals, db.requests
        batch_id = found.batch_id
        decide = (
            update(a)
            .where(a.c.batch_id == batch_id, a.c.version == version, a.c.state == AWAITING)
            .values(
                state=to,
                version=version + 1,
                decided_by=actor.name,
                decided_at=utcnow(),
                decision_note=note,
                updated_at=utcnow(),
            )
        )
        waiting = select(r).where(r.c.batch_id == batch_id, r.c.state == RequestState.awaiting_approval.value)
        undo = rows_to is not RequestState.approved

        def work(conn: Connection) -> list[tuple[str, str | None]] | None:
            if conn.execute(decide).rowcount != 1:
                return None
            moved: list[tuple[str, str | None]] = []
            for row in conn.execute(waiting).all():
                request = request_from_row(row)
                row_values = dict(values)
                removal: str | None = None
                if undo and needs_cleanup(request):
                    removal, statements = cleanup_removal(
                        request, actor, expired=rows_to is RequestState.expired
                    )
                    for statement in statements:
                        conn.execute(statement)
                    row_values["values"] = dict(request.values) | {CLEANUP_REQUEST: removal}
                change = (
                    update(r)
                    .where(r.c.request_id == request.request_id, r.c.version == request.version)
                    .where(r.c.state == RequestState.awaiting_approval.value)
                    .values(
                        state=rows_to.value, version=request.version + 1, updated_at=utcnow(), **row_values
                    )
                )
                if conn.execute(change).rowcount != 1:
                    continue
                self._audit(
                    conn,
                    actor,
                    request.tenant_id,
                    request.request_id,
                    {"approved": "approve", "rejected": "reject"}.get(event, "expire"),
                    RequestState.awaiting_approval,
                    rows_to,
                    outcome,
                )
                moved.append((request.request_id, removal))
            enqueue(
                conn,
                [
                    Notice(kind=NoticeKind.batch_approvers_update, request_id=batch_id),
                    Notice(
                        kind=NoticeKind.batch_requester_notice,
                        request_id=batch_id,
                        recipient_tenant_id=found.requester_tenant_id,
                        recipient_id=self._requester_of(conn, batch_id),
                        payload={"event": event, "count": len(moved)},
                    ),
                ],
            )
            return moved

        return await self._db.write(work)

    @staticmethod
    def _requester_of(conn: Connection, batch_id: str) -> str:
        r = db.requests
        return str(conn.execute(select(r.c.requester_id).where(r.c.batch_id == batch_id).limit(1)).scalar())
