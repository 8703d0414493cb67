"""The removal that undoes a partner's add nobody approved (issue 17): when a global admin rejects
it, or when it expires, the user the partner's half added at the provisioning service is removed
again and the extension freed, by a removal request of its own (issue 16's), created in the same
transaction as the rejection or the expiry: exactly once, audited, resumed after a restart."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import insert
from sqlalchemy.sql import Executable

from i18n import T, Text
from services import db
from services.db import utcnow
from services.models import (
    Actor,
    ProvisioningRequest,
    RequestAction,
    RequestKind,
    RequestState,
    StepOutcome,
    Steps,
)
from services.requests.form import DISPLAY_NAME, FROM_EXTENSION, FROM_PBX_LOCATION
from services.requests.transitions import fitted

# In the undone request's values: the removal's id; in the removal's: the request it undoes.
CLEANUP_REQUEST = "cleanup_request"
CLEANUP_OF = "cleanup_of"

_KEPT = ("teams_user", "pbx_location", "voice_route", "extension", "phone_number", "sip_auth_id")


def needs_cleanup(request: ProvisioningRequest) -> bool:
    """A partner's add whose user the service has (its add step ran)."""
    return request.action is RequestAction.add and request.steps.add_user is StepOutcome.done


def cleanup_removal(
    request: ProvisioningRequest, actor: Actor, *, expired: bool
) -> tuple[str, Sequence[Executable]]:
    """The id and the statements (the removal request, its audit row) of the removal that undoes
    `request`, asked by `actor` (the admin who rejected, or the bot for an expiry). It is the
    tenant's own (kind admin): its global admins see it and finish a step in the portal if the
    platform needs one; it starts submitted, so the pipeline runs it at once."""
    removal_id = str(uuid.uuid4())
    now = utcnow()
    values: dict[str, str | bool] = {k: request.values[k] for k in _KEPT if k in request.values}
    values |= {
        DISPLAY_NAME: str(request.values.get("teams_user") or ""),
        FROM_EXTENSION: str(request.values.get("extension") or ""),
        FROM_PBX_LOCATION: str(request.values.get("pbx_location") or ""),
        CLEANUP_OF: request.request_id,
    }
    row = {
        "request_id": removal_id,
        "kind": RequestKind.admin.value,
        "action": RequestAction.remove.value,
        "tenant_id": request.tenant_id,
        "tenant_name": request.tenant_name,
        "requester_tenant_id": actor.tenant_id,
        "requester_id": actor.aad_object_id,
        "requester_name": actor.name,
        "state": RequestState.submitted.value,
        "version": 1,
        "values": values,
        "steps": Steps().model_dump(mode="json"),
        "created_at": now,
        "updated_at": now,
    }
    audit = insert(db.audit).values(
        at=now,
        actor_tenant_id=actor.tenant_id,
        actor_id=actor.aad_object_id,
        actor_name=fitted(actor.name_text, 200) if actor.name_text else actor.name,
        tenant_id=request.tenant_id,
        request_id=removal_id,
        action="create",
        from_state=None,
        to_state=RequestState.submitted.value,
        outcome=fitted(_why(values.get("teams_user", ""), request.short_id, expired=expired), 500),
    )
    return removal_id, [insert(db.requests).values(**row), audit]


def _why(teams_user: object, request: str, *, expired: bool) -> Text:
    if expired:
        return T(
            "remove {teams_user} again: request {request} expired", teams_user=teams_user, request=request
        )
    return T(
        "remove {teams_user} again: request {request} was rejected", teams_user=teams_user, request=request
    )
