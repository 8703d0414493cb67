"""Bulk add (issue 18): a file's rows checked before anything is written, each ready row a draft
request of its own (one batch id), "Add N users" queuing them all in one conditional write, a
runner starting them a few at a time (queued -> submitted, one conditional write each), cancel
stopping those not started, and the batch's counts for its one progress card."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from i18n import T, Text, as_text
from services import db
from services.db import utcnow
from services.errors import DomainError, NotAuthorised, StaleRequest
from services.models import Actor, ProvisioningRequest, RequestKind, RequestState, Tenant
from services.requests.access import add_kind, may_add_for, may_bulk_add, may_pick_enterprise, may_retry
from services.requests.batch_check import check_batch
from services.requests.batch_file import BatchFileRefused, RowProblem, read_batch
from services.requests.drafts import TENANT_NOT_SET_UP, Drafts, draft_row
from services.requests.form import ADDED_USERS
from services.requests.transitions import SYSTEM, fitted

# A partner's rows go to the enterprise it picked with `bulk add`.
PICK_FIRST = T("Pick the enterprise first with **bulk add**, then send the rows again.")

# In the values of a batch's first row: where its one progress card is (JSON text).
BATCH_CARD = "batch_card"
# In the values of a batch's first row: the report's problems (JSON text of [line, Text.encode()]),
# so that the progress card and the results still name the rows left out once the report is gone.
BATCH_PROBLEMS = "batch_problems"


class BatchRefused(DomainError):
    """The file cannot be used as a whole (too big, not text, no header...)."""


@dataclass(frozen=True)
class BatchReport:
    batch_id: str
    tenant: Tenant
    ready: int
    problems: list[RowProblem]


# Where a batch's row stands still for someone (or for good): not running for the batch's runner.
IDLE_STATES = frozenset(
    {
        RequestState.draft,
        RequestState.done,
        RequestState.failed,
        RequestState.cancelled,
        RequestState.rejected,
        RequestState.expired,
        RequestState.awaiting_approval,
        RequestState.awaiting_admin_sign_in,
        RequestState.awaiting_portal,
    }
)


@dataclass
class BatchStatus:
    batch_id: str
    tenant_name: str
    requester: tuple[str, str]  # (tenant id, AAD object id) of who started it
    kind: RequestKind = RequestKind.admin
    counts: Counter[RequestState] = field(default_factory=Counter)
    # (line, user, why) of each row that failed, by line.
    failures: list[tuple[int, str, str | Text]] = field(default_factory=list)
    # (line, user, extension, state, why) of every row, by line: the results a person can copy.
    rows: list[tuple[int, str, str, RequestState, str | Text]] = field(default_factory=list)
    # (line, why, user, extension) of each row of the file the check left out, by line.
    problems: list[tuple[int, str | Text, str, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def running(self) -> bool:
        """Rows still to start or to finish (a partner's rows waiting for the approval are not)."""
        return any(n for state, n in self.counts.items() if state not in IDLE_STATES)


class Batches(Drafts):
    async def check_file(self, actor: Actor, data: bytes | str) -> BatchReport:
        """Reads and checks every row; the ready ones become drafts of one new batch. Nothing
        reaches the provisioning service."""
        await self.refuse_unless_bulk(actor)
        try:
            batch = read_batch(data)
        except BatchFileRefused as refused:
            raise BatchRefused(refused.text) from None
        tenant = await self.bulk_tenant(actor)
        if tenant is None:
            raise BatchRefused(PICK_FIRST if may_pick_enterprise(actor) else TENANT_NOT_SET_UP)
        kind = add_kind(actor) or RequestKind.admin
        options = await self._options(tenant.tenant_id)
        checked = await check_batch(self._provisioning, options, batch)
        batch_id = str(uuid.uuid4())
        rows = [
            draft_row(
                actor,
                kind,
                tenant,
                spec.model_dump(mode="json") | {"line": str(line), "reviewed": True},
                batch_id=batch_id,
            )
            for line, spec in checked.ready
        ]
        if rows and checked.problems:
            kept = [
                [p.line, fitted(p.text, 300), p.teams_user[:320], p.extension[:20]] for p in checked.problems
            ]
            rows[0]["values"] = rows[0]["values"] | {BATCH_PROBLEMS: json.dumps(kept)}

        def work(conn: Connection) -> None:
            if rows:
                conn.execute(insert(db.requests), rows)
            self._audit(
                conn,
                actor,
                tenant.tenant_id,
                None,
                "bulk_check",
                None,
                None,
                T(
                    "bulk add {batch}: {ready} row(s) ready, {problems} problem(s)",
                    batch=batch_id[:8],
                    ready=len(rows),
                    problems=len(checked.problems),
                ),
            )

        await self._db.write(work)
        return BatchReport(batch_id, tenant, len(rows), checked.problems)

    async def refuse_unless_bulk(self, actor: Actor) -> None:
        """Refused (and audited) unless this person may start a bulk add: before a file is even
        fetched."""
        if not may_bulk_add(actor):
            await self.audit(
                actor, actor.tenant_id, None, "refused", None, None, T("bulk add: not a GA or partner")
            )
            raise NotAuthorised(T("Bulk add is for a tenant's global admins and its partners."))

    async def choose_bulk_tenant(self, actor: Actor, tenant_id: str) -> Tenant:
        """A partner's pick for its bulk adds (kept: a file sent in the chat names no enterprise)."""
        await self.refuse_unless_bulk(actor)
        managed = await self._provisioning.enterprises_of(actor.tenant_id)
        tenant = next((t for t in managed if t.tenant_id == tenant_id), None)
        if tenant is None or not may_add_for(actor, tenant_id, {t.tenant_id for t in managed}):
            await self.audit(actor, tenant_id, None, "refused", None, None, T("not managed"))
            raise NotAuthorised(T("Your partner account does not manage that enterprise."))
        t = db.bulk_targets
        mine = (t.c.tenant_id == actor.tenant_id) & (t.c.aad_object_id == actor.aad_object_id)
        row = {"tenant_id": actor.tenant_id, "aad_object_id": actor.aad_object_id}

        def work(conn: Connection) -> None:
            conn.execute(delete(t).where(mine))
            conn.execute(insert(t).values(**row, target_tenant_id=tenant_id, chosen_at=utcnow()))

        await self._db.write(work)
        return tenant

    async def bulk_enterprises(self, actor: Actor) -> list[Tenant]:
        """The enterprises a partner may pick for a bulk add."""
        return await self._provisioning.enterprises_of(actor.tenant_id) if may_pick_enterprise(actor) else []

    async def bulk_tenant(self, actor: Actor) -> Tenant | None:
        """Where this person's bulk add goes: a global admin's own tenant; for a partner, the
        enterprise it last picked (or its only one), if it still manages it."""
        if not may_pick_enterprise(actor):
            return await self._provisioning.tenant(actor.tenant_id)
        managed = await self._provisioning.enterprises_of(actor.tenant_id)
        t = db.bulk_targets
        query = select(t.c.target_tenant_id).where(
            t.c.tenant_id == actor.tenant_id, t.c.aad_object_id == actor.aad_object_id
        )
        chosen = await self._db.read(lambda conn: conn.execute(query).scalar())
        found = next((e for e in managed if e.tenant_id == chosen), None)
        return found or (managed[0] if len(managed) == 1 else None)

    async def queue_batch(self, actor: Actor, batch_id: str) -> list[str]:
        """ "Add N users": every draft row of the batch queued in one conditional write (a double
        click, or two instances, queue them once). Returns the rows this call queued."""
        r = db.requests
        queue = (
            update(r)
            .where(r.c.batch_id == batch_id, r.c.state == RequestState.draft.value)
            .where(r.c.requester_tenant_id == actor.tenant_id, r.c.requester_id == actor.aad_object_id)
            .values(state=RequestState.queued.value, version=r.c.version + 1, updated_at=utcnow())
            .returning(r.c.request_id, r.c.tenant_id)
        )

        def work(conn: Connection) -> list[Any]:
            queued = conn.execute(queue).all()
            if queued and add_kind(actor) is RequestKind.partner:
                # The batch's one approval round, opened with the rows: asked for once they ended.
                now = utcnow()
                conn.execute(
                    insert(db.batch_approvals).values(
                        batch_id=batch_id,
                        tenant_id=queued[0].tenant_id,
                        state="running",
                        version=1,
                        created_at=now,
                        updated_at=now,
                    )
                )
            for row in queued:
                self._audit(
                    conn,
                    actor,
                    row.tenant_id,
                    row.request_id,
                    "queue",
                    RequestState.draft,
                    RequestState.queued,
                    T("bulk add"),
                )
            return queued

        queued = await self._db.write(work)
        if not queued:
            await self._batch_of(actor, batch_id)  # refuses a batch that is not theirs
        return [row.request_id for row in queued]

    async def start_queued(self, request_id: str) -> ProvisioningRequest | None:
        """The runner's turn for a row: queued -> submitted, with the pipeline's lease; None when
        the row is no longer queued (cancelled, or another instance's runner took it)."""
        request = await self.get(request_id)
        if request.state is not RequestState.queued:
            return None
        spec = request.spec
        return await self._try_transition(
            SYSTEM,
            request,
            RequestState.queued,
            RequestState.submitted,
            "submit",
            T(
                "add {teams_user} with extension {extension}",
                teams_user=spec.teams_user,
                extension=spec.extension,
            ),
            values=dict(request.values) | {ADDED_USERS: spec.teams_user.casefold()},
            **self._lease_values(),
        )

    async def cancel_batch(self, actor: Actor, batch_id: str) -> int:
        """Rows not started yet (drafts, queued) are cancelled; those running finish."""
        await self._batch_of(actor, batch_id)
        r = db.requests
        stop = (
            update(r)
            .where(
                r.c.batch_id == batch_id, r.c.state.in_([RequestState.draft.value, RequestState.queued.value])
            )
            .values(state=RequestState.cancelled.value, version=r.c.version + 1, updated_at=utcnow())
            .returning(r.c.request_id, r.c.state)
        )

        def work(conn: Connection) -> int:
            stopped = conn.execute(stop).all()
            for row in stopped:
                self._audit(
                    conn,
                    actor,
                    actor.tenant_id,
                    row.request_id,
                    "cancel",
                    None,
                    RequestState.cancelled,
                    T("bulk add cancelled"),
                )
            return len(stopped)

        return await self._db.write(work)

    async def batch_status(self, actor: Actor | None, batch_id: str) -> BatchStatus:
        rows = await self._batch_of(actor, batch_id)
        status = BatchStatus(
            batch_id, rows[0].tenant_name, (rows[0].requester_tenant_id, rows[0].requester_id), rows[0].kind
        )
        for row in rows:
            status.counts[row.state] += 1
            line, user = int(str(row.values.get("line") or 0)), str(row.values.get("teams_user"))
            failed = row.state is RequestState.failed
            why = (row.error_text or "") if failed else ""
            if failed:
                status.failures.append((line, user, why))
            status.rows.append((line, user, str(row.values.get("extension") or ""), row.state, why))
            if isinstance(kept := row.values.get(BATCH_PROBLEMS), str):
                status.problems = _problems(kept)
        status.failures.sort()
        status.rows.sort(key=lambda r: r[0])
        return status

    async def keep_batch_card(self, batch_id: str, card_ref: dict[str, Any]) -> None:
        """Where the batch's progress card is (kept on the batch's rows, as JSON text in their
        values), so that a runner started again after a restart updates it too."""
        r = db.requests
        rows = await self._all(select(r).where(r.c.batch_id == batch_id))
        text = json.dumps(card_ref)
        for row in rows[:1]:
            change = (
                update(r)
                .where(r.c.request_id == row.request_id)
                .values(values=dict(row.values) | {BATCH_CARD: text})
            )
            await self._db.write(lambda conn, change=change: conn.execute(change))

    async def batch_card(self, batch_id: str) -> dict[str, Any] | None:
        for row in await self._all(select(db.requests).where(db.requests.c.batch_id == batch_id)):
            text = row.values.get(BATCH_CARD)
            if isinstance(text, str):
                try:
                    found = json.loads(text)
                except ValueError:
                    return None
                return found if isinstance(found, dict) else None
        return None

    async def retry_failed(self, actor: Actor, batch_id: str) -> list[str]:
        """ "Try the failed rows again": each failed row that can resume moves back to where it
        failed (one conditional write each); returns those this call moved."""
        rows = await self._batch_of(actor, batch_id)
        moved = []
        for row in rows:
            # A row failed past a partner's approval is the tenant's admins' to try again.
            if row.state is RequestState.failed and row.resume_state is not None and may_retry(actor, row):
                try:
                    await self.retry(actor, row.request_id, row.version)
                except StaleRequest:
                    continue  # a double click, or another instance: moved already
                moved.append(row.request_id)
        return moved

    async def queued_batches(self) -> list[str]:
        """Batches with rows waiting to start: their runner is started again after a restart."""
        r = db.requests
        query = select(r.c.batch_id).where(r.c.state == RequestState.queued.value).distinct()
        return [b for b in await self._db.read(lambda conn: conn.execute(query).scalars().all()) if b]

    async def queued_rows(self, batch_id: str) -> list[str]:
        r = db.requests
        query = select(r.c.request_id).where(r.c.batch_id == batch_id, r.c.state == RequestState.queued.value)
        return list(
            await self._db.read(lambda conn: conn.execute(query.order_by(r.c.created_at)).scalars().all())
        )

    async def _batch_of(self, actor: Actor | None, batch_id: str) -> list[ProvisioningRequest]:
        """The batch's rows, if `actor` (None: the bot itself) started it."""
        rows = (
            await self._all(select(db.requests).where(db.requests.c.batch_id == batch_id)) if batch_id else []
        )
        if not rows:
            raise StaleRequest(T("That bulk add does not exist (any more)."))
        first = rows[0]
        if actor is not None and (first.requester_tenant_id, first.requester_id) != (
            actor.tenant_id,
            actor.aad_object_id,
        ):
            await self.audit(
                actor, actor.tenant_id, None, "refused", None, None, T("bulk add: not the author")
            )
            raise NotAuthorised(T("Only the person who started this bulk add can change it."))
        return rows


def _problems(kept: str) -> list[tuple[int, str | Text, str, str]]:
    try:
        found = [(int(p[0]), as_text(p[1]), str(p[2]), str(p[3])) for p in json.loads(kept)]
    except (ValueError, TypeError, IndexError, KeyError):
        return []
    return sorted(found, key=lambda p: p[0])
