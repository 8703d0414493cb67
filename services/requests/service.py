"""The request workflow: drafts, the add-user pipeline and its state machine, with an audit trail.

Every transition is one conditional UPDATE (`WHERE state = <expected>`), so a double click, a
retried invoke or two people acting at once can never run a step twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, desc, insert, or_, select, update
from sqlalchemy.sql import Executable

from services import db
from services.db import Database, as_utc, utcnow
from services.directory import Directory, Person
from services.errors import (
    AdminSignInRequired,
    NotAuthorised,
    ProvisioningError,
    RejectionReasonMissing,
    RequestNotFound,
    SignInLinkInvalid,
    StaleRequest,
)
from services.models import (
    WORKING_STATES,
    Actor,
    AdminSignInResult,
    AuditEntry,
    FormOptions,
    ProvisioningRequest,
    RequestKind,
    RequestState,
    Role,
    StepOutcome,
    Steps,
)
from services.notify.outbox import Notice, NoticeKind, enqueue
from services.passwords import generate_device_password
from services.provisioning.protocol import ProvisioningService
from services.requests.form import (
    AddUserInput,
    FieldErrors,
    check_form,
    needs_voicemail_confirmation,
    to_spec,
)

log = logging.getLogger(__name__)

Progress = Callable[[ProvisioningRequest], Awaitable[None]]

SYSTEM = Actor(tenant_id="system", aad_object_id="system", name="the bot")

# Sign-in states of links replaced or used long ago are deleted when a new one is written.
SIGN_IN_KEPT_FOR = timedelta(days=30)


class _SomeoneWasFirst(Exception):
    """Rolls a transaction back when its conditional write found the row already changed."""

    def __init__(self, actor: Actor) -> None:
        super().__init__()
        self.actor = actor


_SIGNED_IN_STATES = frozenset({RequestState.admin_signed_in, RequestState.calling_enabled, RequestState.done})


@dataclass
class FormResult:
    """The outcome of a form submit: the saved draft, and what is still wrong with it."""

    request: ProvisioningRequest
    options: FormOptions
    errors: FieldErrors = field(default_factory=dict)
    confirm_voicemail: bool = False

    @property
    def ready_for_review(self) -> bool:
        return not self.errors and not self.confirm_voicemail


class RequestService:
    """Creates and moves provisioning requests; the only code that writes the requests table."""

    def __init__(
        self,
        database: Database,
        provisioning: ProvisioningService,
        directory: Directory,
        *,
        lease_seconds: float = 60.0,
    ) -> None:
        self._db = database
        self._provisioning = provisioning
        self._directory = directory
        # Which process runs a request's pipeline: another instance takes it over only once the
        # lease has run out (its holder died), so two instances never run the same steps.
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._lease = timedelta(seconds=lease_seconds)
        # Pipelines this process runs now, each with the callers that asked for it meanwhile (a
        # decision landing while it finishes): the running loop carries on with their actor.
        self._running: dict[str, list[tuple[Progress | None, Actor | None]]] = {}

    # -- reading -------------------------------------------------------------------------------

    @staticmethod
    def get_in(conn: Connection, request_id: str) -> ProvisioningRequest:
        return _request(conn.execute(_BY_ID, {"request_id": request_id}).one())

    async def get(self, request_id: str) -> ProvisioningRequest:
        row = await self._db.read(lambda conn: conn.execute(_BY_ID, {"request_id": request_id}).first())
        if row is None:
            raise RequestNotFound("That request does not exist (any more).")
        return _request(row)

    async def get_for(self, actor: Actor, request_id: str) -> ProvisioningRequest:
        """The request, if this actor may see it: its requester, or a global admin of its tenant."""
        try:
            request = await self.get(request_id)
        except RequestNotFound:
            await self.audit(actor, actor.tenant_id, request_id, "refused", None, None, "unknown request")
            raise
        if not self.may_see(actor, request):
            await self.audit(
                actor, request.tenant_id, request_id, "refused", request.state, None, "not allowed"
            )
            raise NotAuthorised("You are not allowed to see or change that request.")
        return request

    @staticmethod
    def is_requester(actor: Actor, request: ProvisioningRequest) -> bool:
        return actor.tenant_id == request.requester_tenant_id and actor.aad_object_id == request.requester_id

    @staticmethod
    def may_see(actor: Actor, request: ProvisioningRequest) -> bool:
        is_requester = RequestService.is_requester(actor, request)
        is_admin = actor.role is Role.tenant_admin and actor.tenant_id == request.tenant_id
        return is_requester or is_admin

    async def requests_of(self, actor: Actor, limit: int = 20) -> list[ProvisioningRequest]:
        r = db.requests
        query = (
            select(r)
            .where(r.c.requester_tenant_id == actor.tenant_id, r.c.requester_id == actor.aad_object_id)
            .where(r.c.state != RequestState.cancelled.value)
            .order_by(desc(r.c.created_at))
            .limit(limit)
        )
        return [_request(row) for row in await self._db.read(lambda conn: conn.execute(query).all())]

    async def awaiting_approval(self, tenant_id: str, limit: int = 10) -> list[ProvisioningRequest]:
        """Partner requests of the tenant that wait for one of its global admins: to approve, or to
        sign in (a tenant without service-provider consent)."""
        r = db.requests
        waiting = (RequestState.awaiting_approval.value, RequestState.awaiting_admin_sign_in.value)
        query = (
            select(r)
            .where(
                r.c.tenant_id == tenant_id,
                r.c.kind == RequestKind.partner.value,
                r.c.state.in_(waiting),
            )
            # Approvals first (the sign-ins have their own button and reminder), then oldest first.
            .order_by((r.c.state == RequestState.awaiting_approval.value).desc(), r.c.created_at)
            .limit(limit)
        )
        return [_request(row) for row in await self._db.read(lambda conn: conn.execute(query).all())]

    async def global_admins(self, tenant_id: str) -> list[Person]:
        return await self._directory.global_admins(tenant_id)

    async def set_approval_card(
        self, request_id: str, approver_tenant_id: str, approver_id: str, card_ref: dict[str, Any]
    ) -> None:
        a = db.approval_cards
        key = and_(
            a.c.request_id == request_id,
            a.c.approver_tenant_id == approver_tenant_id,
            a.c.approver_id == approver_id,
        )

        def work(conn: Connection) -> None:
            if conn.execute(update(a).where(key).values(card_ref=card_ref)).rowcount == 0:
                conn.execute(
                    insert(a).values(
                        request_id=request_id,
                        approver_tenant_id=approver_tenant_id,
                        approver_id=approver_id,
                        card_ref=card_ref,
                    )
                )

        await self._db.write(work)

    async def approval_cards(self, request_id: str) -> list[tuple[str, str, dict[str, Any]]]:
        a = db.approval_cards
        rows = await self._db.read(
            lambda conn: conn.execute(select(a).where(a.c.request_id == request_id)).all()
        )
        return [(r.approver_tenant_id, r.approver_id, r.card_ref) for r in rows]

    async def open_draft_of(self, actor: Actor) -> ProvisioningRequest | None:
        r = db.requests
        query = (
            select(r)
            .where(r.c.requester_tenant_id == actor.tenant_id, r.c.requester_id == actor.aad_object_id)
            .where(r.c.state == RequestState.draft.value)
            .order_by(desc(r.c.created_at))
            .limit(1)
        )
        row = await self._db.read(lambda conn: conn.execute(query).first())
        return _request(row) if row else None

    async def in_flight(self) -> list[ProvisioningRequest]:
        """Requests whose pipeline was interrupted (e.g. by a restart) and should be resumed."""
        r = db.requests
        states = [s.value for s in WORKING_STATES]
        free = or_(r.c.worker_lease_until.is_(None), r.c.worker_lease_until < utcnow())
        rows = await self._db.read(
            lambda conn: conn.execute(select(r).where(r.c.state.in_(states), free)).all()
        )
        return [_request(row) for row in rows]

    async def _claim(self, request_id: str) -> bool:
        """Take (or renew) the pipeline lease; False when another live worker holds it."""
        r = db.requests
        now = utcnow()
        mine_or_free = or_(
            r.c.worker_id == self.worker_id, r.c.worker_lease_until.is_(None), r.c.worker_lease_until < now
        )
        claim = update(r).where(r.c.request_id == request_id, mine_or_free).values(**self._lease_values())
        return await self._db.write(lambda conn: conn.execute(claim).rowcount == 1)

    def _lease_values(self) -> dict[str, Any]:
        """Also written by the click that starts a pipeline (submit, approve, retry), in the same
        statement: no other instance's sweep takes the request before this one's run starts."""
        return {"worker_id": self.worker_id, "worker_lease_until": utcnow() + self._lease}

    async def _keep_lease(self, request_id: str) -> None:
        """Renews the lease while a step runs: a slow provisioning call (retries, Retry-After)
        must not look like a dead instance to the others."""
        r = db.requests
        while True:
            await asyncio.sleep(self._lease.total_seconds() / 3)
            renew = (
                update(r)
                .where(r.c.request_id == request_id, r.c.worker_id == self.worker_id)
                .values(worker_lease_until=utcnow() + self._lease)
            )
            try:
                await self._db.write(lambda conn, renew=renew: conn.execute(renew))
            except Exception:
                log.warning("could not renew the pipeline lease", exc_info=True)

    async def release_leases(self) -> int:
        """On a graceful stop, after the running work was drained or cancelled: give back every
        lease of this process (also of work cancelled before it started), so a restart or another
        instance resumes those requests at once instead of when the leases run out."""
        r = db.requests
        release = (
            update(r).where(r.c.worker_id == self.worker_id).values(worker_id=None, worker_lease_until=None)
        )
        return await self._db.write(lambda conn: conn.execute(release).rowcount)

    async def _release(self, request_id: str) -> None:
        r = db.requests
        release = (
            update(r)
            .where(r.c.request_id == request_id, r.c.worker_id == self.worker_id)
            .values(worker_id=None, worker_lease_until=None)
        )
        await self._db.write(lambda conn: conn.execute(release))

    async def card_ref(self, request_id: str) -> dict[str, Any] | None:
        return await self._db.read(
            lambda conn: conn.execute(_CARD_REF, {"request_id": request_id}).scalar_one_or_none()
        )

    async def set_card_ref(self, request_id: str, card_ref: dict[str, Any]) -> None:
        """Written only when it changed: every click on a card sends its reference again, and a
        read costs much less than a write (on SQLite the write waits for the one writer)."""
        if await self.card_ref(request_id) == card_ref:
            return
        change = update(db.requests).where(db.requests.c.request_id == request_id).values(card_ref=card_ref)
        await self._db.write(lambda conn: conn.execute(change))

    async def form_options(self, request: ProvisioningRequest) -> FormOptions:
        return await self._provisioning.form_options(request.tenant_id)

    async def audit_of_tenant(self, tenant_id: str, limit: int = 50) -> list[AuditEntry]:
        a = db.audit
        query = select(a).where(a.c.tenant_id == tenant_id).order_by(desc(a.c.id)).limit(limit)
        rows = await self._db.read(lambda conn: conn.execute(query).all())
        return [
            AuditEntry(
                at=as_utc(row.at),
                actor_tenant_id=row.actor_tenant_id,
                actor_id=row.actor_id,
                actor_name=row.actor_name,
                tenant_id=row.tenant_id,
                request_id=row.request_id,
                action=row.action,
                from_state=row.from_state,
                to_state=row.to_state,
                outcome=row.outcome,
            )
            for row in rows
        ]

    # -- the draft -------------------------------------------------------------------------------

    async def start_draft(self, actor: Actor, tenant_id: str | None = None) -> ProvisioningRequest:
        """A new draft for the actor's own tenant (admin) or an enterprise it manages (partner)."""
        if actor.role is Role.tenant_admin:
            tenant_id = actor.tenant_id
            kind = RequestKind.admin
        elif actor.role is Role.partner:
            managed = {t.tenant_id for t in await self._provisioning.enterprises_of(actor.tenant_id)}
            if tenant_id not in managed:
                await self.audit(actor, tenant_id, None, "refused", None, None, "not managed")
                raise NotAuthorised("You do not manage that enterprise.")
            kind = RequestKind.partner
        else:
            await self.audit(actor, tenant_id or actor.tenant_id, None, "refused", None, None, "no role")
            raise NotAuthorised(
                "Only a global administrator of this tenant or a partner who manages it can add phone users."
            )
        tenant = await self._provisioning.tenant(tenant_id)
        if tenant is None:
            raise ProvisioningError("That tenant is not set up at the provisioning service.")
        options = await self._provisioning.form_options(tenant_id)
        now = utcnow()
        values: dict[str, str | bool] = {
            "pbx_location": options.pbx_locations[0] if len(options.pbx_locations) == 1 else "",
            "voice_route": options.voice_routes[0].name if len(options.voice_routes) == 1 else "",
            "disable_voicemail": True,
            "default_dial_plan": True,
        }
        row = {
            "request_id": str(uuid.uuid4()),
            "kind": kind.value,
            "tenant_id": tenant.tenant_id,
            "tenant_name": tenant.name,
            "requester_tenant_id": actor.tenant_id,
            "requester_id": actor.aad_object_id,
            "requester_name": actor.name,
            "state": RequestState.draft.value,
            "version": 1,
            "values": values,
            "steps": Steps().model_dump(mode="json"),
            "created_at": now,
            "updated_at": now,
        }

        def work(conn: Connection) -> Any:
            created = conn.execute(insert(db.requests).values(**row).returning(*db.requests.c)).one()
            self._audit(
                conn,
                actor,
                tenant.tenant_id,
                row["request_id"],
                "create",
                None,
                RequestState.draft,
                "draft created",
            )
            return created

        return _request(await self._db.write(work))

    async def save_form(
        self, actor: Actor, request_id: str, version: int, data: Mapping[str, Any]
    ) -> FormResult:
        """Validate and keep what the form card sent; the draft keeps every value, good or bad."""
        request = await self._for_change(actor, request_id, version, RequestState.draft)
        form, errors = AddUserInput.from_card(data)
        options = await self._provisioning.form_options(request.tenant_id)
        errors = await check_form(self._provisioning, options, form, errors)
        values = form.model_dump(mode="json")
        if "extension" not in errors and form.extension:
            # The portal's manual fixes, automated: phone number = extension, device id = ext + "t".
            if not values.get("phone_number"):
                values["phone_number"] = form.extension
            if not values.get("sip_auth_id") and "sip_auth_id" in errors:
                values["sip_auth_id"] = f"{form.extension}t"
                errors.pop("sip_auth_id")
        confirm = not errors and needs_voicemail_confirmation(form)
        values["reviewed"] = not errors and not confirm
        request = await self._update_draft(request, values)
        return FormResult(request=request, options=options, errors=errors, confirm_voicemail=confirm)

    async def reopen_form(self, actor: Actor, request_id: str, version: int) -> FormResult:
        """Back from the review (or a refused add) to the form, values kept."""
        request = await self._for_change(actor, request_id, version)
        if request.state is RequestState.failed and request.resume_state is RequestState.submitted:
            request = await self._transition(
                actor,
                request,
                RequestState.failed,
                RequestState.draft,
                "edit",
                "back to the form",
                error=None,
                resume_state=None,
                steps=Steps().model_dump(mode="json"),
            )
        elif request.state is not RequestState.draft:
            raise StaleRequest("This request can no longer be edited.")
        values = dict(request.values) | {"reviewed": False}
        request = await self._update_draft(request, values)
        return FormResult(request=request, options=await self.form_options(request))

    async def _update_draft(
        self, request: ProvisioningRequest, values: dict[str, Any]
    ) -> ProvisioningRequest:
        r = db.requests
        change = (
            update(r)
            .where(r.c.request_id == request.request_id)
            .where(r.c.state == RequestState.draft.value, r.c.version == request.version)
            .values(values=values, version=request.version + 1, updated_at=utcnow())
            .returning(*r.c)
        )
        row = await self._db.write(lambda conn: conn.execute(change).first())
        if row is None:
            raise StaleRequest("This card is out of date: the request changed meanwhile.")
        return _request(row)

    # -- transitions -----------------------------------------------------------------------------

    async def submit(self, actor: Actor, request_id: str, version: int) -> FormResult:
        """Review confirmed: check everything once more, then draft -> submitted."""
        request = await self._for_change(actor, request_id, version, RequestState.draft)
        options = await self._provisioning.form_options(request.tenant_id)
        form, errors = AddUserInput.from_card(_as_card_values(request.values))
        errors = await check_form(self._provisioning, options, form, errors)
        if errors or not request.values.get("reviewed"):
            values = dict(request.values) | {"reviewed": False}
            request = await self._update_draft(request, values)
            return FormResult(request=request, options=options, errors=errors)
        spec = to_spec(form)
        request = await self._transition(
            actor,
            request,
            RequestState.draft,
            RequestState.submitted,
            "submit",
            f"add {spec.teams_user} with extension {spec.extension}",
            values=spec.model_dump(mode="json") | {"voicemail_confirmed": form.voicemail_confirmed},
            **self._lease_values(),
        )
        return FormResult(request=request, options=options)

    async def cancel(self, actor: Actor, request_id: str, version: int | None = None) -> ProvisioningRequest:
        request = await self._for_change(actor, request_id, version)
        if request.state is RequestState.failed and request.resume_state is RequestState.submitted:
            from_state = RequestState.failed
        elif request.state is RequestState.draft:
            from_state = RequestState.draft
        elif request.state is RequestState.awaiting_admin_sign_in:
            return await self._stop_waiting_for_sign_in(actor, request)
        else:
            raise StaleRequest("This request is already being provisioned and cannot be cancelled.")
        return await self._transition(
            actor, request, from_state, RequestState.cancelled, "cancel", "cancelled by requester"
        )

    async def _stop_waiting_for_sign_in(
        self, actor: Actor, request: ProvisioningRequest
    ) -> ProvisioningRequest:
        """Nobody will sign in: stop. The user stays added at the provisioning service, without
        calling; its links stop working. A partner's request is the tenant's admins' to stop."""
        if request.kind is RequestKind.partner and not self.is_approver(actor, request):
            await self.audit(
                actor, request.tenant_id, request.request_id, "refused", request.state, None, "stop: not a GA"
            )
            raise NotAuthorised(f"Only a global admin of {request.tenant_name} can stop this request.")
        t = db.admin_sign_ins
        steps = request.steps.model_copy(update={"calling_note": "Not enabled: stopped before a sign-in"})
        return await self._transition(
            actor,
            request,
            RequestState.awaiting_admin_sign_in,
            RequestState.cancelled,
            "cancel",
            f"stopped by {actor.name} while waiting for a Global Admin sign-in",
            sign_in_url=None,
            sign_in_expires_at=None,
            decision_note=f"Stopped by {actor.name} before calling was enabled",
            steps=steps.model_dump(mode="json"),
            notices=self._partner_notices(request, "stopped"),
            also=[
                update(t)
                .where(t.c.request_id == request.request_id, t.c.used_at.is_(None))
                .values(used_at=utcnow(), outcome="cancelled")
            ],
        )

    async def retry(self, actor: Actor, request_id: str, version: int) -> ProvisioningRequest:
        """ "Try again" on a failed step, or "Get a new sign-in link" while a Global Admin sign-in
        is awaited (the step runs again: a fresh link, or done if consent was granted meanwhile)."""
        request = await self._for_change(actor, request_id, version)
        if request.state not in (RequestState.failed, RequestState.awaiting_admin_sign_in):
            raise StaleRequest("This card is out of date. Here is the request as it is now.")
        if request.resume_state is None:
            raise StaleRequest("This request cannot be retried.")
        admins_half = (
            request.kind is RequestKind.partner and request.resume_state is not RequestState.submitted
        )
        if admins_half and not self.is_approver(actor, request):
            await self.audit(
                actor, request.tenant_id, request_id, "refused", request.state, None, "retry: not a GA"
            )
            raise NotAuthorised(f"Only a global admin of {request.tenant_name} can retry this step.")
        steps = request.steps.model_copy()
        for name in ("add_user", "sync", "calling"):
            if getattr(steps, name) is StepOutcome.failed:
                setattr(steps, name, StepOutcome.pending)
                setattr(steps, f"{name}_note", "")
        return await self._transition(
            actor,
            request,
            request.state,
            request.resume_state,
            "retry",
            "new sign-in link" if request.state is RequestState.awaiting_admin_sign_in else "try again",
            error=None,
            sign_in_url=None,
            sign_in_expires_at=None,
            also=[
                update(db.admin_sign_ins)
                .where(db.admin_sign_ins.c.request_id == request_id, db.admin_sign_ins.c.used_at.is_(None))
                .values(used_at=utcnow(), outcome="superseded")
            ],
            steps=steps.model_dump(mode="json"),
            notices=self._partner_notices(request, None) if admins_half else [],
            **self._lease_values(),
        )

    @staticmethod
    def is_approver(actor: Actor, request: ProvisioningRequest) -> bool:
        return actor.role is Role.tenant_admin and actor.tenant_id == request.tenant_id

    async def approve(self, actor: Actor, request_id: str, version: int) -> ProvisioningRequest:
        """A global admin approves a partner's request: one conditional write decides."""
        request = await self._decidable(actor, request_id, version)
        return await self._transition(
            actor,
            request,
            RequestState.awaiting_approval,
            RequestState.approved,
            "approve",
            f"approved by {actor.name}",
            decided_by=actor.name,
            decided_at=utcnow(),
            notices=self._partner_notices(request, "approved"),
            **self._lease_values(),
        )

    async def reject(self, actor: Actor, request_id: str, version: int, reason: str) -> ProvisioningRequest:
        reason = " ".join(reason.split())
        if not reason:
            raise RejectionReasonMissing("Please give a reason for the rejection: the partner will see it.")
        if len(reason) > 500 or any(not c.isprintable() for c in reason):
            raise RejectionReasonMissing("The reason must be at most 500 printable characters.")
        request = await self._decidable(actor, request_id, version)
        return await self._transition(
            actor,
            request,
            RequestState.awaiting_approval,
            RequestState.rejected,
            "reject",
            f"rejected by {actor.name}: {reason}",
            decided_by=actor.name,
            decided_at=utcnow(),
            decision_note=reason,
            notices=self._partner_notices(request, "rejected"),
        )

    async def _decidable(self, actor: Actor, request_id: str, version: int) -> ProvisioningRequest:
        try:
            request = await self.get(request_id)
        except RequestNotFound:
            await self.audit(
                actor, actor.tenant_id, request_id, "refused", None, None, "decide: unknown request"
            )
            raise
        if not self.is_approver(actor, request):
            await self.audit(
                actor, request.tenant_id, request_id, "refused", request.state, None, "decide: not a GA"
            )
            raise NotAuthorised(
                f"Only a global admin of {request.tenant_name} can approve or reject this request."
            )
        if request.version != version or request.state is not RequestState.awaiting_approval:
            await self.audit(
                actor,
                request.tenant_id,
                request_id,
                "refused",
                request.state,
                None,
                f"decide: stale card (version {version}, now {request.version})",
            )
            raise StaleRequest("This request was already decided. Here is where it stands.")
        return request

    @staticmethod
    def _partner_notices(request: ProvisioningRequest, event: str | None) -> list[Notice]:
        if request.kind is not RequestKind.partner:
            return []
        notices = [Notice(kind=NoticeKind.approvers_update, request_id=request.request_id)]
        if event:
            notices.append(
                Notice(
                    kind=NoticeKind.requester_notice,
                    request_id=request.request_id,
                    recipient_tenant_id=request.requester_tenant_id,
                    recipient_id=request.requester_id,
                    payload={"event": event},
                )
            )
        return notices

    async def due_for_reminder(self, older_than: timedelta) -> list[ProvisioningRequest]:
        r = db.requests
        cutoff = utcnow() - older_than
        query = select(r).where(_reminder_due(), r.c.updated_at < cutoff)
        return [_request(row) for row in await self._db.read(lambda conn: conn.execute(query).all())]

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
            notices.append(
                Notice(
                    kind=NoticeKind.requester_notice,
                    request_id=request.request_id,
                    recipient_tenant_id=request.requester_tenant_id,
                    recipient_id=request.requester_id,
                    payload={"event": "reminded", "state": request.state.value},
                )
            )
            enqueue(conn, notices)
            self._audit(
                conn,
                SYSTEM,
                request.tenant_id,
                request.request_id,
                "remind",
                request.state,
                request.state,
                f"reminded {len(admins)} global admin(s)",
            )
            return True

        return await self._db.write(work)

    async def run(
        self, request_id: str, on_progress: Progress | None = None, actor: Actor | None = None
    ) -> ProvisioningRequest:
        """Run the pipeline from wherever the request stands until it ends, fails or must wait.

        Only the holder of the request's lease runs it; another instance finds it taken and
        leaves it. In this process, a second caller (an approval landing while the partner's
        part finishes) hands its actor to the running loop, which carries on with it.
        """
        if request_id in self._running:
            self._running[request_id].append((on_progress, actor))
            return await self.get(request_id)
        self._running[request_id] = []
        try:
            request = await self.get(request_id)
            while True:
                if _STEPS.get((request.kind, request.state)) is not None:
                    claimed_at = time.monotonic()  # before: the lease counts from before the write
                    if not await self._claim(request_id):
                        break  # another instance runs it
                    heartbeat = asyncio.get_running_loop().create_task(self._keep_lease(request_id))
                    try:
                        request = await self._run_claimed(request, on_progress, actor, claimed_at)
                    finally:
                        heartbeat.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await heartbeat
                        if not self._running[request_id]:  # else: keep it, we carry on at once
                            await self._release(request_id)
                handed = self._running[request_id]
                if not handed:
                    break
                on_progress, actor = handed[-1]
                handed.clear()
                request = await self.get(request_id)
        finally:
            # No await between the last look at the hand-overs and this: a later caller runs itself.
            del self._running[request_id]
        return request

    async def _run_claimed(
        self,
        request: ProvisioningRequest,
        on_progress: Progress | None,
        actor: Actor | None,
        claimed_at: float,
    ) -> ProvisioningRequest:
        request_id = request.request_id
        while request.state in WORKING_STATES:
            step = _STEPS.get((request.kind, request.state))
            if step is None:
                break
            # Renew before a step, unless taken or renewed within a third of the lease (nobody
            # takes a lease over before it runs out); lost it only if we stalled past the lease.
            if time.monotonic() - claimed_at >= self._lease.total_seconds() / 3:
                renewing_at = time.monotonic()
                if not await self._claim(request_id):
                    return await self.get(request_id)
                claimed_at = renewing_at
            try:
                moved = await step(self, request, actor or SYSTEM)
            except ProvisioningError as exc:
                moved = await self._fail(request, exc, actor or SYSTEM)
            except Exception:
                log.exception("provisioning step failed", extra={"request_id": request_id})
                moved = await self._fail(
                    request,
                    ProvisioningError("Something unexpected went wrong at the provisioning step."),
                    actor or SYSTEM,
                )
            if moved is None:  # another worker moved it first
                return await self.get(request_id)
            request = moved
            if on_progress is not None:
                await on_progress(request)
        return request

    async def _step_add_user(self, request: ProvisioningRequest, actor: Actor) -> ProvisioningRequest | None:
        spec = request.spec
        password = generate_device_password()
        await self._provisioning.add_user(request.tenant_id, spec, password)
        del password
        steps = request.steps.model_copy(
            update={"add_user": StepOutcome.done, "add_user_note": f"{spec.teams_user} added"}
        )
        notices: list[Notice] = []
        to = RequestState.user_added
        if request.kind is RequestKind.partner:
            # The partner's half ends here: every global admin of the tenant gets an approval card.
            to = RequestState.awaiting_approval
            notices = [
                Notice(
                    kind=NoticeKind.approval_card,
                    request_id=request.request_id,
                    recipient_tenant_id=admin.tenant_id,
                    recipient_id=admin.aad_object_id,
                )
                for admin in await self._directory.global_admins(request.tenant_id)
            ]
        return await self._try_transition(
            actor,
            request,
            RequestState.submitted,
            to,
            "add_user",
            "user added",
            steps=steps.model_dump(mode="json"),
            notices=notices,
        )

    async def _step_sync(self, request: ProvisioningRequest, actor: Actor) -> ProvisioningRequest | None:
        if await self._provisioning.sync_required(request.tenant_id):
            await self._provisioning.sync_users(request.tenant_id)
            outcome, note = StepOutcome.done, "Teams users synced"
        else:
            outcome, note = StepOutcome.skipped, "Already synced, nothing to do"
        steps = request.steps.model_copy(update={"sync": outcome, "sync_note": note})
        return await self._try_transition(
            actor,
            request,
            request.state,
            RequestState.synced,
            "sync",
            note,
            steps=steps.model_dump(mode="json"),
            notices=self._partner_notices(request, None),
        )

    async def _step_enable_calling(
        self, request: ProvisioningRequest, actor: Actor
    ) -> ProvisioningRequest | None:
        upn = request.spec.teams_user
        if await self._provisioning.calling_enabled(request.tenant_id, upn):
            outcome, note = StepOutcome.skipped, "Calling was already enabled"
        else:
            try:
                await self._provisioning.enable_calling(request.tenant_id, upn)
            except AdminSignInRequired as needed:
                return await self._await_sign_in(request, needed, actor)
            outcome, note = StepOutcome.done, "Calling enabled"
        steps = request.steps.model_copy(update={"calling": outcome, "calling_note": note})
        return await self._try_transition(
            actor,
            request,
            request.state,
            RequestState.calling_enabled,
            "enable_calling",
            note,
            steps=steps.model_dump(mode="json"),
        )

    async def _await_sign_in(
        self, request: ProvisioningRequest, needed: AdminSignInRequired, actor: Actor
    ) -> ProvisioningRequest | None:
        """synced -> awaiting_admin_sign_in, keeping the link for the cards and the state (hashed)
        for the callback; an older link of this request stops working."""
        t = db.admin_sign_ins
        now = utcnow()
        steps = request.steps.model_copy(
            update={
                "calling": StepOutcome.pending,
                "calling_note": f"Waiting for a Global Admin of {request.tenant_name} to sign in",
            }
        )
        asked = select(t.c.state_hash).where(t.c.request_id == request.request_id).limit(1)
        asked_before = await self._db.read(lambda conn: conn.execute(asked).first()) is not None
        return await self._try_transition(
            actor,
            request,
            request.state,
            RequestState.awaiting_admin_sign_in,
            "admin_sign_in_asked",
            f"Global Admin sign-in needed, link valid until {needed.expires_at:%Y-%m-%d %H:%M} UTC",
            sign_in_url=needed.action_url,
            sign_in_expires_at=needed.expires_at,
            resume_state=RequestState.synced.value,
            steps=steps.model_dump(mode="json"),
            # The partner hears of it once, not again with every new link.
            notices=self._partner_notices(request, None if asked_before else "sign_in_needed"),
            also=[
                update(t)
                .where(t.c.request_id == request.request_id, t.c.used_at.is_(None))
                .values(used_at=now, outcome="superseded"),
                delete(t).where(t.c.expires_at < now - SIGN_IN_KEPT_FOR),
                insert(t).values(
                    state_hash=_state_hash(needed.state),
                    request_id=request.request_id,
                    tenant_id=request.tenant_id,
                    upns=list(needed.upns),
                    created_at=now,
                    expires_at=needed.expires_at,
                ),
            ],
        )

    async def complete_admin_sign_in(self, state: str, result: AdminSignInResult) -> ProvisioningRequest:
        """The platform's callback after a Global Admin signed in.

        One transaction takes the state (single use, unexpired) and moves its request
        awaiting_admin_sign_in -> admin_signed_in (a working state, leased to this instance), so a
        "Get a new sign-in link" click can no longer race the completion. Then configureUser with
        the GA's result, and admin_signed_in -> calling_enabled (the caller runs the pipeline to
        the end). A refusal leaves the request failed with "Try again" (a new link); a crash in
        between is resumed by the pipeline, which finds calling on or asks for a new link.
        A result brought back again after that is answered with the request as it stands."""
        request, upns, actor = await self._take_sign_in(state, result)
        if request.state is not RequestState.admin_signed_in:
            return request  # a repeat of a completed callback
        upn = request.spec.teams_user
        try:
            completed = await self._provisioning.complete_admin_sign_in(request.tenant_id, result, upns)
            if upn.lower() not in {u.lower() for u in completed}:
                raise ProvisioningError(f"The provisioning service has no phone user {upn} to finish.")
        except ProvisioningError as exc:
            steps = request.steps.model_copy(
                update={"calling": StepOutcome.failed, "calling_note": exc.message}
            )
            moved = await self._try_transition(
                actor,
                request,
                RequestState.admin_signed_in,
                RequestState.failed,
                "fail",
                exc.message,
                error=exc.message,
                resume_state=RequestState.synced.value,  # "Try again" asks for a new link
                steps=steps.model_dump(mode="json"),
                notices=self._partner_notices(request, "failed"),
            )
            return moved or await self.get(request.request_id)
        steps = request.steps.model_copy(
            update={
                "calling": StepOutcome.done,
                "calling_note": f"Calling enabled after {actor.name} signed in",
            }
        )
        moved = await self._try_transition(
            actor,
            request,
            RequestState.admin_signed_in,
            RequestState.calling_enabled,
            "enable_calling",
            f"calling enabled with {actor.name}'s Global Admin sign-in",
            steps=steps.model_dump(mode="json"),
            notices=self._partner_notices(request, None),
            **self._lease_values(),
        )
        return moved or await self.get(request.request_id)

    async def _take_sign_in(
        self, state: str, result: AdminSignInResult
    ) -> tuple[ProvisioningRequest, list[str], Actor]:
        """Mark the state used and move its request to admin_signed_in, in one transaction; or
        refuse (audited) and change nothing. A state already used for a request that has moved on
        gives that request back (the platform or a browser bringing the result twice)."""
        t, r = db.admin_sign_ins, db.requests
        key = _state_hash(state)
        now = utcnow()

        def take(conn: Connection) -> tuple[ProvisioningRequest | None, list[str], Actor]:
            row = conn.execute(select(t).where(t.c.state_hash == key)).first()
            if row is None:
                raise SignInLinkInvalid(
                    "This sign-in link is not known. Use the newest sign-in button on the card in Teams.",
                    known=False,
                )
            request = self.get_in(conn, row.request_id)
            actor = self._signed_in_actor(request, result)
            if row.used_at is None and as_utc(row.expires_at) > now:
                taken = conn.execute(
                    update(t)
                    .where(t.c.state_hash == key, t.c.used_at.is_(None))
                    .values(used_at=now, outcome="used")
                )
                moved = conn.execute(
                    update(r)
                    .where(
                        r.c.request_id == request.request_id,
                        r.c.state == RequestState.awaiting_admin_sign_in.value,
                        r.c.version == request.version,
                    )
                    .values(
                        state=RequestState.admin_signed_in.value,
                        version=request.version + 1,
                        updated_at=now,
                        sign_in_url=None,
                        sign_in_expires_at=None,
                        **self._lease_values(),
                    )
                )
                if taken.rowcount != 1 or moved.rowcount != 1:
                    raise _SomeoneWasFirst(actor)  # roll back: change nothing
                self._audit(
                    conn,
                    actor,
                    request.tenant_id,
                    request.request_id,
                    "admin_signed_in",
                    RequestState.awaiting_admin_sign_in,
                    RequestState.admin_signed_in,
                    f"{actor.name} signed in as Global Admin",
                )
                return self.get_in(conn, request.request_id), list(row.upns or []), actor
            return None, [], actor

        try:
            taken_request, upns, actor = await self._db.write(take)
        except SignInLinkInvalid:
            log.warning("Global Admin sign-in refused: unknown state")
            raise
        except _SomeoneWasFirst as first:
            taken_request, actor = None, first.actor
        if taken_request is not None:
            return taken_request, upns, actor

        # Not usable (any more): say why, with the request as it stands now.
        def as_it_stands(conn: Connection) -> tuple[Any, ProvisioningRequest]:
            row = conn.execute(select(t).where(t.c.state_hash == key)).one()
            return row, self.get_in(conn, row.request_id)

        row, request = await self._db.read(as_it_stands)
        if row.outcome == "used" and request.state in _SIGNED_IN_STATES:
            return request, [], actor
        if row.outcome == "superseded":
            why = "was replaced by a newer one"
        elif row.outcome == "cancelled":
            why = "is for a request that was stopped"
        elif row.used_at is not None:
            why = "was already used"
        elif request.state is not RequestState.awaiting_admin_sign_in:
            why = "is for a request that no longer waits for a sign-in"
        else:
            why = f"expired at {as_utc(row.expires_at):%Y-%m-%d %H:%M} UTC"
        log.warning(
            "Global Admin sign-in refused: the link %s", why, extra={"request_id": request.request_id}
        )
        await self.audit(
            actor,
            request.tenant_id,
            request.request_id,
            "refused",
            request.state,
            None,
            f"sign-in: link {why}",
        )
        raise SignInLinkInvalid(
            f"This sign-in link {why}. The request's card in Teams shows where it stands; if it still needs "
            'a sign-in, click "Get a new sign-in link" there.',
            known=True,
        )

    @staticmethod
    def _signed_in_actor(request: ProvisioningRequest, result: AdminSignInResult) -> Actor:
        return Actor(
            tenant_id=request.tenant_id,
            aad_object_id="global-admin-sign-in",
            name=_plain_name(result.admin) or f"a Global Admin of {request.tenant_name}",
            role=Role.tenant_admin,
        )

    async def _step_finish(self, request: ProvisioningRequest, actor: Actor) -> ProvisioningRequest | None:
        return await self._try_transition(
            actor,
            request,
            RequestState.calling_enabled,
            RequestState.done,
            "finish",
            "done",
            notices=self._partner_notices(request, "done"),
        )

    async def _fail(
        self, request: ProvisioningRequest, exc: ProvisioningError, actor: Actor
    ) -> ProvisioningRequest | None:
        step = {
            RequestState.submitted: "add_user",
            RequestState.user_added: "sync",
            RequestState.approved: "sync",
            RequestState.synced: "calling",
            RequestState.awaiting_admin_sign_in: "calling",
            RequestState.admin_signed_in: "calling",
        }.get(request.state)
        steps = request.steps.model_copy()
        if step:
            setattr(steps, step, StepOutcome.failed)
            setattr(steps, f"{step}_note", exc.message)
        # A failed add is the requester's to fix; a failed sync or enable is the approvers'.
        notices = [] if step == "add_user" else self._partner_notices(request, "failed")
        return await self._try_transition(
            actor,
            request,
            request.state,
            RequestState.failed,
            "fail",
            exc.message,
            error=exc.message,
            resume_state=request.state.value if exc.retryable or step == "add_user" else None,
            steps=steps.model_dump(mode="json"),
            notices=notices,
        )

    # -- plumbing --------------------------------------------------------------------------------

    async def _for_change(
        self,
        actor: Actor,
        request_id: str,
        version: int | None,
        state: RequestState | None = None,
    ) -> ProvisioningRequest:
        request = await self.get_for(actor, request_id)
        if request.state is RequestState.draft and not self.is_requester(actor, request):
            # A tenant's admins may look at a partner's draft; only its author changes it.
            await self.audit(
                actor, request.tenant_id, request_id, "refused", request.state, None, "not the author"
            )
            raise NotAuthorised("Only the person who started this request can change it.")
        if version is not None and version != request.version:
            await self.audit(
                actor,
                request.tenant_id,
                request_id,
                "refused",
                request.state,
                None,
                f"stale card (version {version}, now {request.version})",
            )
            raise StaleRequest("This card is out of date. Here is the request as it is now.")
        if state is not None and request.state is not state:
            raise StaleRequest("This card is out of date. Here is the request as it is now.")
        return request

    async def _transition(
        self,
        actor: Actor,
        request: ProvisioningRequest,
        from_state: RequestState,
        to_state: RequestState,
        action: str,
        outcome: str,
        **values: Any,
    ) -> ProvisioningRequest:
        moved = await self._try_transition(actor, request, from_state, to_state, action, outcome, **values)
        if moved is None:
            raise StaleRequest("This card is out of date. Here is the request as it is now.")
        return moved

    async def _try_transition(
        self,
        actor: Actor,
        request: ProvisioningRequest,
        from_state: RequestState,
        to_state: RequestState,
        action: str,
        outcome: str,
        **values: Any,
    ) -> ProvisioningRequest | None:
        """One conditional write plus its audit row and notices, in one transaction; None if someone
        was first."""
        notices: list[Notice] = values.pop("notices", None) or []
        also: list[Executable] = values.pop("also", None) or []
        r = db.requests
        # RETURNING: the moved request comes back from the write itself, no second read.
        move = (
            update(r)
            .where(r.c.request_id == request.request_id)
            .where(r.c.state == from_state.value, r.c.version == request.version)
            .values(state=to_state.value, version=request.version + 1, updated_at=utcnow(), **values)
            .returning(*r.c)
        )

        def work(conn: Connection) -> Any:
            moved = conn.execute(move).first()
            if moved is None:
                return None
            for statement in also:
                conn.execute(statement)
            enqueue(conn, notices)
            self._audit(
                conn,
                actor,
                request.tenant_id,
                request.request_id,
                action,
                from_state,
                to_state,
                outcome,
            )
            return moved

        moved = await self._db.write(work)
        return None if moved is None else _request(moved)

    async def audit(
        self,
        actor: Actor,
        tenant_id: str | None,
        request_id: str | None,
        action: str,
        from_state: RequestState | None,
        to_state: RequestState | None,
        outcome: str,
    ) -> None:
        await self._db.write(
            lambda conn: self._audit(
                conn, actor, tenant_id, request_id, action, from_state, to_state, outcome
            )
        )

    @staticmethod
    def _audit(
        conn: Connection,
        actor: Actor,
        tenant_id: str | None,
        request_id: str | None,
        action: str,
        from_state: RequestState | None,
        to_state: RequestState | None,
        outcome: str,
    ) -> None:
        conn.execute(
            _AUDIT,
            {
                "at": utcnow(),
                "actor_tenant_id": actor.tenant_id,
                "actor_id": actor.aad_object_id,
                "actor_name": actor.name,
                "tenant_id": tenant_id,
                "request_id": request_id,
                "action": action,
                "from_state": from_state.value if from_state else None,
                "to_state": to_state.value if to_state else None,
                "outcome": outcome[:500],
            },
        )


