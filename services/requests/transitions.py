"""The state machine's one door: a change of a request's state is one conditional write
(`... WHERE state = <expected> AND version = <card's>`) with its audit row, its outbox notices and any
statements that belong with it, in one transaction; plus the checks before a change (who, which card).

A double click, a retried invoke or two people acting at once find the row already moved: the write
changes nothing, and the caller is told the card is out of date."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, insert, update
from sqlalchemy.sql import Executable

from services import db
from services.db import utcnow
from services.errors import NotAuthorised, RequestNotFound, StaleRequest
from services.models import Actor, ProvisioningRequest, RequestState
from services.notify.outbox import Notice, enqueue
from services.requests.access import may_change, may_see
from services.requests.repository import RequestRepository, request_from_row

# Who the audit trail names for what the bot does on its own (a resumed pipeline, a reminder).
SYSTEM = Actor(tenant_id="system", aad_object_id="system", name="the bot")


class SomeoneWasFirst(Exception):
    """Rolls a transaction back when its conditional write found the row already changed."""

    def __init__(self, actor: Actor) -> None:
        super().__init__()
        self.actor = actor


class RequestTransitions(RequestRepository):
    """Moves a request from one state to the next, and writes the audit trail."""

    async def get_for(self, actor: Actor, request_id: str) -> ProvisioningRequest:
        """The request, if this actor may see it: its requester, or a global admin of its tenant."""
        try:
            request = await self.get(request_id)
        except RequestNotFound:
            await self.audit(actor, actor.tenant_id, request_id, "refused", None, None, "unknown request")
            raise
        if not may_see(actor, request):
            await self.audit(
                actor, request.tenant_id, request_id, "refused", request.state, None, "not allowed"
            )
            raise NotAuthorised("You are not allowed to see or change that request.")
        return request

    async def _for_change(
        self,
        actor: Actor,
        request_id: str,
        version: int | None,
        state: RequestState | None = None,
    ) -> ProvisioningRequest:
        """The request a click means to change: this actor may change it, and the card is current."""
        request = await self.get_for(actor, request_id)
        if not may_change(actor, request):
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
        *,
        notices: Sequence[Notice] = (),
        also: Sequence[Executable] = (),
        **values: Any,
    ) -> ProvisioningRequest:
        """`_try_transition` for a person's click: someone being first is a stale card to them."""
        moved = await self._try_transition(
            actor, request, from_state, to_state, action, outcome, notices=notices, also=also, **values
        )
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
        *,
        notices: Sequence[Notice] = (),
        also: Sequence[Executable] = (),
        **values: Any,
    ) -> ProvisioningRequest | None:
        """One conditional write plus its audit row and notices, in one transaction; None if someone
        was first.

        `notices` go to the outbox, `also` are statements that must commit with the move or not at
        all (e.g. retiring a sign-in link); `values` are more columns of the request to set."""
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
            enqueue(conn, list(notices))
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
        return None if moved is None else request_from_row(moved)

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
        """An audit row on its own: a refusal, or anything that moves no request."""
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
        """The audit row inside the caller's transaction: it commits with the change it describes."""
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


_AUDIT = insert(db.audit)
