"""The tenant's global admins' part of a partner's request: approve, reject, stop a wait for a sign-in,
"Try again"; the reminders when they do not answer; and who hears of each move (partner_notices)."""

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
            **self._lease_values(),
        )

    async def reject(self, actor: Actor, request_id: str, version: int, reason: str) -> ProvisioningRequest:
        reason = " ".join(reason.split())
        if not reason:
            raise RejectionReasonMissing(
                T("Please give a reason for the rejection: the partner will see it.")
            )
        if len(reason) > 500 or any(not c.isprintable() for c in reason):
            raise RejectionReasonMissing(T("The reason must be at most 500 printable characters."))
        request = await self._decidable(actor, request_id, version)
        return await self._transition(
            actor,
            request,
            RequestState.awaiting_approval,
            RequestState.rejected,
            "reject",
            T("rejected by {name}: {reason}", name=actor.name, reason=reason),
            notices=partner_notices(request, "rejected"),
            decided_by=actor.name,
            decided_at=utcnow(),
            decision_note=reason,
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

    # -- reminders -------------------------------------------------------------------------------

    async def due_for_reminder(self, older_than: timedelta) -> list[ProvisioningRequest]:
        cutoff = utcnow() - older_than
        return await self._all(select(db.requests).where(_reminder_due(), db.requests.c.updated_at < cutoff))

    async def remind(self, request: ProvisioningRequest) -> bool:
        """One reminder per request to its global admins, and a word to the partner; once."""
        admins = await self._directory.global_admins(request.tenant_id)
        r = db.requests
        mark = (
            update(r)
            .where(r.c.request_id == request.request_id, _reminder_due())
            .values(reminded_at=utcnow())
        )

        def work(conn: Connection) -> bool:
            if conn.execute(mark).rowcount != 1:
                return False
            notices = [
                Notice(
                    kind=NoticeKind.admin_reminder,
                    request_id=request.request_id,
                    recipient_tenant_id=a.tenant_id,
                    recipient_id=a.aad_object_id,
                    payload={"state": request.state.value},
                )
                for a in admins
            ]
            notices.append(_requester_notice(request, {"event": "reminded", "state": request.state.value}))
            enqueue(conn, notices)
            self._audit(
                conn,
                SYSTEM,
                request.tenant_id,
                request.request_id,
                "remind",
                request.state,
                request.state,
                T("reminded {count} global admin(s)", count=len(admins)),
            )
            return True

        return await self._db.write(work)


def partner_notices(request: ProvisioningRequest, event: str | None) -> list[Notice]:
    """Who hears of a partner's request moving: every approver's copy of the approval card is
    redrawn, and on an `event` the partner is told in words. An admin's own request tells nobody."""
    if request.kind is not RequestKind.partner:
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


def _reminder_due() -> ColumnElement[bool]:
    """A partner's request waiting for an approval, or approved and waiting for a Global Admin's
    sign-in, not reminded yet (a reminder sent while it waited for the approval does not count)."""
    r = db.requests
    return and_(
        r.c.kind == RequestKind.partner.value,
        or_(
            and_(r.c.state == RequestState.awaiting_approval.value, r.c.reminded_at.is_(None)),
            and_(
                r.c.state == RequestState.awaiting_admin_sign_in.value,
                or_(r.c.reminded_at.is_(None), r.c.reminded_at < r.c.decided_at),
            ),
        ),
    )
