"""The tenant's global admins' part of a partner's request: approve, reject, stop a wait for a sign-in,
"Try again"; the follow-ups when they do not answer (two reminders, an escalation, then the expiry,
which, like a rejection, removes the user a partner's add put at the service); and who hears of each
move (partner_notices)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, or_, select, update

from i18n import T
from services import db
from services.db import utcnow
from services.errors import NotAuthorised, RejectionReasonMissing, RequestNotFound, StaleRequest
from services.models import STEP_NAMES, Actor, ProvisioningRequest, RequestKind, RequestState, StepOutcome
from services.notify.outbox import Notice, NoticeKind, enqueue
from services.requests.access import approvers_part, may_approve, may_retry, may_stop_waiting
from services.requests.cleanup import CLEANUP_REQUEST, cleanup_removal, needs_cleanup
from services.requests.leases import PipelineLeases
from services.requests.transitions import OUT_OF_DATE, SYSTEM, RequestTransitions


class Decisions(RequestTransitions, PipelineLeases):
    """With the leases: an approval and a retry start the pipeline, and take its lease in their write."""

    async def approve(self, actor: Actor, request_id: str, version: int) -> ProvisioningRequest:
        """A global admin approves a partner's request: one conditional write decides."""
        request = await self._decidable(actor, request_id, version)
        return await self._transition(
            actor,
            request,
            RequestState.awaiting_approval,
            RequestState.approved,
            "approve",
            T("approved by {name}", name=actor.name),
            notices=partner_notices(request, "approved"),
            decided_by=actor.name,
            decided_at=utcnow(),
            reminders=0,  # the wait for the approval is over; a sign-in wait has its own
            **self._lease_values(),
        )

    async def reject(self, actor: Actor, request_id: str, version: int, reason: str) -> ProvisioningRequest:
        reason = rejection_reason(reason)
        request = await self._decidable(actor, request_id, version)
        also, values = [], request.values
        if needs_cleanup(request):
            # The user the partner's half added goes again, and the extension with them.
            removal_id, also = cleanup_removal(request, actor, expired=False)
            values = dict(request.values) | {CLEANUP_REQUEST: removal_id}
        return await self._transition(
            actor,
            request,
            RequestState.awaiting_approval,
            RequestState.rejected,
            "reject",
            T("rejected by {name}: {reason}", name=actor.name, reason=reason),
            notices=partner_notices(request, "rejected"),
            also=also,
            decided_by=actor.name,
            decided_at=utcnow(),
            decision_note=reason,
            values=values,
        )

    async def _decidable(self, actor: Actor, request_id: str, version: int) -> ProvisioningRequest:
        try:
            request = await self.get(request_id)
        except RequestNotFound:
            await self.audit(
                actor, actor.tenant_id, request_id, "refused", None, None, T("decide: unknown request")
            )
            raise
        if not may_approve(actor, request):
            await self.audit(
                actor, request.tenant_id, request_id, "refused", request.state, None, T("decide: not a GA")
            )
            raise NotAuthorised(
                T(
                    "Only a global admin of {tenant} can approve or reject this request.",
                    tenant=request.tenant_name,
                )
            )
        if request.batch_id and request.state is RequestState.awaiting_approval:
            # A crafted click: a bulk add's rows are decided together, on the batch's card.
            raise StaleRequest(T("This user is part of a bulk add: decide on the bulk add's card."))
        if request.version != version or request.state is not RequestState.awaiting_approval:
            await self.audit(
                actor,
                request.tenant_id,
                request_id,
                "refused",
                request.state,
                None,
                T(
                    "decide: stale card (version {version}, now {current})",
                    version=version,
                    current=request.version,
                ),
            )
            raise StaleRequest(T("This request was already decided. Here is where it stands."))
        return request

    async def retry(self, actor: Actor, request_id: str, version: int) -> ProvisioningRequest:
        """ "Try again" on a failed step, or "Get a new sign-in link" while a Global Admin sign-in
        is awaited (the step runs again: a fresh link, or done if consent was granted meanwhile)."""
        request = await self._for_change(actor, request_id, version)
        if request.state not in (RequestState.failed, RequestState.awaiting_admin_sign_in):
            raise StaleRequest(OUT_OF_DATE)
        if request.resume_state is None:
            raise StaleRequest(T("This request cannot be retried."))
        if not may_retry(actor, request):
            await self.audit(
                actor, request.tenant_id, request_id, "refused", request.state, None, T("retry: not a GA")
            )
            raise NotAuthorised(
                T("Only a global admin of {tenant} can retry this step.", tenant=request.tenant_name)
            )
        steps = request.steps
        for name in STEP_NAMES:
            if getattr(steps, name) is StepOutcome.failed:
                steps = steps.noted(name, StepOutcome.pending)
        return await self._transition(
            actor,
            request,
            request.state,
            request.resume_state,
            "retry",
            T("new sign-in link") if request.state is RequestState.awaiting_admin_sign_in else T("try again"),
            notices=partner_notices(request, None) if approvers_part(request) else [],
            also=[
                update(db.admin_sign_ins)
                .where(db.admin_sign_ins.c.request_id == request_id, db.admin_sign_ins.c.used_at.is_(None))
                .values(used_at=utcnow(), outcome="superseded")
            ],
            error=None,
            sign_in_url=None,
            sign_in_expires_at=None,
            steps=steps.model_dump(mode="json"),
            **self._lease_values(),
        )

    async def _stop_waiting_for_sign_in(
        self, actor: Actor, request: ProvisioningRequest
    ) -> ProvisioningRequest:
        """Nobody will sign in: stop. The user stays added at the provisioning service, without
        calling; its links stop working. A partner's request is the tenant's admins' to stop."""
        if not may_stop_waiting(actor, request):
            await self.audit(
                actor,
                request.tenant_id,
                request.request_id,
                "refused",
                request.state,
                None,
                T("stop: not a GA"),
            )
            raise NotAuthorised(
                T("Only a global admin of {tenant} can stop this request.", tenant=request.tenant_name)
            )
        t = db.admin_sign_ins
        steps = request.steps.noted(
            "calling", request.steps.calling, T("Not enabled: stopped before a sign-in")
        )
        return await self._transition(
            actor,
            request,
            RequestState.awaiting_admin_sign_in,
            RequestState.cancelled,
            "cancel",
            T("stopped by {name} while waiting for a Global Admin sign-in", name=actor.name),
            notices=partner_notices(request, "stopped"),
            also=[
                update(t)
                .where(t.c.request_id == request.request_id, t.c.used_at.is_(None))
                .values(used_at=utcnow(), outcome="cancelled")
            ],
            sign_in_url=None,
            sign_in_expires_at=None,
            decision_note=T("Stopped by {name} before calling was enabled", name=actor.name).encode(),
            steps=steps.model_dump(mode="json"),
        )

    # -- follow-ups: reminders, an escalation, the expiry --------------------------------------

    async def due_for_reminder(self, older_than: timedelta) -> list[ProvisioningRequest]:
        """Partner requests waiting for a global admin whose next follow-up is due: the first
        reminder `older_than` after the wait began, each next one `older_than` after the last,
        the third being the escalation."""
        cutoff = utcnow() - older_than
        r = db.requests
        due = or_(
            and_(r.c.reminders == 0, r.c.updated_at < cutoff),
            and_(r.c.reminders > 0, r.c.reminders < FOLLOW_UPS, r.c.reminded_at < cutoff),
        )
        return await self._all(select(r).where(_waiting_for_admins(), due))

    async def remind(self, request: ProvisioningRequest) -> bool:
        """The request's next follow-up, once (whoever else looks at it at the same time): a
        reminder to the tenant's global admins and a word to the partner; the last one is an
        escalation, which tells both that the request expires if nobody decides."""
        admins = await self._directory.global_admins(request.tenant_id)
        r = db.requests
        stage = request.reminders + 1
        mark = (
            update(r)
            .where(r.c.request_id == request.request_id, _waiting_for_admins())
            .where(r.c.state == request.state.value, r.c.reminders == request.reminders)
            .values(reminded_at=utcnow(), reminders=stage)
        )
        event = "escalated" if stage >= FOLLOW_UPS else "reminded"

        def work(conn: Connection) -> bool:
            if conn.execute(mark).rowcount != 1:
                return False
            payload = {"state": request.state.value, "stage": stage}
            notices = [
                Notice(
                    kind=NoticeKind.admin_reminder,
                    request_id=request.request_id,
                    recipient_tenant_id=a.tenant_id,
                    recipient_id=a.aad_object_id,
                    payload=payload,
                )
                for a in admins
            ]
            notices.append(_requester_notice(request, {"event": event} | payload))
            enqueue(conn, notices)
            self._audit(
                conn,
                SYSTEM,
                request.tenant_id,
                request.request_id,
                "escalate" if event == "escalated" else "remind",
                request.state,
                request.state,
                T("reminded {count} global admin(s)", count=len(admins))
                if event == "reminded"
                else T("escalated to {count} global admin(s) and the partner", count=len(admins)),
            )
            return True

        return await self._db.write(work)

    async def due_for_expiry(self, older_than: timedelta) -> list[ProvisioningRequest]:
        """Partner requests still waiting for an approval `older_than` after they began to."""
        r = db.requests
        waiting = and_(
            r.c.kind == RequestKind.partner.value,
            r.c.state == RequestState.awaiting_approval.value,
            r.c.batch_id.is_(None),  # a bulk add's rows expire with their batch
        )
        return await self._all(select(r).where(waiting, r.c.updated_at < utcnow() - older_than))

    async def expire(self, request: ProvisioningRequest, days: float) -> ProvisioningRequest | None:
        """Nobody decided: the request expires (once), the partner and every approver's copy are
        told, and the user a partner's add put at the service is removed again. None if it was
        decided meanwhile."""
        also, values = [], request.values
        if needs_cleanup(request):
            removal_id, also = cleanup_removal(request, SYSTEM, expired=True)
            values = dict(request.values) | {CLEANUP_REQUEST: removal_id}
        return await self._try_transition(
            SYSTEM,
            request,
            RequestState.awaiting_approval,
            RequestState.expired,
            "expire",
            T("expired: no global admin decided within {days} days", days=days),
            notices=partner_notices(request, "expired"),
            also=also,
            values=values,
            decided_at=utcnow(),
        )


