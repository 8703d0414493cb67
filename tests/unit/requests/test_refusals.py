"""Every refusal of the state machine: a person without a role, someone other than the requester, a
partner that does not manage the tenant, a request in the wrong state. Each changes nothing and most
leave an audit row saying why."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from services.errors import NotAuthorised, RequestNotFound, StaleRequest
from services.models import Actor, ProvisioningRequest, RequestState
from tests.doubles import CONTOSO, FABRIKAM, TAILSPIN
from tests.unit.requests.world import CONTOSO_FORM, World


async def unchanged(world: World, request: ProvisioningRequest) -> None:
    now = await world.requests.get(request.request_id)
    assert (now.state, now.version, now.values) == (request.state, request.version, request.values)


async def last_refusal(world: World, tenant_id: str) -> tuple[str, str | None, str]:
    entry = (await world.requests.audit_of_tenant(tenant_id, limit=1))[0]
    assert entry.action == "refused"
    return entry.actor_id, entry.request_id, entry.outcome


async def refused(
    world: World,
    attempt: Callable[[], Awaitable[object]],
    message: str,
    audited: tuple[Actor, str, str],
) -> None:
    """`attempt` is refused as not allowed, and Contoso's audit trail says who, on what and why."""
    with pytest.raises(NotAuthorised, match=message):
        await attempt()
    actor, request_id, why = audited
    assert await last_refusal(world, CONTOSO) == (actor.aad_object_id, request_id, why)


# -- wrong role --------------------------------------------------------------------------------------


async def test_a_person_without_a_role_cannot_start_an_add(world: World):
    with pytest.raises(NotAuthorised, match="Only a global administrator of this tenant or a partner"):
        await world.requests.start_draft(world.user, CONTOSO)
    assert await last_refusal(world, CONTOSO) == (world.user.aad_object_id, None, "no role")
    assert await world.requests.open_draft_of(world.user) is None


async def test_a_partner_cannot_approve_or_reject_even_its_own_request(world: World):
    waiting = await world.awaiting_approval()
    for decide in (
        lambda: world.requests.approve(world.partner, waiting.request_id, waiting.version),
        lambda: world.requests.reject(world.partner, waiting.request_id, waiting.version, "no"),
    ):
        message = "Only a global admin of Contoso can approve or reject"
        await refused(world, decide, message, (world.partner, waiting.request_id, "decide: not a GA"))
    await unchanged(world, waiting)


async def test_a_global_admin_of_another_tenant_cannot_decide(world: World):
    waiting = await world.awaiting_approval()
    with pytest.raises(NotAuthorised):
        await world.requests.approve(world.fabrikam_admin, waiting.request_id, waiting.version)
    await unchanged(world, waiting)


async def test_an_unknown_request_is_refused_and_audited(world: World):
    for attempt, why in (
        (lambda: world.requests.approve(world.admin, "no-such-request", 1), "decide: unknown request"),
        (lambda: world.requests.cancel(world.admin, "no-such-request", 1), "unknown request"),
    ):
        with pytest.raises(RequestNotFound):
            await attempt()
        assert await last_refusal(world, CONTOSO) == (world.admin.aad_object_id, "no-such-request", why)


# -- not the requester -------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["user", "fabrikam_admin", "tailspin"])
async def test_someone_who_may_not_see_a_request_cannot_change_it(world: World, who: str):
    stranger: Actor = getattr(world, who)
    draft = await world.draft(world.admin)
    for attempt in (
        lambda: world.requests.save_form(stranger, draft.request_id, draft.version, CONTOSO_FORM),
        lambda: world.requests.get_for(stranger, draft.request_id),
    ):
        message = "not allowed to see or change"
        await refused(world, attempt, message, (stranger, draft.request_id, "not allowed"))
    await unchanged(world, draft)


