"""The actions on one phone user through the state machine, without HTTP (issue 16): each action's
states and audit rows, a partner's approval first, one request per user at a time, and the wait for
steps in the portal where the platform's API has no call."""

from __future__ import annotations

import pytest

from i18n import T
from services.errors import NotAuthorised, PortalStepsRequired, StaleRequest
from services.models import RequestAction, RequestKind, RequestState, StepOutcome
from services.provisioning.embedded import EmbeddedProvisioningService
from services.requests.actions import ActionRefused
from services.requests.phone_users import PhoneUserGone
from tests.doubles import CONTOSO, CONTOSO_ADMIN, CONTOSO_ADMIN2, FABRIKAM
from tests.unit.requests.world import World

ALEX = "alex@contoso.example"
MEGAN = "megan@contoso.example"


async def confirmed(world: World, actor, upn: str, action: RequestAction):
    draft = await world.requests.start_action(actor, CONTOSO, upn, action)
    assert (draft.state, draft.action, draft.values["teams_user"]) == (RequestState.draft, action, upn)
    result = await world.requests.submit(actor, draft.request_id, draft.version)
    assert result.request.state is RequestState.submitted
    return result.request


@pytest.mark.parametrize(
    ("action", "states", "steps"),
    [
        (RequestAction.reset_password, [RequestState.done], ["submit", "reset_password"]),
        (RequestAction.disable_calling, [RequestState.done], ["submit", "disable_calling"]),
        (
            RequestAction.remove,
            [RequestState.calling_disabled, RequestState.done],
            ["submit", "disable_calling", "delete_user"],
        ),
    ],
)
async def test_an_admin_s_action_runs_its_steps_once_each(world: World, action, states, steps):
    request = await confirmed(world, world.admin, ALEX, action)
    assert await world.run(request, world.admin) == states
    assert await world.actions(request) == ["create", *steps]
    assert await world.outbox(request) == [], "an admin's own request tells nobody"


async def test_remove_disables_first_deletes_second_and_frees_the_extension(world: World):
    request = await confirmed(world, world.admin, MEGAN, RequestAction.remove)
    assert await world.run(request) == [RequestState.calling_disabled, RequestState.done]
    done = await world.requests.get(request.request_id)
    assert (done.steps.calling, done.steps.delete) == (StepOutcome.done, StepOutcome.done)
    assert not (await world.provisioning.user_state(CONTOSO, MEGAN)).provisioned
    assert (await world.provisioning.extension(CONTOSO, "PBX", "100")).assigned_to is None
    # Run again (a restart finds it done): nothing more happens.
    assert await world.run(done) == []


async def test_change_edits_syncs_and_keeps_calling(world: World):
    draft = await world.requests.start_action(world.admin, CONTOSO, ALEX, RequestAction.change)
    saved = await world.requests.save_form(
        world.admin, draft.request_id, draft.version, dict(draft.values) | {"extension": "107"}
    )
    assert saved.ready_for_review, saved.errors
    assert (saved.request.values["phone_number"], saved.request.values["sip_auth_id"]) == ("107", "107t")
    submitted = (await world.requests.submit(world.admin, draft.request_id, saved.request.version)).request
    assert await world.run(submitted) == [RequestState.user_added, RequestState.synced, RequestState.done]
    state = await world.provisioning.user_state(CONTOSO, ALEX)
    assert (state.extension, state.calling_enabled, state.sync_pending) == ("107", True, False)
    assert (await world.provisioning.extension(CONTOSO, "PBX", "101")).assigned_to is None


async def test_a_change_cannot_switch_its_user(world: World):
    draft = await world.requests.start_action(world.admin, CONTOSO, ALEX, RequestAction.change)
    saved = await world.requests.save_form(
        world.admin, draft.request_id, draft.version, dict(draft.values) | {"teams_user": MEGAN}
    )
    assert str(saved.errors["teams_user"]) == f"A change keeps its user: {ALEX}."


async def test_a_partner_s_removal_waits_for_an_approval_before_anything(world: World):
    request = await confirmed(world, world.partner, MEGAN, RequestAction.remove)
    assert request.kind is RequestKind.partner
    assert await world.run(request, world.partner) == [RequestState.awaiting_approval]
    assert (await world.provisioning.user_state(CONTOSO, MEGAN)).calling_enabled, "nothing done yet"
    waiting = await world.requests.get(request.request_id)
    assert await world.outbox(waiting) == [
        ("approval_card", CONTOSO_ADMIN, {}),
        ("approval_card", CONTOSO_ADMIN2, {}),
    ]
    approved = await world.requests.approve(world.admin, waiting.request_id, waiting.version)
    assert await world.run(approved, world.admin) == [RequestState.calling_disabled, RequestState.done]
    done = await world.requests.get(request.request_id)
    assert [(e.action, e.actor_id) for e in await world.audit(done)][-3:] == [
        ("approve", CONTOSO_ADMIN),
        ("disable_calling", CONTOSO_ADMIN),
        ("delete_user", CONTOSO_ADMIN),
    ]
    notices = [(kind, payload.get("event")) for kind, _, payload in await world.outbox(done)][2:]
    assert notices == [
        ("approvers_update", None),
        ("requester_notice", "approved"),
        ("approvers_update", None),
        ("requester_notice", "done"),
    ]