# The statements of every turn, built once (building one costs as much as running it on SQLite).
_BY_ID = select(db.requests).where(db.requests.c.request_id == bindparam("request_id"))
_CARD_REF = select(db.requests.c.card_ref).where(db.requests.c.request_id == bindparam("request_id"))
_AUDIT = insert(db.audit)

_STEPS: dict[
    tuple[RequestKind, RequestState],
    Callable[[RequestService, ProvisioningRequest, Actor], Awaitable[ProvisioningRequest | None]],
] = {
    (RequestKind.admin, RequestState.submitted): RequestService._step_add_user,
    (RequestKind.partner, RequestState.submitted): RequestService._step_add_user,
    (RequestKind.admin, RequestState.user_added): RequestService._step_sync,
    (RequestKind.admin, RequestState.approved): RequestService._step_sync,
    (RequestKind.partner, RequestState.approved): RequestService._step_sync,
    (RequestKind.admin, RequestState.synced): RequestService._step_enable_calling,
    (RequestKind.partner, RequestState.synced): RequestService._step_enable_calling,
    # Interrupted between a Global Admin's sign-in and its end: calling is on, or a new link.
    (RequestKind.admin, RequestState.admin_signed_in): RequestService._step_enable_calling,
    (RequestKind.partner, RequestState.admin_signed_in): RequestService._step_enable_calling,
    (RequestKind.admin, RequestState.calling_enabled): RequestService._step_finish,
    (RequestKind.partner, RequestState.calling_enabled): RequestService._step_finish,
}


