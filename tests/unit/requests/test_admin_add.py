"""A tenant admin's add through the state machine, without HTTP: draft -> submitted -> user_added ->
synced -> calling_enabled -> done; a failed step and "Try again"; back to the form; cancel."""

from __future__ import annotations

import pytest

from services.errors import ProvisioningError, StaleRequest
from services.models import RequestKind, RequestState, StepOutcome
from tests.doubles import CONTOSO, FABRIKAM
from tests.unit.requests.world import CONTOSO_FORM, World


async def test_a_draft_is_for_the_admin_s_own_tenant_with_the_only_pbx_preselected(world: World):
    # A tenant id from a card does not take an admin elsewhere.
    draft = await world.requests.start_draft(world.admin, FABRIKAM)
    assert (draft.kind, draft.tenant_id, draft.state, draft.version) == (
        RequestKind.admin,
        CONTOSO,
        RequestState.draft,
        1,
    )
    assert draft.values == {
        "pbx_location": "PBX",
        "voice_route": "",
        "disable_voicemail": True,
        "default_dial_plan": True,
    }
    assert await world.actions(draft) == ["create"]
    assert await world.requests.open_draft_of(world.admin) == draft


async def test_an_admin_s_add_runs_every_step_to_done(world: World):
    draft = await world.draft(world.admin)
    saved = await world.requests.save_form(world.admin, draft.request_id, draft.version, CONTOSO_FORM)
    assert saved.ready_for_review
    assert (saved.request.state, saved.request.version) == (RequestState.draft, 2)
    assert saved.request.values["phone_number"] == "102"  # the extension, not the PBX caller id

    submitted = await world.requests.submit(world.admin, draft.request_id, saved.request.version)
    assert (submitted.request.state, submitted.request.version) == (RequestState.submitted, 3)

    moved_to = await world.run(submitted.request, world.admin)
    assert moved_to == [
        RequestState.user_added,
        RequestState.synced,
        RequestState.calling_enabled,
        RequestState.done,
    ]
    done = await world.requests.get(draft.request_id)
    assert (done.state, done.version) == (RequestState.done, 7)
    assert (done.steps.add_user, done.steps.sync, done.steps.calling) == (
        StepOutcome.done,
        StepOutcome.done,
        StepOutcome.done,
    )
    assert [(e.action, e.from_state, e.to_state) for e in await world.audit(done)] == [
        ("create", None, "draft"),
        ("submit", "draft", "submitted"),
        ("add_user", "submitted", "user_added"),
        ("sync", "user_added", "synced"),
        ("enable_calling", "synced", "calling_enabled"),
        ("finish", "calling_enabled", "done"),
    ]
    assert await world.outbox(done) == []  # an admin's own add tells nobody else
    assert await world.provisioning.calling_enabled(CONTOSO, "adele@contoso.example")
    assert await world.requests.in_flight() == []


async def test_a_form_with_errors_stays_a_draft_and_keeps_every_value(world: World):
    draft = await world.draft(world.admin)
    bad = dict(CONTOSO_FORM) | {"extension": "100"}  # Megan's
    saved = await world.requests.save_form(world.admin, draft.request_id, draft.version, bad)
    assert not saved.ready_for_review
    assert "extension" in saved.errors
    assert (saved.request.state, saved.request.values["extension"]) == (RequestState.draft, "100")
    result = await world.requests.submit(world.admin, draft.request_id, saved.request.version)
    assert result.request.state is RequestState.draft and "extension" in result.errors
    assert await world.actions(draft) == ["create"]


async def test_voicemail_left_on_needs_a_confirmation_before_the_review(world: World):
    draft = await world.draft(world.admin)
    form = dict(CONTOSO_FORM) | {"disable_voicemail": "false"}
    asked = await world.requests.save_form(world.admin, draft.request_id, draft.version, form)
    assert asked.confirm_voicemail and not asked.ready_for_review
    confirmed = form | {"voicemail_confirmed": "true"}
    saved = await world.requests.save_form(world.admin, draft.request_id, asked.request.version, confirmed)
    assert saved.ready_for_review