async def test_a_partner_s_new_device_password_needs_no_approval(world: World):
    request = await confirmed(world, world.partner, ALEX, RequestAction.reset_password)
    assert await world.run(request, world.partner) == [RequestState.done]


async def test_who_may_start_an_action_and_when_it_applies(world: World):
    for outsider in (world.user, world.fabrikam_admin, world.tailspin):
        with pytest.raises(NotAuthorised):
            await world.requests.start_action(outsider, CONTOSO, ALEX, RequestAction.remove)
    with pytest.raises(PhoneUserGone):
        await world.requests.start_action(world.admin, CONTOSO, "adele@contoso.example", RequestAction.remove)
    with pytest.raises(ActionRefused):
        await world.requests.start_action(world.admin, CONTOSO, ALEX, RequestAction.enable_calling)
    with pytest.raises(ActionRefused):
        await world.requests.start_action(world.admin, CONTOSO, ALEX, RequestAction.add)
    with pytest.raises(PhoneUserGone):  # a Fabrikam admin naming a Contoso user in their own tenant
        await world.requests.start_action(world.fabrikam_admin, FABRIKAM, ALEX, RequestAction.remove)


async def test_one_request_per_user_at_a_time(world: World):
    first = await world.requests.start_action(world.admin, CONTOSO, ALEX, RequestAction.disable_calling)
    second = await world.requests.start_action(world.admin2, CONTOSO, ALEX, RequestAction.remove)
    await world.requests.submit(world.admin, first.request_id, first.version)
    with pytest.raises(ActionRefused, match="already under way"):
        await world.requests.submit(world.admin2, second.request_id, second.version)
    with pytest.raises(ActionRefused, match="already under way"):
        await world.requests.start_action(world.admin2, CONTOSO, ALEX, RequestAction.change)


async def test_a_double_confirm_submits_once(world: World):
    draft = await world.requests.start_action(world.admin, CONTOSO, ALEX, RequestAction.disable_calling)
    await world.requests.submit(world.admin, draft.request_id, draft.version)
    with pytest.raises(StaleRequest):
        await world.requests.submit(world.admin, draft.request_id, draft.version)
    assert (await world.actions(draft)).count("submit") == 1


class NoDeleteCall:
    """The embedded service, except that delete has no API call: a person does it in the portal."""

    def __init__(self, world: World) -> None:
        self._inner = world.provisioning
        self.asked = 0

    def __getattr__(self, name: str):
        return getattr(self._inner, name)

    async def delete_user(self, tenant_id: str, upn: str, *, done_in_portal: bool = False) -> None:
        if not done_in_portal:
            self.asked += 1
            raise PortalStepsRequired(
                T("Users > Disabled Users > {upn} > Delete User.", upn=upn), "https://p"
            )
        await self._inner.delete_user(tenant_id, upn)


async def test_a_step_without_an_api_call_waits_for_done_in_the_portal(world: World):
    side = NoDeleteCall(world)
    world.requests._provisioning = side
    request = await confirmed(world, world.partner, MEGAN, RequestAction.remove)
    await world.run(request, world.partner)
    waiting = await world.requests.get(request.request_id)
    approved = await world.requests.approve(world.admin, waiting.request_id, waiting.version)
    assert await world.run(approved, world.admin) == [
        RequestState.calling_disabled,
        RequestState.awaiting_portal,
    ]
    waiting = await world.requests.get(request.request_id)
    assert waiting.resume_state is RequestState.calling_disabled
    assert waiting.values["portal_url"] == "https://p" and "Delete User" in waiting.values["portal_steps"]
    assert (await world.provisioning.user_state(CONTOSO, MEGAN)).provisioned, "not deleted yet"
    # In the approvers' half: the partner may not say it is done; a stale card changes nothing.
    with pytest.raises(NotAuthorised):
        await world.requests.portal_steps_done(world.partner, waiting.request_id, waiting.version)
    with pytest.raises(StaleRequest):
        await world.requests.portal_steps_done(world.admin, waiting.request_id, waiting.version - 1)
    back = await world.requests.portal_steps_done(world.admin, waiting.request_id, waiting.version)
    with pytest.raises(StaleRequest):  # a double click
        await world.requests.portal_steps_done(world.admin2, waiting.request_id, waiting.version)
    assert await world.run(back, world.admin) == [RequestState.done]
    assert side.asked == 1
    assert not (await world.provisioning.user_state(CONTOSO, MEGAN)).provisioned
    assert (await world.provisioning.extension(CONTOSO, "PBX", "100")).assigned_to is None
    actions = await world.actions(back)
    assert actions.count("refused") == 3, "the partner's click, the stale card, the double click"
    assert [a for a in actions if a != "refused"][-3:] == ["await_portal", "portal_done", "delete_user"]


async def test_the_form_offers_an_extension_freed_a_moment_ago_even_with_its_cache(world: World):
    cached = EmbeddedProvisioningService(world.database, options_ttl_seconds=3600)
    before = [e.number for e in (await cached.form_options(CONTOSO)).free_extensions]
    assert "100" not in before
    await cached.disable_calling(CONTOSO, MEGAN)
    await cached.delete_user(CONTOSO, MEGAN)
    assert "100" in [e.number for e in (await cached.form_options(CONTOSO)).free_extensions]
    marked = {u.upn: u.phone_extension for u in (await cached.form_options(CONTOSO)).licensed_users}
    assert marked.get(MEGAN) is None, "no longer marked as a phone user"
