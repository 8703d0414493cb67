"""The requester's part before provisioning: start a draft, save the form (every value kept, good or
bad), back to the form, submit (draft -> submitted, which starts the pipeline), cancel."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, insert, update

from i18n import T, Text
from services import db
from services.add_user_rules import sip_auth_id_for
from services.db import utcnow
from services.errors import NotAuthorised, ProvisioningError, StaleRequest
from services.models import (
    Actor,
    FormOptions,
    ProvisioningRequest,
    RequestAction,
    RequestKind,
    RequestState,
    Steps,
    Tenant,
)
from services.requests.access import add_kind, may_add_for
from services.requests.decisions import Decisions
from services.requests.form import (
    ADDED_USERS,
    DISPLAY_NAME,
    FROM_EXTENSION,
    FROM_PBX_LOCATION,
    AddUserInput,
    FieldErrors,
    check_form,
    effective_form,
    needs_dial_plan_confirmation,
    needs_voicemail_confirmation,
    own_adds,
    to_spec,
    with_add,
)
from services.requests.repository import request_from_row


@dataclass
class FormResult:
    """The outcome of a form submit: the saved draft, and what is still wrong with it."""

    request: ProvisioningRequest
    options: FormOptions
    errors: FieldErrors = field(default_factory=dict)
    confirm_voicemail: bool = False
    confirm_dial_plan: bool = False

    @property
    def ready_for_review(self) -> bool:
        return not self.errors and not self.confirm_voicemail and not self.confirm_dial_plan


class Drafts(Decisions):
    """Based on Decisions for one case: "cancel" on a request that waits for a Global Admin's
    sign-in is a stop, which is the tenant's admins' decision for a partner's request."""

    async def start_draft(self, actor: Actor, tenant_id: str | None = None) -> ProvisioningRequest:
        """A new draft for the actor's own tenant (admin) or an enterprise it manages (partner)."""
        kind = add_kind(actor)
        if kind is RequestKind.admin:
            tenant_id = actor.tenant_id
        elif kind is RequestKind.partner:
            managed = {t.tenant_id for t in await self._provisioning.enterprises_of(actor.tenant_id)}
            if not may_add_for(actor, tenant_id, managed):
                await self.audit(actor, tenant_id, None, "refused", None, None, T("not managed"))
                raise NotAuthorised(T("You do not manage that enterprise."))
        else:
            await self.audit(actor, tenant_id or actor.tenant_id, None, "refused", None, None, T("no role"))
            raise NotAuthorised(
                T(
                    "Only a global administrator of this tenant or a partner who manages it can add phone users."
                )
            )
        tenant = await self._provisioning.tenant(tenant_id)
        if tenant is None:
            raise ProvisioningError(TENANT_NOT_SET_UP)
        options = await self._options(tenant_id)
        values: dict[str, str | bool] = {
            "pbx_location": options.pbx_locations[0] if len(options.pbx_locations) == 1 else "",
            "voice_route": options.voice_routes[0].name if len(options.voice_routes) == 1 else "",
            "disable_voicemail": True,
            "default_dial_plan": True,
        }
        return await self._insert_draft(actor, kind, tenant, values)

    async def _insert_draft(
        self,
        actor: Actor,
        kind: RequestKind,
        tenant: Tenant,
        values: dict[str, str | bool],
        action: RequestAction = RequestAction.add,
    ) -> ProvisioningRequest:
        """A new draft row and its audit row, in one transaction."""
        row = draft_row(actor, kind, tenant, values, action)

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
                T("draft created"),
            )
            return created

        created = await self._db.write(work)
        # No card yet: the form's reference, written once the form is sent, needs no read first.
        self._saw_card_ref(created.request_id, created.card_ref)
        return request_from_row(created)

    async def save_form(
        self,
        actor: Actor,
        request_id: str,
        version: int,
        values: Mapping[str, Any],
        errors: FieldErrors | None = None,
    ) -> FormResult:
        """Validate and keep the form's values (by field name); the draft keeps every value, good or
        bad. `errors` are problems the card itself had (cards.add_user_form.form_values)."""
        request = await self._for_change(actor, request_id, version, RequestState.draft)
        form, parse_errors = AddUserInput.from_values(values)
        errors = dict(errors or {}) | parse_errors
        options = await self._options(request.tenant_id)
        changing = _changing(request)
        # A form drawn again shows the phone number that followed the extension it had: a new
        # extension takes it along (an add's as a change's), instead of being refused.
        form = _follow_extension(request, form, options.sip_auth_suffix)
        form = effective_form(form, options)
        names: dict[str, str] = {}
        errors = await check_form(
            self._provisioning, options, form, errors, own_adds(request), changing, names
        )
        values = form.model_dump(mode="json")
        for key in KEPT:  # e.g. the users this request sent before going back, a change's "from"
            if request.values.get(key):
                values[key] = request.values[key]
        if "extension" not in errors and form.extension and not values.get("phone_number"):
            # The portal's manual fix, automated: the phone number is the extension.
            values["phone_number"] = form.extension
        if "teams_user" not in errors and changing is None:
            # Every card names the person, not only their address (check_form read them).
            if form.teams_user in names:
                values[DISPLAY_NAME] = names[form.teams_user]
        voicemail = not errors and needs_voicemail_confirmation(form)
        dial_plan = not errors and needs_dial_plan_confirmation(form)
        values["reviewed"] = not errors and not voicemail and not dial_plan
        request = await self._update_draft(request, values)
        return FormResult(
            request=request,
            options=options,
            errors=errors,
            confirm_voicemail=voicemail,
            confirm_dial_plan=dial_plan,
        )

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
                T("back to the form"),
                error=None,
                resume_state=None,
                steps=Steps().model_dump(mode="json"),
            )
        elif request.state is not RequestState.draft:
            raise StaleRequest(T("This request can no longer be edited."))
        values = dict(request.values) | {"reviewed": False}
        request = await self._update_draft(request, values)
        return FormResult(request=request, options=await self.form_options(request))

    async def _update_draft(
        self, request: ProvisioningRequest, values: dict[str, Any]
    ) -> ProvisioningRequest:
        """A draft's values change, its state does not: no audit row, but the same version guard."""
        key = {
            "key_request_id": request.request_id,
            "key_version": request.version,
            "values": values,
            "version": request.version + 1,
            "updated_at": utcnow(),
        }
        row = await self._db.write(lambda conn: conn.execute(_UPDATE_DRAFT, key).first())
        if row is None:
            raise StaleRequest(T("This card is out of date: the request changed meanwhile."))
        return request_from_row(row)

    async def submit(self, actor: Actor, request_id: str, version: int) -> FormResult:
        """Review confirmed: check everything once more, then draft -> submitted."""
        request = await self._for_change(actor, request_id, version, RequestState.draft)
        options = await self._options(request.tenant_id)
        form, errors = AddUserInput.from_values(request.values)
        form = effective_form(form, options)
        errors = await check_form(
            self._provisioning, options, form, errors, own_adds(request), _changing(request)
        )
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
            action_summary(request),
            values={k: request.values[k] for k in KEPT if k in request.values}
            | spec.model_dump(mode="json")
            | {
                "voicemail_confirmed": form.voicemail_confirmed,
                "dial_plan_confirmed": form.dial_plan_confirmed,
            }
            | (
                {ADDED_USERS: with_add(request, spec.teams_user)}
                if request.action is RequestAction.add
                else {}
            ),
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
            raise StaleRequest(T("This request is already being provisioned and cannot be cancelled."))
        return await self._transition(
            actor, request, from_state, RequestState.cancelled, "cancel", T("cancelled by requester")
        )


