"""The pipeline's steps for the actions on an existing phone user (issue 16): change, a new device
password, disable calling, and a removal's two steps (calling off, then the user deleted and the
extension freed, as the platform requires); and the wait for a person's steps in the portal where
the platform's API has no call. One step is one transition, like an add's."""

from __future__ import annotations

from i18n import T
from services.errors import PortalStepsRequired
from services.models import Actor, ProvisioningRequest, RequestAction, RequestState, StepOutcome
from services.passwords import generate_device_password
from services.requests.admin_sign_in import AdminSignIn
from services.requests.decisions import partner_notices

# In a request's values while it waits for the portal: which step (a STEP_NAMES name), what to do
# there (a `Text.encode()`), and the portal's page for it ("" when the platform has none).
PORTAL_STEP = "portal_step"
PORTAL_STEPS = "portal_steps"
PORTAL_URL = "portal_url"
# The steps a person said they did in the portal (space-separated step names).
PORTAL_DONE = "portal_done"


def portal_done(request: ProvisioningRequest, step: str) -> bool:
    return step in str(request.values.get(PORTAL_DONE) or "").split()


class ActionSteps(AdminSignIn):
    async def _step_change(self, request: ProvisioningRequest, actor: Actor) -> ProvisioningRequest | None:
        spec = request.spec
        await self._provisioning.change_user(request.tenant_id, spec)
        steps = request.steps.noted(
            "add_user", StepOutcome.done, T("{teams_user} changed", teams_user=spec.teams_user)
        )
        return await self._try_transition(
            actor,
            request,
            request.state,
            RequestState.user_added,
            "change_user",
            T("user changed"),
            steps=steps.model_dump(mode="json"),
        )

    async def _step_reset_password(
        self, request: ProvisioningRequest, actor: Actor
    ) -> ProvisioningRequest | None:
        upn = str(request.values.get("teams_user") or "")
        password = generate_device_password()
        await self._provisioning.reset_device_password(request.tenant_id, upn, password)
        del password
        steps = request.steps.noted("add_user", StepOutcome.done, T("New device password sent"))
        return await self._try_transition(
            actor,
            request,
            request.state,
            RequestState.done,
            "reset_password",
            T("new device password sent"),
            notices=partner_notices(request, "done"),
            steps=steps.model_dump(mode="json"),
        )

    async def _step_disable_calling(
        self, request: ProvisioningRequest, actor: Actor
    ) -> ProvisioningRequest | None:
        """Calling off: the whole of a "disable calling", the first half of a removal."""
        upn = str(request.values.get("teams_user") or "")
        if not portal_done(request, "calling"):
            await self._provisioning.disable_calling(request.tenant_id, upn)
        steps = request.steps.noted("calling", StepOutcome.done, T("Calling disabled"))
        removing = request.action is RequestAction.remove
        return await self._try_transition(
            actor,
            request,
            request.state,
            RequestState.calling_disabled if removing else RequestState.done,
            "disable_calling",
            T("calling disabled"),
            notices=[] if removing else partner_notices(request, "done"),
            steps=steps.model_dump(mode="json"),
        )

    async def _step_delete(self, request: ProvisioningRequest, actor: Actor) -> ProvisioningRequest | None:
        """A removal's second half: the user deleted from the connector, their extension freed."""
        upn = str(request.values.get("teams_user") or "")
        await self._provisioning.delete_user(
            request.tenant_id, upn, done_in_portal=portal_done(request, "delete")
        )
        steps = request.steps.noted(
            "delete",
            StepOutcome.done,
            T(
                "{upn} deleted, extension {extension} free",
                upn=upn,
                extension=request.values.get("extension", ""),
            ),
        )
        return await self._try_transition(
            actor,
            request,
            RequestState.calling_disabled,
            RequestState.done,
            "delete_user",
            T("user deleted, extension freed"),
            notices=partner_notices(request, "done"),
            steps=steps.model_dump(mode="json"),
        )

    async def _await_portal(
        self, request: ProvisioningRequest, needed: PortalStepsRequired, actor: Actor
    ) -> ProvisioningRequest | None:
        """The platform's API has no call for this step: the request waits for a person to do it in
        the portal and say so ("Done in the portal"), then runs the step again, which records it."""
        step = failed_step(request) or "add_user"
        values = dict(request.values) | {
            PORTAL_STEP: step,
            PORTAL_STEPS: needed.steps.encode(),
            PORTAL_URL: needed.url or "",
        }
        steps = request.steps.noted(step, StepOutcome.pending, T("To do in the portal"))
        return await self._try_transition(
            actor,
            request,
            request.state,
            RequestState.awaiting_portal,
            "await_portal",
            needed.steps,
            notices=partner_notices(request, "portal"),
            values=values,
            resume_state=request.state.value,
            steps=steps.model_dump(mode="json"),
        )


# The step each state is at, for each action (the add's are in ADD_STEPS): what `_fail` marks failed.
_ADD_STEP_NAMES = {
    RequestState.submitted: "add_user",
    RequestState.user_added: "sync",
    RequestState.approved: "sync",
    RequestState.synced: "calling",
    RequestState.awaiting_admin_sign_in: "calling",
    RequestState.admin_signed_in: "calling",
}


def failed_step(request: ProvisioningRequest) -> str | None:
    """Which of the card's steps the request is at (the one a failure marks), or None."""
    action, state = request.action, request.state
    if action is RequestAction.add:
        return _ADD_STEP_NAMES.get(state)
    if state is RequestState.awaiting_approval:
        return None
    if action in (RequestAction.change, RequestAction.reset_password):
        return "sync" if state is RequestState.user_added else "add_user"
    if action is RequestAction.remove and state is RequestState.calling_disabled:
        return "delete"
    return "calling"
