"""Actions on one existing phone user (issue 16): change, reset the device password, disable or
enable calling, remove. Each is a request of its own action on the same state machine as an add:
a draft (the confirmation card, or the add form prefilled for a change), a submit that checks
everything once more, the pipeline's steps, a partner's approval where the action needs one, and
"Done in the portal" where the platform's API has no call for a step."""

from __future__ import annotations

from sqlalchemy import select

from i18n import T
from services import db
from services.errors import DomainError, NotAuthorised, StaleRequest, not_a_phone_user
from services.models import (
    FINAL_STATES,
    Actor,
    PhoneUserState,
    ProvisioningRequest,
    RequestAction,
    RequestState,
)
from services.requests.access import add_kind, may_retry
from services.requests.action_steps import PORTAL_DONE, PORTAL_STEP
from services.requests.drafts import Drafts, FormResult, action_summary
from services.requests.form import DISPLAY_NAME, FROM_EXTENSION, FROM_PBX_LOCATION
from services.requests.phone_users import PhoneUserGone, PhoneUserViews
from services.requests.transitions import OUT_OF_DATE

# Requests of a tenant read to find one already under way for a user.
BUSY_READ = 500
# States in which a request is under way for its user: another action on them waits for its end.
_NOT_BUSY = FINAL_STATES | {RequestState.draft, RequestState.failed}


NO_SUCH_ACTION = T("This card asked for an action that does not exist.")


class ActionRefused(DomainError):
    """The action does not apply to the user as they are now (calling already off, ...)."""


class PhoneUserActions(Drafts, PhoneUserViews):
    """Starting and confirming an action on a phone user; the steps are the pipeline's."""

    async def start_action(
        self, actor: Actor, tenant_id: str, upn: str, action: RequestAction
    ) -> ProvisioningRequest:
        """A draft of `action` on the phone user `upn`, with their values as they are now."""
        if action is RequestAction.add:
            raise ActionRefused(NO_SUCH_ACTION)
        tenant = await self._phone_users_tenant(actor, tenant_id)
        kind = add_kind(actor)
        if kind is None:  # _phone_users_tenant refused already; this keeps the types honest
            raise NotAuthorised(T("You are not allowed to see or change that request."))
        state = await self._current_user(tenant.tenant_id, tenant.name, upn)
        await self._refuse_unless_applies(tenant.tenant_id, action, state)
        user = await self._provisioning.teams_user(tenant.tenant_id, state.upn)
        values: dict[str, str | bool] = {
            "teams_user": state.upn,
            DISPLAY_NAME: user.display_name if user else state.upn,
            "pbx_location": state.pbx_location or "",
            "voice_route": state.voice_route or "",
            "extension": state.extension or "",
            "phone_number": state.phone_number or "",
            "disable_voicemail": bool(state.voicemail_disabled),
            "default_dial_plan": bool(state.default_dial_plan),
            "sip_auth_id": state.sip_auth_id or "",
            FROM_EXTENSION: state.extension or "",
            FROM_PBX_LOCATION: state.pbx_location or "",
        }
        return await self._insert_draft(actor, kind, tenant, values, action)

    async def _current_user(self, tenant_id: str, tenant_name: str, upn: str) -> PhoneUserState:
        state = await self._provisioning.user_state(tenant_id, upn) if upn else None
        if state is None or not state.provisioned:
            raise PhoneUserGone(not_a_phone_user(upn, tenant_name))
        return state

    async def _refuse_unless_applies(
        self, tenant_id: str, action: RequestAction, state: PhoneUserState, but: str = ""
    ) -> None:
        """The action applies to the user as they are now, and no other request is under way for
        them (`but`: the request asking)."""
        if action is RequestAction.disable_calling and not state.calling_enabled:
            raise ActionRefused(T("Calling is already disabled for {upn}.", upn=state.upn))
        if action is RequestAction.enable_calling and state.calling_enabled:
            raise ActionRefused(T("Calling is already enabled for {upn}.", upn=state.upn))
        busy = await self._under_way(tenant_id, state.upn, but)
        if busy is not None:
            raise ActionRefused(
                T(
                    "A request for {upn} is already under way (request {request}): wait until it ends, "
                    "then try again.",
                    upn=state.upn,
                    request=busy.short_id,
                )
            )

    async def _under_way(self, tenant_id: str, upn: str, but: str = "") -> ProvisioningRequest | None:
        """A request of the tenant for `upn` that has been submitted and has not ended (`but`: the
        one asking). Two actions on one user at once would undo each other (a change racing a
        removal), so a second one waits until the first ends."""
        r = db.requests
        query = (
            select(r)
            .where(r.c.tenant_id == tenant_id, r.c.state.not_in([s.value for s in _NOT_BUSY]))
            .limit(BUSY_READ)
        )
        for request in await self._all(query):
            same_user = str(request.values.get("teams_user") or "").casefold() == upn.casefold()
            if same_user and request.request_id != but:
                return request
        return None

    async def submit(self, actor: Actor, request_id: str, version: int) -> FormResult:
        """Confirmed (an add's or a change's review, or an action's confirmation): the user is still
        a phone user, the action still applies and nothing else is under way for them; then
        draft -> submitted, which starts the pipeline."""
        request = await self._for_change(actor, request_id, version, RequestState.draft)
        if request.action is RequestAction.add:
            return await super().submit(actor, request_id, version)
        upn = str(request.values.get("teams_user") or "")
        state = await self._current_user(request.tenant_id, request.tenant_name, upn)
        await self._refuse_unless_applies(request.tenant_id, request.action, state, request.request_id)
        if request.action is RequestAction.change:
            return await super().submit(actor, request_id, version)
        options = await self._options(request.tenant_id)
        return FormResult(request=await self._submit_action(actor, request), options=options)

    async def _submit_action(self, actor: Actor, request: ProvisioningRequest) -> ProvisioningRequest:
        return await self._transition(
            actor,
            request,
            RequestState.draft,
            RequestState.submitted,
            "submit",
            action_summary(request),
            **self._lease_values(),
        )

    async def portal_steps_done(self, actor: Actor, request_id: str, version: int) -> ProvisioningRequest:
        """ "Done in the portal": the person did the step the platform's API has no call for; the
        request goes back to that step, which now only records it."""
        request = await self._for_change(actor, request_id, version)
        if request.state is not RequestState.awaiting_portal or request.resume_state is None:
            raise StaleRequest(OUT_OF_DATE)
        if not may_retry(actor, request):
            await self.audit(
                actor, request.tenant_id, request_id, "refused", request.state, None, T("portal: not a GA")
            )
            raise NotAuthorised(
                T("Only a global admin of {tenant} can confirm this step.", tenant=request.tenant_name)
            )
        step = str(request.values.get(PORTAL_STEP) or "")
        done = " ".join(sorted(set(str(request.values.get(PORTAL_DONE) or "").split()) | {step}))
        return await self._transition(
            actor,
            request,
            RequestState.awaiting_portal,
            request.resume_state,
            "portal_done",
            T("{name} did the portal steps", name=actor.name),
            values=dict(request.values) | {PORTAL_DONE: done},
            error=None,
            **self._lease_values(),
        )
