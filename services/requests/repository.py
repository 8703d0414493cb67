"""Reading requests (by id, of a person, waiting for a tenant's admins, open drafts, interrupted ones),
the row -> ProvisioningRequest mapping, the cards a request is shown on, and the audit trail read back."""

from __future__ import annotations

import time
from itertools import islice
from typing import Any

from sqlalchemy import Connection, Row, Select, and_, bindparam, desc, func, insert, or_, select, update

from i18n import T, Text, as_text
from services import db
from services.db import Database, as_utc, utcnow
from services.directory import Directory, Person
from services.errors import RequestNotFound
from services.models import (
    AUDIT_PAGE_SIZE,
    WORKING_STATES,
    Actor,
    AuditEntry,
    AuditPage,
    FormOptions,
    ProvisioningRequest,
    RequestAction,
    RequestKind,
    RequestState,
    Steps,
)
from services.provisioning.protocol import ProvisioningService
from services.requests.form import DISPLAY_NAME, FROM_EXTENSION

# How long a card reference seen in a row stands for the stored one (`card_ref`). Another
# instance's click may change it meanwhile, as it may just after a read: the window is as short as
# the moment between a step's transition and its card update, and a card a click lands on is
# written afresh (`set_card_ref`).
CARD_REF_FRESH_SECONDS = 1.0