# What a request for a tenant the provisioning side does not know is told.
TENANT_NOT_SET_UP = T("That tenant is not set up at the provisioning service.")


def draft_row(
    actor: Actor,
    kind: RequestKind,
    tenant: Tenant,
    values: dict[str, str | bool],
    action: RequestAction = RequestAction.add,
    batch_id: str | None = None,
) -> dict[str, Any]:
    """A new draft request's row, asked by `actor` for `tenant` (a bulk add's row: `batch_id`)."""
    now = utcnow()
    return {
        "request_id": str(uuid.uuid4()),
        "kind": kind.value,
        "action": action.value,
        "batch_id": batch_id,
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


# Values a draft keeps when the form is saved: they are not the form's fields.
KEPT = (ADDED_USERS, DISPLAY_NAME, FROM_EXTENSION, FROM_PBX_LOCATION)


def _changing(request: ProvisioningRequest) -> str | None:
    """The phone user a change changes (None for an add)."""
    if request.action is not RequestAction.change:
        return None
    return str(request.values.get("teams_user") or "")


def _follow_extension(request: ProvisioningRequest, form: AddUserInput, suffix: str) -> AddUserInput:
    """Another extension on a form drawn again (an add's, a change's): the phone number and the SIP
    authentication ID that followed the extension the draft had (as the procedure makes them)
    follow the new one, instead of being refused."""
    old = str(request.values.get("extension") or request.values.get(FROM_EXTENSION) or "")
    if not old or form.extension == old:
        return form
    update: dict[str, str] = {}
    if form.phone_number == old:
        update["phone_number"] = form.extension
    if form.sip_auth_id == sip_auth_id_for(old, suffix):
        update["sip_auth_id"] = sip_auth_id_for(form.extension, suffix)
    return form.model_copy(update=update)


def action_summary(request: ProvisioningRequest) -> Text:
    """The audit line of a submitted action."""
    upn = str(request.values.get("teams_user") or "")
    action = request.action
    if action is RequestAction.add:
        return T(
            "add {teams_user} with extension {extension}",
            teams_user=upn,
            extension=str(request.values.get("extension") or ""),
        )
    if action is RequestAction.change:
        return T(
            "change {teams_user}: extension {old} to {extension}",
            teams_user=upn,
            old=str(request.values.get(FROM_EXTENSION) or ""),
            extension=str(request.values.get("extension") or ""),
        )
    if action is RequestAction.reset_password:
        return T("new device password for {teams_user}", teams_user=upn)
    if action is RequestAction.disable_calling:
        return T("disable calling for {teams_user}", teams_user=upn)
    if action is RequestAction.enable_calling:
        return T("enable calling for {teams_user}", teams_user=upn)
    return T("remove {teams_user}", teams_user=upn)


# Built once; the columns set are the execution's parameters.
_UPDATE_DRAFT = (
    update(db.requests)
    .where(
        db.requests.c.request_id == bindparam("key_request_id"),
        db.requests.c.state == RequestState.draft.value,
        db.requests.c.version == bindparam("key_version"),
    )
    .returning(*db.requests.c)
)
