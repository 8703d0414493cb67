"""A tenant without service-provider consent: synced -> awaiting_admin_sign_in -> admin_signed_in ->
calling_enabled -> done, a new link, a stop while waiting, and links that can no longer be used."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from services.errors import AdminSignInRequired, NotAuthorised, SignInLinkInvalid
from services.models import AdminSignInResult, ProvisioningRequest, RequestState
from services.provisioning.embedded import EmbeddedProvisioningService
from tests.doubles import CONTOSO
from tests.unit.requests.world import World


class WithoutConsent:
    """Contoso has not allowed management by the service provider: calling is enabled only with a
    Global Admin's sign-in, each ask with a new state."""

    def __init__(self, provisioning: EmbeddedProvisioningService, monkeypatch: pytest.MonkeyPatch) -> None:
        self.states: list[str] = []
        self._numbers = itertools.count(1)
        self._signed_in = False
        enable, complete = provisioning.enable_calling, provisioning.complete_admin_sign_in

        async def enable_calling(tenant_id: str, upn: str) -> None:
            if not self._signed_in:
                self.states.append(f"state-{next(self._numbers)}")
                raise AdminSignInRequired(
                    tenant_id,
                    "Contoso",
                    f"https://platform.example/sign-in?state={self.states[-1]}",
                    self.states[-1],
                    datetime.now(UTC) + timedelta(hours=1),
                    [upn],
                )
            await enable(tenant_id, upn)

        async def complete_admin_sign_in(
            tenant_id: str, result: AdminSignInResult, upns: list[str]
        ) -> list[str]:
            self._signed_in = True
            return await complete(tenant_id, result, upns)

        monkeypatch.setattr(provisioning, "enable_calling", enable_calling)
        monkeypatch.setattr(provisioning, "complete_admin_sign_in", complete_admin_sign_in)


def signed_in(state: str) -> AdminSignInResult:
    return AdminSignInResult(state=state, tenant_id=CONTOSO, admin="Ada *Admin*", authentication_result={})


@pytest.fixture
def no_consent(world: World, monkeypatch: pytest.MonkeyPatch) -> WithoutConsent:
    return WithoutConsent(world.provisioning, monkeypatch)


async def waiting_for_sign_in(world: World) -> ProvisioningRequest:
    waiting = await world.awaiting_approval()
    approved = await world.requests.approve(world.admin, waiting.request_id, waiting.version)
    assert await world.run(approved, world.admin) == [
        RequestState.synced,
        RequestState.awaiting_admin_sign_in,
    ]
    return await world.requests.get(approved.request_id)


async def test_a_global_admin_s_sign_in_finishes_the_request(world: World, no_consent: WithoutConsent):
    waiting = await waiting_for_sign_in(world)
    assert waiting.sign_in_url == "https://platform.example/sign-in?state=state-1"
    assert waiting.resume_state is RequestState.synced
    assert ("requester_notice", {"event": "sign_in_needed"}) in [
        (k, p) for k, _, p in await world.outbox(waiting)
    ]

    finishing = await world.requests.complete_admin_sign_in("state-1", signed_in("state-1"))
    assert (finishing.state, finishing.sign_in_url) == (RequestState.calling_enabled, None)
    assert await world.run(finishing) == [RequestState.done]
    done = await world.requests.get(waiting.request_id)
    assert [(e.action, e.actor_name) for e in await world.audit(done)][-4:] == [
        ("admin_sign_in_asked", world.admin.name),
        ("admin_signed_in", "Ada Admin"),  # the platform's name, without markdown
        ("enable_calling", "Ada Admin"),
        ("finish", "the bot"),
    ]
    # The platform bringing the result again: the request as it stands, nothing done twice.
    again = await world.requests.complete_admin_sign_in("state-1", signed_in("state-1"))
    assert (again.state, again.version) == (RequestState.done, done.version)


async def test_an_unknown_sign_in_state_is_refused(world: World, no_consent: WithoutConsent):
    await waiting_for_sign_in(world)
    with pytest.raises(SignInLinkInvalid) as refused:
        await world.requests.complete_admin_sign_in("made-up", signed_in("made-up"))
    assert refused.value.known is False


async def test_a_new_link_replaces_the_old_one(world: World, no_consent: WithoutConsent):
    waiting = await waiting_for_sign_in(world)
    with pytest.raises(NotAuthorised, match="Only a global admin of Contoso can retry this step"):
        await world.requests.retry(world.partner, waiting.request_id, waiting.version)
    renewed = await world.requests.retry(world.admin2, waiting.request_id, waiting.version)
    assert (renewed.state, renewed.sign_in_url) == (RequestState.synced, None)
    assert await world.run(renewed, world.admin2) == [RequestState.awaiting_admin_sign_in]
    assert no_consent.states == ["state-1", "state-2"]
    # The partner heard of the sign-in once, not with every new link.
    events = [p.get("event") for k, _, p in await world.outbox(waiting) if k == "requester_notice"]
    assert events.count("sign_in_needed") == 1

    with pytest.raises(SignInLinkInvalid, match="was replaced by a newer one") as refused:
        await world.requests.complete_admin_sign_in("state-1", signed_in("state-1"))
    assert refused.value.known is True
    finishing = await world.requests.complete_admin_sign_in("state-2", signed_in("state-2"))
    assert finishing.state is RequestState.calling_enabled


async def test_the_tenant_s_admins_stop_a_wait_the_partner_cannot(world: World, no_consent: WithoutConsent):
    waiting = await waiting_for_sign_in(world)
    with pytest.raises(NotAuthorised, match="Only a global admin of Contoso can stop this request"):
        await world.requests.cancel(world.partner, waiting.request_id, waiting.version)
    assert (await world.audit(waiting))[-1].outcome == "stop: not a GA"
    assert (await world.requests.get(waiting.request_id)).version == waiting.version

    stopped = await world.requests.cancel(world.admin, waiting.request_id, waiting.version)
    assert (stopped.state, stopped.sign_in_url) == (RequestState.cancelled, None)
    assert stopped.decision_note == f"Stopped by {world.admin.name} before calling was enabled"
    assert [(k, p.get("event")) for k, _, p in await world.outbox(waiting)][-2:] == [
        ("approvers_update", None),
        ("requester_notice", "stopped"),
    ]
    with pytest.raises(SignInLinkInvalid, match="is for a request that was stopped"):
        await world.requests.complete_admin_sign_in("state-1", signed_in("state-1"))
    assert not await world.provisioning.calling_enabled(CONTOSO, "adele@contoso.example")