class RequestRepository:
    """The reads every other part of RequestService builds on, and the state they share (set by
    RequestService.__init__)."""

    # The provider's SIP authentication ID rule (SIP_AUTH_ID_*).
    _sip_auth_suffix: str = "t"
    _sip_auth_editable: bool = False

    _db: Database
    _provisioning: ProvisioningService
    _directory: Directory

    @staticmethod
    def get_in(conn: Connection, request_id: str) -> ProvisioningRequest:
        return request_from_row(conn.execute(_BY_ID, {"request_id": request_id}).one())

    async def get(self, request_id: str) -> ProvisioningRequest:
        row = await self._db.read(lambda conn: conn.execute(_BY_ID, {"request_id": request_id}).first())
        if row is None:
            raise RequestNotFound(T("That request does not exist (any more)."))
        self._saw_card_ref(request_id, row.card_ref)
        return request_from_row(row)

    async def requests_of(self, actor: Actor, limit: int = 20) -> list[ProvisioningRequest]:
        r = db.requests
        query = (
            select(r)
            .where(r.c.requester_tenant_id == actor.tenant_id, r.c.requester_id == actor.aad_object_id)
            .where(r.c.state != RequestState.cancelled.value)
            .order_by(desc(r.c.created_at))
            .limit(limit)
        )
        return await self._all(query)

    async def awaiting_approval(self, tenant_id: str, limit: int = 10) -> list[ProvisioningRequest]:
        """Requests of the tenant that wait for one of its global admins: a partner's, to approve
        or to sign in (a tenant without service-provider consent); any, for steps in the portal
        (e.g. the removal that undoes a rejected add, which no one's chat follows)."""
        r = db.requests
        waiting = (RequestState.awaiting_approval.value, RequestState.awaiting_admin_sign_in.value)
        query = (
            select(r)
            .where(r.c.tenant_id == tenant_id)
            .where(
                or_(
                    and_(r.c.kind == RequestKind.partner.value, r.c.state.in_(waiting)),
                    r.c.state == RequestState.awaiting_portal.value,
                )
            )
            # A bulk add's rows waiting for the approval are shown as their batch (pending_batches).
            .where(or_(r.c.batch_id.is_(None), r.c.state != RequestState.awaiting_approval.value))
            # Approvals first (the sign-ins have their own button and reminder), then oldest first.
            .order_by((r.c.state == RequestState.awaiting_approval.value).desc(), r.c.created_at)
            .limit(limit)
        )
        return await self._all(query)

    async def waiting_for_admin(self, tenant_id: str, limit: int) -> list[ProvisioningRequest]:
        """Requests of the tenant, of any kind, that wait for a global admin: to approve, or to sign in."""
        r = db.requests
        waiting = (RequestState.awaiting_approval.value, RequestState.awaiting_admin_sign_in.value)
        query = select(r).where(r.c.tenant_id == tenant_id, r.c.state.in_(waiting)).limit(limit)
        return await self._all(query)

    async def open_draft_of(
        self, actor: Actor, action: RequestAction = RequestAction.add
    ) -> ProvisioningRequest | None:
        """The actor's latest draft of that action ("add user" reopens an add, never a removal's
        confirmation)."""
        key = {"tenant_id": actor.tenant_id, "requester_id": actor.aad_object_id, "action": action.value}
        row = await self._db.read(lambda conn: conn.execute(_OPEN_DRAFT, key).first())
        return request_from_row(row) if row else None

    async def in_flight(self) -> list[ProvisioningRequest]:
        """Requests whose pipeline was interrupted (e.g. by a restart) and should be resumed."""
        r = db.requests
        states = [s.value for s in WORKING_STATES]
        free = or_(r.c.worker_lease_until.is_(None), r.c.worker_lease_until < utcnow())
        return await self._all(select(r).where(r.c.state.in_(states), free))

    async def _all(self, query: Select[Any]) -> list[ProvisioningRequest]:
        return [request_from_row(row) for row in await self._db.read(lambda conn: conn.execute(query).all())]

    async def global_admins(self, tenant_id: str) -> list[Person]:
        return await self._directory.global_admins(tenant_id)

    async def form_options(self, request: ProvisioningRequest) -> FormOptions:
        return await self._options(request.tenant_id)

    async def _options(self, tenant_id: str) -> FormOptions:
        """What the add-user form offers for the tenant, with the provider's SIP authentication
        ID rule (its settings, not the backend's)."""
        options = await self._provisioning.form_options(tenant_id)
        return options.model_copy(
            update={"sip_auth_suffix": self._sip_auth_suffix, "sip_auth_editable": self._sip_auth_editable}
        )

    # -- the cards a request is shown on ---------------------------------------------------------

    async def card_ref(self, request_id: str) -> dict[str, Any] | None:
        """The card the request is shown on: as the row was read or moved in this process within
        CARD_REF_FRESH_SECONDS (the progress card is updated just after each step's transition,
        which returned the row), else read."""
        seen = self._card_refs.get(request_id)
        if seen is not None and time.monotonic() - seen[0] < CARD_REF_FRESH_SECONDS:
            return seen[1]
        card_ref = await self._db.read(
            lambda conn: conn.execute(_CARD_REF, {"request_id": request_id}).scalar_one_or_none()
        )
        self._saw_card_ref(request_id, card_ref)
        return card_ref

    async def set_card_ref(self, request_id: str, card_ref: dict[str, Any]) -> None:
        """Written only when it changed: every click on a card sends its reference again, and a
        read costs much less than a write (on SQLite the write waits for the one writer)."""
        if await self.card_ref(request_id) == card_ref:
            return
        key = {"key_request_id": request_id, "card_ref": card_ref}
        await self._db.write(lambda conn: conn.execute(_SET_CARD_REF, key))
        self._saw_card_ref(request_id, card_ref)

    # Set by RequestService.__init__: request id -> (when, card_ref) as this process last read or
    # wrote the row, oldest first (one per service: each service has its own database).
    _card_refs: dict[str, tuple[float, Any]]

    def _saw_card_ref(self, request_id: str, card_ref: Any) -> None:
        """Noted from a row just read or returned by a write; what is older than the freshness
        window is dropped, so the map holds only the requests of the last moment."""
        refs = self._card_refs
        now = time.monotonic()
        refs.pop(request_id, None)
        refs[request_id] = (now, card_ref)
        for oldest, (at, _card_ref) in list(islice(refs.items(), 8)):
            if now - at < CARD_REF_FRESH_SECONDS:
                break
            del refs[oldest]

    def _lease_written(self, request_id: str, worker_id: Any, at: float) -> None:
        """A transition's write set the pipeline's lease, started at `at` (PipelineLeases)."""

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

    # -- the audit trail -------------------------------------------------------------------------

    async def audit_of_tenant(
        self,
        tenant_id: str,
        limit: int = 50,
        *,
        everything: bool = True,
        older_than: int | None = None,
        newer_than: int | None = None,
    ) -> list[AuditEntry]:
        """The tenant's audit entries, newest first: the `limit` newest, or the `limit` just older
        than entry `older_than`, or just newer than `newer_than`; without `everything`, not the
        drafts and cancels, which changed nothing at the provisioning service (_SHOWN). Each with
        what its request is about, as the request says now."""
        a, r = db.audit, db.requests
        query = (
            select(a, r.c.action.label("request_action"), r.c["values"].label("request_values"))
            .select_from(a.outerjoin(r, r.c.request_id == a.c.request_id))
            .where(a.c.tenant_id == tenant_id)
        )
        if not everything:
            query = query.where(_SHOWN)
        if older_than is not None:
            query = query.where(a.c.id < older_than)
        if newer_than is not None:  # the `limit` nearest the page the reader comes from
            query = query.where(a.c.id > newer_than).order_by(a.c.id)
        else:
            query = query.order_by(desc(a.c.id))
        rows = await self._db.read(lambda conn: conn.execute(query.limit(limit)).all())
        return [_audit_entry(row) for row in (reversed(rows) if newer_than is not None else rows)]

    async def audit_page(
        self,
        tenant_id: str,
        *,
        everything: bool = False,
        older_than: int | None = None,
        newer_than: int | None = None,
    ) -> AuditPage:
        """One page of the audit card: AUDIT_PAGE_SIZE entries, newest first, from the newest or on
        from the entry a page ended at. Pages go by entry id, so an entry written meanwhile shifts
        nothing (no state is kept between pages: the card's buttons carry the id)."""
        size = AUDIT_PAGE_SIZE
        entries = await self.audit_of_tenant(
            tenant_id, size + 1, everything=everything, older_than=older_than, newer_than=newer_than
        )
        more = len(entries) > size
        # The one read past the page is the farthest from where the reader comes from.
        entries = entries[1:] if more and newer_than is not None else entries[:size]
        tenant = await self._provisioning.tenant(tenant_id)
        return AuditPage(
            tenant_name=tenant.name if tenant else tenant_id,
            entries=entries,
            everything=everything,
            older=more if newer_than is None else True,
            newer=more if newer_than is not None else older_than is not None,
        )


