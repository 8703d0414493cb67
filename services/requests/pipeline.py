"""The provisioning pipeline: from wherever a request stands, the next step (add the user, sync,
enable calling, finish) until it ends, fails or must wait for someone; one step is one transition."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from i18n import T
from services.errors import AdminSignInRequired, PortalStepsRequired, ProvisioningError
from services.models import (
    APPROVED_FIRST,
    WORKING_STATES,
    Actor,
    ProvisioningRequest,
    RequestAction,
    RequestKind,
    RequestState,
    StepOutcome,
)
from services.notify.outbox import Notice, NoticeKind
from services.passwords import generate_device_password
from services.requests.action_steps import ActionSteps, failed_step
from services.requests.decisions import partner_notices
from services.requests.transitions import SYSTEM

log = logging.getLogger(__name__)

Progress = Callable[[ProvisioningRequest], Awaitable[None]]


class ProvisioningPipeline(ActionSteps):
    """Based on ActionSteps (the steps of the actions on an existing phone user) and, below it,
    AdminSignIn: the enable-calling step asks for a Global Admin's sign-in when the tenant has not
    given the service provider consent. `step_for` says which step a request is at."""

    # Pipelines this process runs now, each with the callers that asked for it meanwhile (a
    # decision landing while it finishes): the running loop carries on with their actor.
    _running: dict[str, list[tuple[Progress | None, Actor | None]]]

    async def run(
        self, request_id: str, on_progress: Progress | None = None, actor: Actor | None = None
    ) -> ProvisioningRequest:
        """Run the pipeline from wherever the request stands until it ends, fails or must wait.

        Only the holder of the request's lease runs it; another instance finds it taken and
        leaves it. In this process, a second caller (an approval landing while the partner's
        part finishes) hands its actor to the running loop, which carries on with it.
        """
        if request_id in self._running:
            self._running[request_id].append((on_progress, actor))
            return await self.get(request_id)
        self._running[request_id] = []
        try:
            request = await self.get(request_id)
            while True:
                if step_for(request) is not None:
                    claimed_at = self._taken_lately(request_id)  # the click's write took the lease
                    if claimed_at is None:
                        claimed_at = time.monotonic()  # before: the lease counts from before the write
                        if not await self._claim(request_id):
                            break  # another instance runs it
                    heartbeat = asyncio.get_running_loop().create_task(self._keep_lease(request_id))
                    try:
                        request = await self._run_claimed(request, on_progress, actor, claimed_at)
                    finally:
                        heartbeat.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await heartbeat
                        # Else keep it, we carry on at once; the last step gave it back itself.
                        if not self._running[request_id] and request.state is not RequestState.done:
                            await self._release(request_id)
                handed = self._running[request_id]
                if not handed:
                    break
                on_progress, actor = handed[-1]
                handed.clear()
                request = await self.get(request_id)
        finally:
            # No await between the last look at the hand-overs and this: a later caller runs itself.
            del self._running[request_id]
        return request

    async def _run_claimed(
        self,
        request: ProvisioningRequest,
        on_progress: Progress | None,
        actor: Actor | None,
        claimed_at: float,
    ) -> ProvisioningRequest:
        request_id = request.request_id
        while request.state in WORKING_STATES:
            step = step_for(request)
            if step is None:
                break
            # Renew before a step, unless taken or renewed within a third of the lease (nobody
            # takes a lease over before it runs out); lost it only if we stalled past the lease.
            if time.monotonic() - claimed_at >= self._lease.total_seconds() / 3:
                renewing_at = time.monotonic()
                if not await self._claim(request_id):
                    return await self.get(request_id)
                claimed_at = renewing_at
            try:
                moved = await step(self, request, actor or SYSTEM)
            except PortalStepsRequired as needed:
                moved = await self._await_portal(request, needed, actor or SYSTEM)
            except ProvisioningError as exc:
                moved = await self._fail(request, exc, actor or SYSTEM)
            except Exception:
                log.exception("provisioning step failed", extra={"request_id": request_id})
                moved = await self._fail(
                    request,
                    ProvisioningError(T("Something unexpected went wrong at the provisioning step.")),
                    actor or SYSTEM,
                )
            if moved is None:  # another worker moved it first
                return await self.get(request_id)
            request = moved
            if on_progress is not None:
                await on_progress(request)
        return request

    # -- the steps -------------------------------------------------------------------------------

    async def _step_add_user(self, request: ProvisioningRequest, actor: Actor) -> ProvisioningRequest | None:
        spec = request.spec
        password = generate_device_password()
        await self._provisioning.add_user(request.tenant_id, spec, password)
        del password
        steps = request.steps.noted(
            "add_user", StepOutcome.done, T("{teams_user} added", teams_user=spec.teams_user)
        )
        notices: list[Notice] = []
        to = RequestState.user_added
        if request.kind is RequestKind.partner:
            # The partner's half ends here: every global admin of the tenant gets an approval card
            # (a bulk add's rows get one for the whole batch once they have all been added).
            to = RequestState.awaiting_approval
            notices = [] if request.batch_id else await self._approval_notices(request)
        return await self._try_transition(
            actor,
            request,
            RequestState.submitted,
            to,
            "add_user",
            T("user added"),
            notices=notices,
            steps=steps.model_dump(mode="json"),
        )

    async def _approval_notices(self, request: ProvisioningRequest) -> list[Notice]:
        """An approval card for every global admin of the request's tenant."""
        return [
            Notice(
                kind=NoticeKind.approval_card,
                request_id=request.request_id,
                recipient_tenant_id=admin.tenant_id,
                recipient_id=admin.aad_object_id,
            )
            for admin in await self._directory.global_admins(request.tenant_id)
        ]

    async def _step_ask_approval(
        self, request: ProvisioningRequest, actor: Actor
    ) -> ProvisioningRequest | None:
        """A partner's change, disable, enable or removal: nothing is done before a global admin of
        the tenant approves it."""
        return await self._try_transition(
            actor,
            request,
            RequestState.submitted,
            RequestState.awaiting_approval,
            "ask_approval",
            T("sent to the tenant's global admins"),
            notices=await self._approval_notices(request),
        )

    async def _step_sync(self, request: ProvisioningRequest, actor: Actor) -> ProvisioningRequest | None:
        if await self._provisioning.sync_required(request.tenant_id):
            await self._provisioning.sync_users(request.tenant_id)
            outcome, note = StepOutcome.done, T("Teams users synced")
        else:
            outcome, note = StepOutcome.skipped, T("Already synced, nothing to do")
        steps = request.steps.noted("sync", outcome, note)
        return await self._try_transition(
            actor,
            request,
            request.state,
            RequestState.synced,
            "sync",
            note,
            notices=partner_notices(request, None),
            steps=steps.model_dump(mode="json"),
        )

    async def _step_enable_calling(
        self, request: ProvisioningRequest, actor: Actor
    ) -> ProvisioningRequest | None:
        upn = request.spec.teams_user
        if await self._provisioning.calling_enabled(request.tenant_id, upn):
            outcome, note = StepOutcome.skipped, T("Calling was already enabled")
        else:
            try:
                await self._provisioning.enable_calling(request.tenant_id, upn)
            except AdminSignInRequired as needed:
                return await self._await_sign_in(request, needed, actor)
            outcome, note = StepOutcome.done, T("Calling enabled")
        steps = request.steps.noted("calling", outcome, note)
        return await self._try_transition(
            actor,
            request,
            request.state,
            RequestState.calling_enabled,
            "enable_calling",
            note,
            steps=steps.model_dump(mode="json"),
        )

    async def _step_finish(self, request: ProvisioningRequest, actor: Actor) -> ProvisioningRequest | None:
        return await self._try_transition(
            actor,
            request,
            request.state,
            RequestState.done,
            "finish",
            T("done"),
            notices=partner_notices(request, "done"),
            **self._release_values(),  # nothing follows done: the lease goes back with the move
        )

    async def _fail(
        self, request: ProvisioningRequest, exc: ProvisioningError, actor: Actor
    ) -> ProvisioningRequest | None:
        step = failed_step(request)
        steps = request.steps.noted(step, StepOutcome.failed, exc.text) if step else request.steps
        # A failed add (or change) is the requester's to fix; a failed step after an approval is
        # the approvers'.
        notices = [] if request.state is RequestState.submitted else partner_notices(request, "failed")
        return await self._try_transition(
            actor,
            request,
            request.state,
            RequestState.failed,
            "fail",
            exc.text,
            notices=notices,
            error=exc.text.encode(),
            resume_state=request.state.value
            if exc.retryable or (step == "add_user" and request.state is RequestState.submitted)
            else None,
            steps=steps.model_dump(mode="json"),
        )