def _as_card_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Draft values (our names) back into card input ids, to re-check them on submit."""
    from services.requests.form import INPUT_IDS

    by_name = {name: key for key, name in INPUT_IDS.items()}
    return {by_name[k]: v for k, v in values.items() if k in by_name}


def _request(row) -> ProvisioningRequest:
    return ProvisioningRequest(
        request_id=row.request_id,
        kind=RequestKind(row.kind),
        tenant_id=row.tenant_id,
        tenant_name=row.tenant_name,
        requester_tenant_id=row.requester_tenant_id,
        requester_id=row.requester_id,
        requester_name=row.requester_name,
        state=RequestState(row.state),
        version=row.version,
        values=row.values or {},
        steps=Steps.model_validate(row.steps or {}),
        error=row.error,
        resume_state=RequestState(row.resume_state) if row.resume_state else None,
        decided_by=row.decided_by,
        decision_note=row.decision_note,
        decided_at=as_utc(row.decided_at) if row.decided_at else None,
        reminded_at=as_utc(row.reminded_at) if row.reminded_at else None,
        sign_in_url=row.sign_in_url,
        sign_in_expires_at=as_utc(row.sign_in_expires_at) if row.sign_in_expires_at else None,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
    )


def _state_hash(state: str) -> str:
    return hashlib.sha256(state.encode("utf-8")).hexdigest()


def _reminder_due():
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


def _plain_name(name: str | None) -> str:
    """A name from the platform's callback, safe for an audit line and a card's markdown."""
    if not name:
        return ""
    kept = "".join(c for c in name if c.isprintable() and c not in "*_[]()<>#`~|\\!")
    return " ".join(kept.split())[:100]
