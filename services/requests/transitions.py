"""The state machine's one door: a change of a request's state is one conditional write
(`... WHERE state = <expected> AND version = <card's>`) with its audit row, its outbox notices and any
statements that belong with it, in one transaction; plus the checks before a change (who, which card).

A double click, a retried invoke or two people acting at once find the row already moved: the write
changes nothing, and the caller is told the card is out of date."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, insert, update
from sqlalchemy.sql import ClauseElement, Executable

from i18n import T, Text
from services import db
from services.db import utcnow
from services.errors import NotAuthorised, RequestNotFound, StaleRequest
from services.models import Actor, ProvisioningRequest, RequestState
from services.notify.outbox import Notice, enqueue
from services.requests.access import may_change, may_see
from services.requests.repository import RequestRepository, request_from_row

# Who the audit trail names for what the bot does on its own (a resumed pipeline, a reminder).
SYSTEM = Actor(tenant_id="system", aad_object_id="system", name="the bot", name_text=T("the bot"))


# What a click on a card older than its request is told.
OUT_OF_DATE = T("This card is out of date. Here is the request as it is now.")


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
            await self.audit(actor, actor.tenant_id, request_id, "refused", None, None, T("unknown request"))
            raise
        if not may_see(actor, request):
            await self.audit(
                actor, request.tenant_id, request_id, "refused", request.state, None, T("not allowed")
            )
            raise NotAuthorised(T("You are not allowed to see or change that request."))
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
                actor, request.tenant_id, request_id, "refused", request.state, None, T("not the author")
            )
            raise NotAuthorised(T("Only the person who started this request can change it."))
        if version is not None and version != request.version:
            await self.audit(
                actor,
                request.tenant_id,
                request_id,
                "refused",
                request.state,
                None,
                T("stale card (version {version}, now {current})", version=version, current=request.version),
            )
            raise StaleRequest(OUT_OF_DATE)
        if state is not None and request.state is not state:
            raise StaleRequest(OUT_OF_DATE)
        return request

    async def _transition(
        self,
        actor: Actor,
        request: ProvisioningRequest,
        from_state: RequestState,
        to_state: RequestState,
        action: str,
        outcome: str | Text,
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
            raise StaleRequest(OUT_OF_DATE)
        return moved

    async def _try_transition(
        self,
        actor: Actor,
        request: ProvisioningRequest,
        from_state: RequestState,
        to_state: RequestState,
        action: str,
        outcome: str | Text,
        *,
        notices: Sequence[Notice] = (),
        also: Sequence[Executable] = (),
        **values: Any,
    ) -> ProvisioningRequest | None:
        """One conditional write plus its audit row and notices, in one transaction; None if someone
        was first.

        `notices` go to the outbox, `also` are statements that must commit with the move or not at
        all (e.g. retiring a sign-in link); `values` are more columns of the request to set."""
        # RETURNING: the moved request comes back from the write itself, no second read. The
        # audit row comes from the same statement: the trigger on audit_seq (migration 0014)
        # inserts it from the audit_* values and the old and new state. The statement is built
        # once (_MOVE); the columns set are its parameters, SQL expressions among them (a lease
        # given back only by its holder) its values.
        params: dict[str, Any] = {
            "move_request_id": request.request_id,
            "move_from_state": from_state.value,
            "move_version": request.version,
            "state": to_state.value,
            "version": request.version + 1,
            "updated_at": utcnow(),
            "audit_seq": request.version + 1,
            **_audit_values(actor, action, outcome),
        }
        expressions = {k: v for k, v in values.items() if isinstance(v, ClauseElement)}
        params.update((k, v) for k, v in values.items() if k not in expressions)
        move = _MOVE.values(**expressions) if expressions else _MOVE

        def work(conn: Connection) -> Any:
            moved = conn.execute(move, params).first()
            if moved is None:
                return None
            for statement in also:
                conn.execute(statement)
            enqueue(conn, list(notices))
            return moved

        started = time.monotonic()  # a lease written here counts from before the write
        moved = await self._db.write(work)
        if moved is None:
            return None
        if "worker_id" in values:
            self._lease_written(request.request_id, values["worker_id"], started)
        self._saw_card_ref(moved.request_id, moved.card_ref)  # the progress card's update reads it next
        return request_from_row(moved)

    async def audit(
        self,
        actor: Actor,
        tenant_id: str | None,
        request_id: str | None,
        action: str,
        from_state: RequestState | None,
        to_state: RequestState | None,
        outcome: str | Text,
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
        outcome: str | Text,
    ) -> None:
        """The audit row inside the caller's transaction: it commits with the change it describes.

        The audit card shows the outcome, and the actor's name when it is the bot's own words: both
        are kept as `Text.encode()`, cut to fit their column without breaking the JSON."""
        audit = _audit_values(actor, action, outcome)
        conn.execute(
            _AUDIT,
            {
                "at": utcnow(),
                "actor_tenant_id": audit["audit_actor_tenant_id"],
                "actor_id": audit["audit_actor_id"],
                "actor_name": audit["audit_actor_name"],
                "tenant_id": tenant_id,
                "request_id": request_id,
                "action": action,
                "from_state": from_state.value if from_state else None,
                "to_state": to_state.value if to_state else None,
                "outcome": audit["audit_outcome"],
            },
        )


def _audit_values(actor: Actor, action: str, outcome: str | Text) -> dict[str, Any]:
    """Who did what and how it went, as an audit row keeps them (also the request's audit_*
    columns, from which the database's trigger writes a move's row)."""
    return {
        "audit_actor_tenant_id": actor.tenant_id,
        "audit_actor_id": actor.aad_object_id,
        "audit_actor_name": fitted(actor.name_text, 200) if actor.name_text else actor.name,
        "audit_action": action,
        "audit_outcome": fitted(outcome, 500),
    }


def fitted(text: str | Text, limit: int) -> str:
    """`text.encode()` in at most `limit` characters: the longest values are cut (ending in "…")
    until it fits, so that what is stored still reads back as the text; its English, cut, if
    even that cannot fit. A plain string is cut."""
    if not isinstance(text, Text):
        return text[:limit]
    values = dict(text.values)
    encoded = Text(text.template, values).encode()
    while len(encoded) > limit:
        longest = max(
            (k for k, v in values.items() if isinstance(v, str) and len(v) > 1),
            key=lambda k: len(values[k]),
            default=None,
        )
        if longest is None:
            return str(text)[:limit]
        value = values[longest]
        keep = max(0, min(len(value) - (len(encoded) - limit) - 1, len(value) - 2))
        values[longest] = value[:keep] + "…"
        encoded = Text(text.template, values).encode()
    return encoded


_AUDIT = insert(db.audit)
_MOVE = (
    update(db.requests)
    .where(
        db.requests.c.request_id == bindparam("move_request_id"),
        db.requests.c.state == bindparam("move_from_state"),
        db.requests.c.version == bindparam("move_version"),
    )
    .returning(*db.requests.c)
)
