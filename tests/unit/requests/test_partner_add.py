"""A partner's add through the state machine, without HTTP: draft -> submitted -> user_added ->
awaiting_approval -> approved -> synced -> calling_enabled -> done; reject; failed + retry; reminders."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.errors import NotAuthorised, RejectionReasonMissing
from services.models import RequestKind, RequestState, StepOutcome
from tests.doubles import CONTOSO, CONTOSO_ADMIN, CONTOSO_ADMIN2, NORTHWIND_PARTNER
from tests.unit.requests.world import World


async def test_a_partner_s_add_waits_for_the_tenant_s_admins_then_runs_to_done(world: World):
    submitted = await world.submitted(world.partner)
    assert (submitted.kind, submitted.tenant_id, submitted.tenant_name) == (
        RequestKind.partner,
        CONTOSO,
        "Contoso",
    )
    # The partner's half: the user is added, then every global admin of Contoso gets a card.
    assert await world.run(submitted, world.partner) == [RequestState.awaiting_approval]
    waiting = await world.requests.get(submitted.request_id)
    assert waiting.steps.add_user is StepOutcome.done
    assert await world.outbox(waiting) == [
        ("approval_card", CONTOSO_ADMIN, {}),
        ("approval_card", CONTOSO_ADMIN2, {}),
    ]
    assert [r.request_id for r in await world.requests.awaiting_approval(CONTOSO)] == [waiting.request_id]

    approved = await world.requests.approve(world.admin, waiting.request_id, waiting.version)
    assert (approved.state, approved.decided_by) == (RequestState.approved, world.admin.name)
    assert await world.run(approved, world.admin) == [
        RequestState.synced,
        RequestState.calling_enabled,
        RequestState.done,
    ]
    done = await world.requests.get(waiting.request_id)
    assert [(e.action, e.from_state, e.to_state, e.actor_id) for e in await world.audit(done)] == [
        ("create", None, "draft", NORTHWIND_PARTNER),
        ("submit", "draft", "submitted", NORTHWIND_PARTNER),
        ("add_user", "submitted", "awaiting_approval", NORTHWIND_PARTNER),
        ("approve", "awaiting_approval", "approved", CONTOSO_ADMIN),
        # The admin's half of the procedure runs as the approver.
        ("sync", "approved", "synced", CONTOSO_ADMIN),
        ("enable_calling", "synced", "calling_enabled", CONTOSO_ADMIN),
        ("finish", "calling_enabled", "done", CONTOSO_ADMIN),
    ]
    notices = [(kind, payload.get("event")) for kind, _, payload in await world.outbox(done)][2:]
    assert notices == [
        ("approvers_update", None),
        ("requester_notice", "approved"),
        ("approvers_update", None),  # synced
        ("approvers_update", None),  # done
        ("requester_notice", "done"),
    ]
    assert await world.requests.awaiting_approval(CONTOSO) == []


async def test_a_partner_picks_an_enterprise_it_manages(world: World):
    draft = await world.requests.start_draft(world.partner, CONTOSO)
    assert (draft.kind, draft.tenant_id, draft.requester_id) == (
        RequestKind.partner,
        CONTOSO,
        NORTHWIND_PARTNER,
    )
    assert await world.requests.open_draft_of(world.partner) == draft


async def test_a_rejection_needs_a_reason_and_tells_the_partner(world: World):
    waiting = await world.awaiting_approval()
    for reason in ("", "   ", "x" * 501, "no\x00pe"):
        with pytest.raises(RejectionReasonMissing):
            await world.requests.reject(world.admin, waiting.request_id, waiting.version, reason)
    assert (await world.requests.get(waiting.request_id)).version == waiting.version

    rejected = await world.requests.reject(
        world.admin2, waiting.request_id, waiting.version, "  Wrong   user "
    )
    assert (rejected.state, rejected.decided_by, rejected.decision_note) == (
        RequestState.rejected,
        world.admin2.name,
        "Wrong user",
    )
    assert (await world.audit(rejected))[-1].outcome == f"rejected by {world.admin2.name}: Wrong user"
    assert [(k, p.get("event")) for k, _, p in await world.outbox(rejected)][-2:] == [
        ("approvers_update", None),
        ("requester_notice", "rejected"),
    ]
    # Nothing runs after a rejection.
    assert await world.run(rejected, world.admin) == []
    assert not await world.provisioning.calling_enabled(CONTOSO, "adele@contoso.example")


async def test_a_failed_add_is_the_partner_s_to_retry(world: World):
    submitted = await world.submitted(world.partner)
    world.provisioning.faults.fail_next("add_user")
    assert await world.run(submitted, world.partner) == [RequestState.failed]
    failed = await world.requests.get(submitted.request_id)
    assert failed.resume_state is RequestState.submitted
    # A failed add is the requester's to fix: the approvers hear nothing of it.
    assert await world.outbox(failed) == []
    retried = await world.requests.retry(world.partner, failed.request_id, failed.version)
    assert retried.state is RequestState.submitted
    assert await world.run(retried, world.partner) == [RequestState.awaiting_approval]


async def test_a_failed_sync_after_the_approval_is_the_admins_to_retry(world: World):
    waiting = await world.awaiting_approval()
    approved = await world.requests.approve(world.admin, waiting.request_id, waiting.version)
    world.provisioning.faults.fail_next("sync_users")
    assert await world.run(approved, world.admin) == [RequestState.failed]
    failed = await world.requests.get(waiting.request_id)
    assert (failed.resume_state, failed.steps.sync) == (RequestState.approved, StepOutcome.failed)
    assert [(k, p.get("event")) for k, _, p in await world.outbox(failed)][-2:] == [
        ("approvers_update", None),
        ("requester_notice", "failed"),
    ]

    with pytest.raises(NotAuthorised, match="Only a global admin of Contoso can retry this step"):
        await world.requests.retry(world.partner, failed.request_id, failed.version)
    assert (await world.audit(failed))[-1].outcome == "retry: not a GA"

    retried = await world.requests.retry(world.admin2, failed.request_id, failed.version)
    assert (retried.state, retried.steps.sync) == (RequestState.approved, StepOutcome.pending)
    assert await world.run(retried, world.admin2) == [
        RequestState.synced,
        RequestState.calling_enabled,
        RequestState.done,
    ]


async def test_the_tenant_s_admins_are_reminded_twice_then_escalated_and_the_partner_told(world: World):
    waiting = await world.awaiting_approval()
    assert await world.requests.due_for_reminder(timedelta(hours=1)) == []
    events = []
    for stage in (1, 2, 3):
        due = await world.requests.due_for_reminder(timedelta(0))
        assert [r.request_id for r in due] == [waiting.request_id]
        assert await world.requests.remind(due[0]) is True
        assert await world.requests.remind(due[0]) is False  # each follow-up once
        assert (await world.requests.get(waiting.request_id)).reminders == stage
    assert await world.requests.due_for_reminder(timedelta(0)) == [], "no fourth follow-up"
    notices = [(k, r, p) for k, r, p in await world.outbox(waiting)][2:]
    for stage, event in ((1, "reminded"), (2, "reminded"), (3, "escalated")):
        state = {"state": "awaiting_approval", "stage": stage}
        events += [
            ("admin_reminder", CONTOSO_ADMIN, state),
            ("admin_reminder", CONTOSO_ADMIN2, state),
            ("requester_notice", NORTHWIND_PARTNER, {"event": event} | state),
        ]
    assert notices == events
    trail = [(e.action, e.actor_id, e.from_state, e.to_state) for e in (await world.audit(waiting))[-3:]]
    assert trail == [
        ("remind", "system", "awaiting_approval", "awaiting_approval"),
        ("remind", "system", "awaiting_approval", "awaiting_approval"),
        ("escalate", "system", "awaiting_approval", "awaiting_approval"),
    ]