async def test_a_draft_is_its_author_s_alone_though_the_tenant_s_admins_may_look(world: World):
    draft = await world.draft(world.partner)
    assert await world.requests.get_for(world.admin, draft.request_id) == draft
    attempts = (
        lambda: world.requests.save_form(world.admin, draft.request_id, draft.version, CONTOSO_FORM),
        lambda: world.requests.submit(world.admin, draft.request_id, draft.version),
        lambda: world.requests.reopen_form(world.admin, draft.request_id, draft.version),
        lambda: world.requests.cancel(world.admin, draft.request_id, draft.version),
    )
    for attempt in attempts:
        message = "Only the person who started this request can change it"
        await refused(world, attempt, message, (world.admin, draft.request_id, "not the author"))
    await unchanged(world, draft)


# -- a partner that does not manage the tenant -------------------------------------------------------


@pytest.mark.parametrize("tenant_id", [CONTOSO, TAILSPIN, "not-a-tenant", None])
async def test_a_partner_adds_only_for_an_enterprise_it_manages(world: World, tenant_id: str | None):
    with pytest.raises(NotAuthorised, match="You do not manage that enterprise"):
        await world.requests.start_draft(world.tailspin, tenant_id)
    if tenant_id is not None:
        assert await last_refusal(world, tenant_id) == (world.tailspin.aad_object_id, None, "not managed")
    assert await world.requests.open_draft_of(world.tailspin) is None
    # Tailspin manages Fabrikam:
    assert (await world.requests.start_draft(world.tailspin, FABRIKAM)).tenant_id == FABRIKAM


# -- the wrong state ---------------------------------------------------------------------------------


async def test_the_form_and_submit_only_change_a_draft(world: World):
    submitted = await world.submitted(world.admin)
    for attempt in (
        lambda: world.requests.save_form(world.admin, submitted.request_id, submitted.version, CONTOSO_FORM),
        lambda: world.requests.submit(world.admin, submitted.request_id, submitted.version),
    ):
        with pytest.raises(StaleRequest, match="out of date"):
            await attempt()
    await unchanged(world, submitted)


async def test_only_a_request_waiting_for_approval_is_decided(world: World):
    submitted = await world.submitted(world.partner)
    with pytest.raises(StaleRequest, match="already decided"):
        await world.requests.approve(world.admin, submitted.request_id, submitted.version)
    await unchanged(world, submitted)
    assert (await last_refusal(world, CONTOSO))[2] == "decide: stale card (version 3, now 3)"


async def test_only_a_failed_or_waiting_request_is_retried(world: World):
    submitted = await world.submitted(world.admin)
    with pytest.raises(StaleRequest, match="out of date"):
        await world.requests.retry(world.admin, submitted.request_id, submitted.version)
    await world.run(submitted, world.admin)
    done = await world.requests.get(submitted.request_id)
    with pytest.raises(StaleRequest):
        await world.requests.retry(world.admin, done.request_id, done.version)
    await unchanged(world, done)


@pytest.mark.parametrize("state", [RequestState.awaiting_approval, RequestState.rejected])
async def test_a_partner_s_request_after_the_add_cannot_be_cancelled(world: World, state: RequestState):
    request = await world.awaiting_approval()
    if state is RequestState.rejected:
        request = await world.requests.reject(world.admin, request.request_id, request.version, "no")
    for actor in (world.partner, world.admin):
        with pytest.raises(StaleRequest, match="cannot be cancelled"):
            await world.requests.cancel(actor, request.request_id, request.version)
    await unchanged(world, request)


async def test_a_click_of_someone_who_lost_the_role_still_goes_through_the_same_checks(world: World):
    """The service decides on the request, not on the role alone: the dialogs turn away people
    without a role first (access.may_start_add); the service still refuses what they may not do."""
    draft = await world.draft(world.admin)
    demoted = Actor(tenant_id=CONTOSO, aad_object_id=world.admin2.aad_object_id, name="Avery")
    with pytest.raises(NotAuthorised):
        await world.requests.cancel(demoted, draft.request_id, draft.version)
    await unchanged(world, draft)