Step = Callable[[ProvisioningPipeline, ProvisioningRequest, Actor], Awaitable[ProvisioningRequest | None]]

# An add's steps, by who asked and where it stands (the seed's procedure: add, sync, enable).
ADD_STEPS: dict[tuple[RequestKind, RequestState], Step] = {
    (RequestKind.admin, RequestState.submitted): ProvisioningPipeline._step_add_user,
    (RequestKind.partner, RequestState.submitted): ProvisioningPipeline._step_add_user,
    (RequestKind.admin, RequestState.user_added): ProvisioningPipeline._step_sync,
    (RequestKind.admin, RequestState.approved): ProvisioningPipeline._step_sync,
    (RequestKind.partner, RequestState.approved): ProvisioningPipeline._step_sync,
    (RequestKind.admin, RequestState.synced): ProvisioningPipeline._step_enable_calling,
    (RequestKind.partner, RequestState.synced): ProvisioningPipeline._step_enable_calling,
    # Interrupted between a Global Admin's sign-in and its end: calling is on, or a new link.
    (RequestKind.admin, RequestState.admin_signed_in): ProvisioningPipeline._step_enable_calling,
    (RequestKind.partner, RequestState.admin_signed_in): ProvisioningPipeline._step_enable_calling,
    (RequestKind.admin, RequestState.calling_enabled): ProvisioningPipeline._step_finish,
    (RequestKind.partner, RequestState.calling_enabled): ProvisioningPipeline._step_finish,
}

