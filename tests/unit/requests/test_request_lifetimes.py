"""Approvals have a life (issue 17, finding 9): a rejection or an expiry removes the user a partner's
add put at the service, by a removal of its own created with the decision (exactly once), and frees
the extension; an expiry comes once, never after a decision; nothing is undone that was not done."""

from __future__ import annotations

from datetime import timedelta

from services.models import RequestAction, RequestKind, RequestState
from services.requests.cleanup import CLEANUP_OF, CLEANUP_REQUEST
from tests.doubles import CONTOSO, CONTOSO_ADMIN
from tests.unit.requests.world import World

ISAIAH = "isaiah@contoso.example"


async def partner_add_waiting(world: World):
    """A partner's add of Adele on extension 102, added at the service, waiting for an approval."""
    waiting = await world.awaiting_approval()
    assert (await world.provisioning.user_state(CONTOSO, waiting.values["teams_user"])).provisioned
    return waiting


async def test_a_rejection_removes_the_user_the_partner_added_and_frees_the_extension(world: World):
    waiting = await partner_add_waiting(world)
    upn = waiting.values["teams_user"]
    rejected = await world.requests.reject(world.admin, waiting.request_id, waiting.version, "Not this one")
    assert rejected.state is RequestState.rejected
    removal = await world.requests.get(str(rejected.values[CLEANUP_REQUEST]))
    assert (removal.action, removal.kind, removal.state) == (
        RequestAction.remove,
        RequestKind.admin,
        RequestState.submitted,
    )
    assert (removal.requester_id, removal.values[CLEANUP_OF], removal.values["teams_user"]) == (
        CONTOSO_ADMIN,
        waiting.request_id,
        upn,
    )
    assert await world.run(removal, world.admin) == [RequestState.calling_disabled, RequestState.done]
    assert not (await world.provisioning.user_state(CONTOSO, upn)).provisioned
    assert (await world.provisioning.extension(CONTOSO, "PBX", "102")).assigned_to is None
    assert await world.actions(removal) == ["create", "disable_calling", "delete_user"]


async def test_an_approval_nobody_gives_expires_once_and_is_undone(world: World):
    waiting = await partner_add_waiting(world)
    assert await world.requests.due_for_expiry(timedelta(days=1)) == []
    due = await world.requests.due_for_expiry(timedelta(0))
    assert [r.request_id for r in due] == [waiting.request_id]
    expired = await world.requests.expire(due[0], 7)
    assert expired is not None and expired.state is RequestState.expired
    assert await world.requests.expire(due[0], 7) is None, "once"
    assert await world.requests.due_for_expiry(timedelta(0)) == []
    notices = [(kind, payload.get("event")) for kind, _, payload in await world.outbox(expired)][2:]
    assert notices == [("approvers_update", None), ("requester_notice", "expired")]
    (entry,) = [e for e in await world.audit(expired) if e.action == "expire"]
    assert (entry.actor_id, entry.outcome) == ("system", "expired: no global admin decided within 7 days")
    removal = await world.requests.get(str(expired.values[CLEANUP_REQUEST]))
    assert removal.requester_id == "system"
    await world.run(removal)
    assert not (await world.provisioning.user_state(CONTOSO, waiting.values["teams_user"])).provisioned
    # The admins can no longer decide it.
    assert await world.requests.awaiting_approval(CONTOSO) == []


async def test_an_expiry_never_overtakes_a_decision(world: World):
    waiting = await partner_add_waiting(world)
    due = await world.requests.due_for_expiry(timedelta(0))
    await world.requests.approve(world.admin, waiting.request_id, waiting.version)
    assert await world.requests.expire(due[0], 7) is None
    assert (await world.requests.get(waiting.request_id)).state is RequestState.approved


async def test_nothing_is_undone_for_a_partner_s_action_that_did_nothing(world: World):
    draft = await world.requests.start_action(
        world.partner, CONTOSO, ISAIAH.replace("isaiah", "alex"), RequestAction.remove
    )
    submitted = (await world.requests.submit(world.partner, draft.request_id, draft.version)).request
    await world.run(submitted, world.partner)
    waiting = await world.requests.get(submitted.request_id)
    rejected = await world.requests.reject(world.admin, waiting.request_id, waiting.version, "No")
    assert CLEANUP_REQUEST not in rejected.values
    expiring = await world.awaiting_approval()
    expired = await world.requests.expire(expiring, 7)
    assert expired is not None and CLEANUP_REQUEST in expired.values
