"""The demo world on a real SQLite database, with the request service over the embedded provisioning
service and directory: what every state-machine test starts from, without HTTP."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from services import db
from services.db import Database
from services.directory import EmbeddedDirectory
from services.models import Actor, AuditEntry, ProvisioningRequest, RequestState
from services.provisioning.embedded import EmbeddedProvisioningService
from services.requests.service import RequestService
from tests import doubles

# A valid add for Contoso: one PBX ("PBX"), two voice routes, extension 102 free, Adele licensed.
CONTOSO_FORM: Mapping[str, Any] = {
    "pbx_location": "PBX",
    "voice_route": "CA Central",
    "teams_user": "adele@contoso.example",
    "extension": "102",
    "sip_auth_id": "102t",
}


@dataclass
class World:
    database: Database
    provisioning: EmbeddedProvisioningService
    directory: EmbeddedDirectory
    requests: RequestService
    admin: Actor  # Contoso's global admin
    admin2: Actor  # Contoso's other global admin
    user: Actor  # a Contoso user without a role
    fabrikam_admin: Actor  # a global admin of another tenant
    partner: Actor  # Northwind: manages Contoso, Fabrikam and Litware
    tailspin: Actor  # Tailspin: manages Fabrikam only

    @classmethod
    async def of(cls, database: Database) -> World:
        provisioning = EmbeddedProvisioningService(database)
        directory = EmbeddedDirectory(database)
        return cls(
            database=database,
            provisioning=provisioning,
            directory=directory,
            requests=RequestService(database, provisioning, directory),
            admin=await directory.actor(doubles.CONTOSO, doubles.CONTOSO_ADMIN),
            admin2=await directory.actor(doubles.CONTOSO, doubles.CONTOSO_ADMIN2),
            user=await directory.actor(doubles.CONTOSO, doubles.CONTOSO_USER, "Uma User"),
            fabrikam_admin=await directory.actor(doubles.FABRIKAM, doubles.FABRIKAM_ADMIN),
            partner=await directory.actor(doubles.NORTHWIND, doubles.NORTHWIND_PARTNER),
            tailspin=await directory.actor(doubles.TAILSPIN, doubles.TAILSPIN_PARTNER),
        )

    # -- bringing a request to a state -----------------------------------------------------------

    async def draft(self, actor: Actor) -> ProvisioningRequest:
        return await self.requests.start_draft(actor, doubles.CONTOSO)

    async def reviewed(self, actor: Actor) -> ProvisioningRequest:
        draft = await self.draft(actor)
        saved = await self.requests.save_form(actor, draft.request_id, draft.version, CONTOSO_FORM)
        assert saved.ready_for_review, saved.errors
        return saved.request

    async def submitted(self, actor: Actor) -> ProvisioningRequest:
        reviewed = await self.reviewed(actor)
        result = await self.requests.submit(actor, reviewed.request_id, reviewed.version)
        assert result.request.state is RequestState.submitted, result.errors
        return result.request

    async def run(self, request: ProvisioningRequest, actor: Actor | None = None) -> list[RequestState]:
        """Runs the pipeline; returns each state it moved the request to, in order."""
        seen: list[RequestState] = []

        async def progress(moved: ProvisioningRequest) -> None:
            seen.append(moved.state)

        await self.requests.run(request.request_id, progress, actor=actor)
        return seen

    async def awaiting_approval(self) -> ProvisioningRequest:
        """A partner's add for Contoso, the partner's half done."""
        submitted = await self.submitted(self.partner)
        assert await self.run(submitted, self.partner) == [RequestState.awaiting_approval]
        return await self.requests.get(submitted.request_id)

    # -- what was written ------------------------------------------------------------------------

    async def audit(self, request: ProvisioningRequest) -> list[AuditEntry]:
        """The request's audit rows, oldest first."""
        entries = await self.requests.audit_of_tenant(request.tenant_id, limit=500)
        return [e for e in reversed(entries) if e.request_id == request.request_id]

    async def actions(self, request: ProvisioningRequest) -> list[str]:
        return [e.action for e in await self.audit(request)]

    async def outbox(self, request: ProvisioningRequest) -> list[tuple[str, str | None, dict[str, Any]]]:
        """(kind, recipient id, payload) of the request's notices, in the order they were written."""
        o = db.outbox
        query = select(o.c.kind, o.c.recipient_id, o.c.payload).where(o.c.request_id == request.request_id)
        rows = await self.database.read(lambda conn: conn.execute(query.order_by(o.c.id)).all())
        return [(row.kind, row.recipient_id, row.payload) for row in rows]

    async def audit_rows(self) -> int:
        query = select(func.count()).select_from(db.audit)
        return await self.database.read(lambda conn: conn.execute(query).scalar_one())