# The first step of each action on an existing phone user, once submitted (an admin's) or approved.
FIRST_STEPS: dict[RequestAction, Step] = {
    RequestAction.change: ProvisioningPipeline._step_change,
    RequestAction.reset_password: ProvisioningPipeline._step_reset_password,
    RequestAction.disable_calling: ProvisioningPipeline._step_disable_calling,
    RequestAction.enable_calling: ProvisioningPipeline._step_enable_calling,
    RequestAction.remove: ProvisioningPipeline._step_disable_calling,
}

# Where an action goes after its first step: a change is synced then finished; a new enable is
# finished (or waits for a Global Admin's sign-in, like an add's); a removal deletes the user.
NEXT_STEPS: dict[tuple[RequestAction, RequestState], Step] = {
    (RequestAction.change, RequestState.user_added): ProvisioningPipeline._step_sync,
    (RequestAction.change, RequestState.synced): ProvisioningPipeline._step_finish,
    (RequestAction.enable_calling, RequestState.admin_signed_in): ProvisioningPipeline._step_enable_calling,
    (RequestAction.enable_calling, RequestState.calling_enabled): ProvisioningPipeline._step_finish,
    (RequestAction.remove, RequestState.calling_disabled): ProvisioningPipeline._step_delete,
}


def step_for(request: ProvisioningRequest) -> Step | None:
    """The step the request is at, or None where it waits for someone or has ended."""
    action, state = request.action, request.state
    if action is RequestAction.add:
        return ADD_STEPS.get((request.kind, state))
    if state is RequestState.submitted:
        if request.kind is RequestKind.partner and action in APPROVED_FIRST:
            return ProvisioningPipeline._step_ask_approval
        return FIRST_STEPS[action]
    if state is RequestState.approved:
        return FIRST_STEPS[action]
    return NEXT_STEPS.get((action, state))