async def test_a_failed_step_keeps_where_to_resume_and_try_again_finishes_it(world: World):
    submitted = await world.submitted(world.admin)
    world.provisioning.faults.fail_next("sync_users")
    assert await world.run(submitted, world.admin) == [RequestState.user_added, RequestState.failed]
    failed = await world.requests.get(submitted.request_id)
    assert (failed.resume_state, failed.steps.sync) == (RequestState.user_added, StepOutcome.failed)
    assert failed.error and "try again" in failed.error

    retried = await world.requests.retry(world.admin, failed.request_id, failed.version)
    assert (retried.state, retried.error, retried.steps.sync) == (
        RequestState.user_added,
        None,
        StepOutcome.pending,
    )
    assert await world.run(retried, world.admin) == [
        RequestState.synced,
        RequestState.calling_enabled,
        RequestState.done,
    ]
    assert (await world.actions(failed))[2:] == [
        "add_user",
        "fail",
        "retry",
        "sync",
        "enable_calling",
        "finish",
    ]


async def test_a_failed_add_goes_back_to_the_form_or_is_cancelled(world: World):
    submitted = await world.submitted(world.admin)
    world.provisioning.faults.fail_next("add_user")
    assert await world.run(submitted, world.admin) == [RequestState.failed]
    failed = await world.requests.get(submitted.request_id)
    assert (failed.resume_state, failed.steps.add_user) == (RequestState.submitted, StepOutcome.failed)

    reopened = await world.requests.reopen_form(world.admin, failed.request_id, failed.version)
    assert reopened.request.state is RequestState.draft
    assert reopened.request.values["reviewed"] is False
    assert reopened.request.values["extension"] == "102"  # values kept
    assert reopened.request.steps.add_user is StepOutcome.pending

    cancelled = await world.requests.cancel(world.admin, failed.request_id, reopened.request.version)
    assert cancelled.state is RequestState.cancelled
    assert (await world.actions(failed))[-3:] == ["fail", "edit", "cancel"]
    assert await world.requests.open_draft_of(world.admin) is None


async def test_a_failed_add_can_be_cancelled_without_editing(world: World):
    submitted = await world.submitted(world.admin)
    world.provisioning.faults.fail_next("add_user")
    await world.run(submitted, world.admin)
    failed = await world.requests.get(submitted.request_id)
    cancelled = await world.requests.cancel(world.admin, failed.request_id, failed.version)
    assert [(e.action, e.from_state, e.to_state) for e in await world.audit(failed)][-1] == (
        "cancel",
        "failed",
        "cancelled",
    )
    assert cancelled.state is RequestState.cancelled


async def test_cancel_typed_drops_the_open_draft(world: World):
    draft = await world.draft(world.admin)
    cancelled = await world.requests.cancel(world.admin, draft.request_id)  # no card: no version
    assert (cancelled.state, cancelled.version) == (RequestState.cancelled, 2)
    assert await world.requests.requests_of(world.admin) == []  # cancelled ones are not listed


@pytest.mark.parametrize("state_after", ["submitted", "done"])
async def test_a_request_on_its_way_or_done_cannot_be_cancelled_or_edited(world: World, state_after: str):
    request = await world.submitted(world.admin)
    if state_after == "done":
        await world.run(request, world.admin)
        request = await world.requests.get(request.request_id)
    with pytest.raises(StaleRequest, match="cannot be cancelled"):
        await world.requests.cancel(world.admin, request.request_id, request.version)
    with pytest.raises(StaleRequest, match="can no longer be edited"):
        await world.requests.reopen_form(world.admin, request.request_id, request.version)
    assert (await world.requests.get(request.request_id)).version == request.version


@pytest.mark.parametrize(
    ("error", "shown", "resume_state"),
    [
        (ProvisioningError("The tenant is suspended.", retryable=False), "The tenant is suspended.", None),
        # A bug is not shown to people, and "Try again" stays offered.
        (
            RuntimeError("a bug"),
            "Something unexpected went wrong at the provisioning step.",
            RequestState.user_added,
        ),
    ],
    ids=["refused for good", "unexpected"],
)
async def test_a_step_that_fails_for_good_has_nothing_to_resume(
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
    shown: str,
    resume_state: RequestState | None,
):
    async def sync_users(tenant_id: str) -> None:
        raise error

    monkeypatch.setattr(world.provisioning, "sync_users", sync_users)
    submitted = await world.submitted(world.admin)
    assert await world.run(submitted, world.admin) == [RequestState.user_added, RequestState.failed]
    failed = await world.requests.get(submitted.request_id)
    assert (failed.error, failed.resume_state) == (shown, resume_state)
    if resume_state is None:
        with pytest.raises(StaleRequest, match="cannot be retried"):
            await world.requests.retry(world.admin, failed.request_id, failed.version)
        assert (await world.requests.get(failed.request_id)).version == failed.version