# The audit entries shown unless the reader asks for everything: not a draft's (created, back to
# the form: to_state "draft"), nor a cancel of what had not reached the service; a stop while a
# Global Admin's sign-in was awaited is a decision, and stays. (A NULL from_state is a bulk add's
# rows cancelled before they started: hidden too, as `NULL = ...` is not true.)
_SHOWN = and_(
    func.coalesce(db.audit.c.to_state, "") != RequestState.draft.value,
    or_(
        db.audit.c.action != "cancel",
        db.audit.c.from_state == RequestState.awaiting_admin_sign_in.value,
    ),
)


def _audit_entry(row: Row[Any]) -> AuditEntry:
    outcome, actor_name = as_text(row.outcome), as_text(row.actor_name)
    values = row.request_values if isinstance(row.request_values, dict) else {}
    return AuditEntry(
        at=as_utc(row.at),
        actor_tenant_id=row.actor_tenant_id,
        actor_id=row.actor_id,
        actor_name=str(actor_name),
        tenant_id=row.tenant_id,
        request_id=row.request_id,
        action=row.action,
        from_state=row.from_state,
        to_state=row.to_state,
        outcome=str(outcome),
        outcome_text=outcome,
        actor_name_text=actor_name,
        entry_id=row.id,
        request_action=row.request_action,
        subject=str(values.get(DISPLAY_NAME) or values.get("teams_user") or ""),
        extension=str(values.get("extension") or ""),
        from_extension=str(values.get(FROM_EXTENSION) or ""),
    )


# The statements of every turn, built once (building one costs as much as running it on SQLite).
_OPEN_DRAFT = (
    select(db.requests)
    .where(
        db.requests.c.requester_tenant_id == bindparam("tenant_id"),
        db.requests.c.requester_id == bindparam("requester_id"),
        db.requests.c.state == RequestState.draft.value,
        db.requests.c.action == bindparam("action"),
    )
    .order_by(desc(db.requests.c.created_at))
    .limit(1)
)
_BY_ID = select(db.requests).where(db.requests.c.request_id == bindparam("request_id"))
# card_ref is the execution's parameter, as the columns set by the other prebuilt writes.
_SET_CARD_REF = update(db.requests).where(db.requests.c.request_id == bindparam("key_request_id"))
_CARD_REF = select(db.requests.c.card_ref).where(db.requests.c.request_id == bindparam("request_id"))


def request_from_row(row: Row[Any]) -> ProvisioningRequest:
    error, decision_note = _text(row.error), _text(row.decision_note)
    return ProvisioningRequest(
        request_id=row.request_id,
        kind=RequestKind(row.kind),
        action=RequestAction(row.action),
        batch_id=row.batch_id,
        tenant_id=row.tenant_id,
        tenant_name=row.tenant_name,
        requester_tenant_id=row.requester_tenant_id,
        requester_id=row.requester_id,
        requester_name=row.requester_name,
        state=RequestState(row.state),
        version=row.version,
        values=row.values or {},
        steps=Steps.model_validate(row.steps or {}),
        error=None if error is None else str(error),
        error_text=error,
        resume_state=RequestState(row.resume_state) if row.resume_state else None,
        decided_by=row.decided_by,
        decision_note=None if decision_note is None else str(decision_note),
        decision_note_text=decision_note,
        decided_at=as_utc(row.decided_at) if row.decided_at else None,
        reminded_at=as_utc(row.reminded_at) if row.reminded_at else None,
        reminders=row.reminders or 0,
        sign_in_url=row.sign_in_url,
        sign_in_expires_at=as_utc(row.sign_in_expires_at) if row.sign_in_expires_at else None,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
    )


def _text(stored: str | None) -> str | Text | None:
    """A text column's `Text.encode()` read back as the `Text`; a plain string (the release before
    the texts wrote English, and a rejection's reason is the admin's own words) as it is."""
    return None if stored is None else as_text(stored)
