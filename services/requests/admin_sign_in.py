"""The Global Admin sign-in: a tenant without "Allow Management by Service Provider" enables calling
only with its Global Admin's own sign-in. Asking for one (synced -> awaiting_admin_sign_in, the link
kept for the cards and its state hashed for the callback), and the platform's callback completing it."""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from i18n import T, Text
from services import db
from services.db import as_utc, utcnow
from services.errors import AdminSignInRequired, ProvisioningError, SignInLinkInvalid
from services.models import Actor, AdminSignInResult, ProvisioningRequest, RequestState, Role, StepOutcome
from services.requests.decisions import partner_notices
from services.requests.leases import PipelineLeases
from services.requests.transitions import RequestTransitions, SomeoneWasFirst

log = logging.getLogger(__name__)

# Sign-in states of links replaced or used long ago are deleted when a new one is written.
SIGN_IN_KEPT_FOR = timedelta(days=30)

_SIGNED_IN_STATES = frozenset({RequestState.admin_signed_in, RequestState.calling_enabled, RequestState.done})


class AdminSignIn(RequestTransitions, PipelineLeases):
    """With the leases: the sign-in's completion moves the request on, and takes the lease in that write."""

    async def _await_sign_in(
        self, request: ProvisioningRequest, needed: AdminSignInRequired, actor: Actor
    ) -> ProvisioningRequest | None:
        """synced -> awaiting_admin_sign_in, keeping the link for the cards and the state (hashed)
        for the callback; an older link of this request stops working."""
        t = db.admin_sign_ins
        now = utcnow()
        steps = request.steps.noted(
            "calling",
            StepOutcome.pending,
            T("Waiting for a Global Admin of {tenant} to sign in", tenant=request.tenant_name),
        )
        asked = select(t.c.state_hash).where(t.c.request_id == request.request_id).limit(1)
        asked_before = await self._db.read(lambda conn: conn.execute(asked).first()) is not None
        return await self._try_transition(
            actor,
            request,
            request.state,
            RequestState.awaiting_admin_sign_in,
            "admin_sign_in_asked",
            T(
                "Global Admin sign-in needed, link valid until {until} UTC",
                until=f"{needed.expires_at:%Y-%m-%d %H:%M}",
            ),
            # The partner hears of it once, not again with every new link.
            notices=partner_notices(request, None if asked_before else "sign_in_needed"),
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
            sign_in_url=needed.action_url,
            sign_in_expires_at=needed.expires_at,
            resume_state=RequestState.synced.value,
            steps=steps.model_dump(mode="json"),
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
                raise ProvisioningError(
                    T("The provisioning service has no phone user {upn} to finish.", upn=upn)
                )
        except ProvisioningError as exc:
            steps = request.steps.noted("calling", StepOutcome.failed, exc.text)
            moved = await self._try_transition(
                actor,
                request,
                RequestState.admin_signed_in,
                RequestState.failed,
                "fail",
                exc.text,
                notices=partner_notices(request, "failed"),
                error=exc.text.encode(),
                resume_state=RequestState.synced.value,  # "Try again" asks for a new link
                steps=steps.model_dump(mode="json"),
            )
            return moved or await self.get(request.request_id)
        if actor.name_text is None:
            note = T("Calling enabled after {name} signed in", name=actor.name)
            outcome = T("calling enabled with {name}'s Global Admin sign-in", name=actor.name)
        else:
            note = T("Calling enabled after a Global Admin of {tenant} signed in", tenant=request.tenant_name)
            outcome = T(
                "calling enabled with the sign-in of a Global Admin of {tenant}", tenant=request.tenant_name
            )
        steps = request.steps.noted("calling", StepOutcome.done, note)
        moved = await self._try_transition(
            actor,
            request,
            RequestState.admin_signed_in,
            RequestState.calling_enabled,
            "enable_calling",
            outcome,
            notices=partner_notices(request, None),
            steps=steps.model_dump(mode="json"),
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
                    T("This sign-in link is not known. Use the newest sign-in button on the card in Teams."),
                    known=False,
                )
            request = self.get_in(conn, row.request_id)
            actor = _signed_in_actor(request, result)
            if row.used_at is None and as_utc(row.expires_at) > now:
                taken = conn.execute(
                    update(t)
                    .where(t.c.state_hash == key, t.c.used_at.is_(None))
                    .values(used_at=now, outcome="used")
                )
                # The one transition that is not _try_transition's: it commits with the link's use.
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
                    raise SomeoneWasFirst(actor)  # roll back: change nothing
                self._audit(
                    conn,
                    actor,
                    request.tenant_id,
                    request.request_id,
                    "admin_signed_in",
                    RequestState.awaiting_admin_sign_in,
                    RequestState.admin_signed_in,
                    _signed_in(actor, request),
                )
                return self.get_in(conn, request.request_id), list(row.upns or []), actor
            return None, [], actor

        try:
            taken_request, upns, actor = await self._db.write(take)
        except SignInLinkInvalid:
            log.warning("Global Admin sign-in refused: unknown state")
            raise
        except SomeoneWasFirst as first:
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
        why, shown = _why_unusable(row, request)
        log.warning("Global Admin sign-in refused (%s)", why, extra={"request_id": request.request_id})
        await self.audit(actor, request.tenant_id, request.request_id, "refused", request.state, None, why)
        raise SignInLinkInvalid(shown, known=True)


def _why_unusable(row: Any, request: ProvisioningRequest) -> tuple[Text, Text]:
    """Why a known sign-in link cannot be used: the audit trail's note, and the sentences for the
    person who followed it (each case whole in the catalog, so that it translates)."""
    if row.outcome == "superseded":
        return T("sign-in: link was replaced by a newer one"), T(
            "This sign-in link was replaced by a newer one. The request's card in Teams shows where it "
            'stands; if it still needs a sign-in, click "Get a new sign-in link" there.'
        )
    if row.outcome == "cancelled":
        return T("sign-in: link is for a request that was stopped"), T(
            "This sign-in link is for a request that was stopped. The request's card in Teams shows "
            'where it stands; if it still needs a sign-in, click "Get a new sign-in link" there.'
        )
    if row.used_at is not None:
        return T("sign-in: link was already used"), T(
            "This sign-in link was already used. The request's card in Teams shows where it stands; "
            'if it still needs a sign-in, click "Get a new sign-in link" there.'
        )
    if request.state is not RequestState.awaiting_admin_sign_in:
        return T("sign-in: link is for a request that no longer waits for a sign-in"), T(
            "This sign-in link is for a request that no longer waits for a sign-in. The request's "
            'card in Teams shows where it stands; if it still needs a sign-in, click "Get a new '
            'sign-in link" there.'
        )
    until = f"{as_utc(row.expires_at):%Y-%m-%d %H:%M}"
    return T("sign-in: link expired at {until} UTC", until=until), T(
        "This sign-in link expired at {until} UTC. The request's card in Teams shows where it stands; "
        'if it still needs a sign-in, click "Get a new sign-in link" there.',
        until=until,
    )


def _signed_in(actor: Actor, request: ProvisioningRequest) -> Text:
    """The audit trail's note of a Global Admin's sign-in."""
    if actor.name_text is None:
        return T("{name} signed in as Global Admin", name=actor.name)
    return T("A Global Admin of {tenant} signed in", tenant=request.tenant_name)


def _signed_in_actor(request: ProvisioningRequest, result: AdminSignInResult) -> Actor:
    """Who the audit trail names for a sign-in: the platform tells us a name, not an AAD id."""
    name = _plain_name(result.admin)
    unnamed = T("a Global Admin of {tenant}", tenant=request.tenant_name)
    return Actor(
        tenant_id=request.tenant_id,
        aad_object_id="global-admin-sign-in",
        name=name or str(unnamed),
        role=Role.tenant_admin,
        name_text=None if name else unnamed,
    )


def _state_hash(state: str) -> str:
    """Only a hash of the state is stored: a database read does not give away a usable link."""
    return hashlib.sha256(state.encode("utf-8")).hexdigest()


def _plain_name(name: str | None) -> str:
    """A name from the platform's callback, safe for an audit line and a card's markdown."""
    if not name:
        return ""
    kept = "".join(c for c in name if c.isprintable() and c not in "*_[]()<>#`~|\\!")
    return " ".join(kept.split())[:100]
