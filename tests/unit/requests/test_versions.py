"""Version conflicts: a card's version older than the request's changes nothing; of two people acting
on the same version at once, exactly one wins; a transition whose conditional write finds the row moved
writes no audit row and no notice."""

from __future__ import annotations

import asyncio

import pytest

from services.errors import StaleRequest
from services.models import RequestState
from services.notify.outbox import Notice, NoticeKind
from tests.unit.requests.world import CONTOSO_FORM, World


async def test_a_stale_form_card_changes_nothing(world: World):
    draft = await world.draft(world.admin)
    saved = await world.requests.save_form(world.admin, draft.request_id, draft.version, CONTOSO_FORM)
    older = dict(CONTOSO_FORM) | {"extension": "103"}
    with pytest.raises(StaleRequest, match="out of date"):
        await world.requests.save_form(world.admin, draft.request_id, draft.version, older)
    with pytest.raises(StaleRequest):
        await world.requests.submit(world.admin, draft.request_id, draft.version)
    now = await world.requests.get(draft.request_id)
    assert (now.state, now.version, now.values["extension"]) == (
        RequestState.draft,
        saved.request.version,
        "102",
    )
    refusal = (await world.audit(now))[-1]
    assert (refusal.action, refusal.outcome) == ("refused", "stale card (version 1, now 2)")


async def test_a_stale_approval_card_changes_nothing(world: World):
    waiting = await world.awaiting_approval()
    notices = len(await world.outbox(waiting))
    for stale in (waiting.version - 1, waiting.version + 1):
        with pytest.raises(StaleRequest, match="already decided"):
            await world.requests.approve(world.admin, waiting.request_id, stale)
        with pytest.raises(StaleRequest):
            await world.requests.reject(world.admin, waiting.request_id, stale, "no")
    now = await world.requests.get(waiting.request_id)
    assert (now.state, now.version, now.decided_by) == (RequestState.awaiting_approval, waiting.version, None)
    assert len(await world.outbox(waiting)) == notices


async def test_of_two_approvals_at_once_exactly_one_wins(world: World):
    waiting = await world.awaiting_approval()
    results = await asyncio.gather(
        world.requests.approve(world.admin, waiting.request_id, waiting.version),
        world.requests.approve(world.admin2, waiting.request_id, waiting.version),
        return_exceptions=True,
    )
    won = [r for r in results if not isinstance(r, BaseException)]
    lost = [r for r in results if isinstance(r, BaseException)]
    assert len(won) == 1 and len(lost) == 1
    assert isinstance(lost[0], StaleRequest)
    now = await world.requests.get(waiting.request_id)
    assert (now.state, now.version, now.decided_by) == (
        RequestState.approved,
        waiting.version + 1,
        won[0].decided_by,
    )
    assert (await world.actions(now)).count("approve") == 1
    assert [k for k, _, _ in await world.outbox(now)].count("requester_notice") == 1


async def test_an_approval_and_a_rejection_at_once_exactly_one_wins(world: World):
    waiting = await world.awaiting_approval()
    results = await asyncio.gather(
        world.requests.reject(world.admin2, waiting.request_id, waiting.version, "no"),
        world.requests.approve(world.admin, waiting.request_id, waiting.version),
        return_exceptions=True,
    )
    assert sum(isinstance(r, StaleRequest) for r in results) == 1
    now = await world.requests.get(waiting.request_id)
    assert now.state in (RequestState.approved, RequestState.rejected)
    assert now.version == waiting.version + 1


async def test_two_transitions_from_the_same_read_one_moves_the_other_writes_nothing(world: World):
    """Both passed every check (the race the conditional write is for): the second finds the row
    moved, and its audit row, notices and other statements are not written."""
    draft = await world.draft(world.admin)
    audit_rows = await world.audit_rows()
    notice = Notice(kind=NoticeKind.approvers_update, request_id=draft.request_id)
    first, second = await asyncio.gather(
        *(
            world.requests._try_transition(
                actor,
                draft,
                RequestState.draft,
                RequestState.cancelled,
                "cancel",
                "cancelled by requester",
                notices=[notice],
            )
            for actor in (world.admin, world.admin)
        )
    )
    assert (first is None) != (second is None)
    assert await world.audit_rows() == audit_rows + 1
    assert len(await world.outbox(draft)) == 1
    with pytest.raises(StaleRequest, match="out of date"):
        await world.requests._transition(
            world.admin, draft, RequestState.draft, RequestState.cancelled, "cancel", "again"
        )


async def test_a_double_click_on_submit_submits_once(world: World):
    reviewed = await world.reviewed(world.admin)
    results = await asyncio.gather(
        world.requests.submit(world.admin, reviewed.request_id, reviewed.version),
        world.requests.submit(world.admin, reviewed.request_id, reviewed.version),
        return_exceptions=True,
    )
    assert sum(isinstance(r, StaleRequest) for r in results) == 1
    assert (await world.actions(reviewed)).count("submit") == 1


async def test_a_retry_on_an_old_card_changes_nothing(world: World):
    submitted = await world.submitted(world.admin)
    world.provisioning.faults.fail_next("add_user")
    await world.run(submitted, world.admin)
    failed = await world.requests.get(submitted.request_id)
    with pytest.raises(StaleRequest):
        await world.requests.retry(world.admin, failed.request_id, submitted.version)
    now = await world.requests.get(failed.request_id)
    assert (now.state, now.version) == (RequestState.failed, failed.version)