def rejection_reason(typed: str) -> str:
    """The reason a global admin gave for a rejection, on one line; refused when empty or too long
    (the partner sees it)."""
    reason = " ".join(typed.split())
    if not reason:
        raise RejectionReasonMissing(T("Please give a reason for the rejection: the partner will see it."))
    if len(reason) > 500 or any(not c.isprintable() for c in reason):
        raise RejectionReasonMissing(T("The reason must be at most 500 printable characters."))
    return reason


def partner_notices(request: ProvisioningRequest, event: str | None) -> list[Notice]:
    """Who hears of a partner's request moving: every approver's copy of the approval card is
    redrawn, and on an `event` the partner is told in words. An admin's own request tells nobody,
    nor does a bulk add's row: its batch's runner shows the counts on one card and sends the
    results, and its approvers' card is the batch's (services/requests/batch_approvals.py)."""
    if request.kind is not RequestKind.partner or request.batch_id:
        return []
    notices = [Notice(kind=NoticeKind.approvers_update, request_id=request.request_id)]
    if event:
        notices.append(_requester_notice(request, {"event": event}))
    return notices


def _requester_notice(request: ProvisioningRequest, payload: dict[str, Any]) -> Notice:
    return Notice(
        kind=NoticeKind.requester_notice,
        request_id=request.request_id,
        recipient_tenant_id=request.requester_tenant_id,
        recipient_id=request.requester_id,
        payload=payload,
    )


# How many follow-ups a wait gets: two reminders, then the escalation.
FOLLOW_UPS = 3


def _waiting_for_admins() -> ColumnElement[bool]:
    """A partner's request waiting for an approval, or approved and waiting for a Global Admin's
    sign-in."""
    r = db.requests
    approving = and_(r.c.state == RequestState.awaiting_approval.value, r.c.batch_id.is_(None))
    signing = r.c.state == RequestState.awaiting_admin_sign_in.value
    # A bulk add's rows wait for their batch's one approval, followed up as a batch.
    return and_(r.c.kind == RequestKind.partner.value, or_(approving, signing))
