"""GraphClient and GraphDirectory against the fake Graph, with msal answered by a local stub."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from services.errors import ProvisioningError
from services.models import Role
from services.outbound_http import RetryPolicy
from services.provisioning.graph import (
    GLOBAL_ADMIN_ROLE_TEMPLATE_ID,
    GraphClient,
    GraphConfig,
    GraphDirectory,
)
from services.provisioning.partners import Partners
from tests.ctt_world import load_demo_world, seed_graph
from tests.doubles import CONTOSO, CONTOSO_ADMIN, FABRIKAM
from tests.graph_double import TEAMS_PHONE_PLAN, FakeGraph, FakeUser

FAST = RetryPolicy(attempts=3, backoff_base_seconds=0.01, backoff_max_seconds=0.02, timeout_seconds=2)


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    fake = FakeGraph()
    seed_graph(fake, load_demo_world())
    await fake.start()
    yield fake
    await fake.stop()


async def client_for(graph: FakeGraph, **overrides) -> GraphClient:
    values = {
        "client_id": graph.client_id,
        "client_secret": graph.client_secret,
        "base_url": graph.base_url,
        "retry": FAST,
    } | overrides
    client = GraphClient(GraphConfig(**values), http_client=graph.http_client())
    await client.start()
    return client


async def test_one_token_per_tenant_across_concurrent_calls(graph: FakeGraph):
    client = await client_for(graph)
    try:
        await asyncio.gather(
            *(client.licensed_users(CONTOSO) for _ in range(10)),
            *(client.user(CONTOSO, "adele@contoso.example") for _ in range(10)),
            *(client.global_admins(FABRIKAM) for _ in range(10)),
        )
        assert dict(graph.token_requests) == {CONTOSO: 1, FABRIKAM: 1}
    finally:
        await client.close()


async def test_licensed_users_are_read_page_by_page_and_cached(graph: FakeGraph):
    client = await client_for(graph)
    try:
        users = await client.licensed_users(CONTOSO)
        assert len(users) == 12 and all(u.licensed for u in users)
        assert [u.display_name for u in users] == sorted(u.display_name for u in users)
        calls = len(graph.graph_calls)
        assert calls == 3  # only the 12 licensed of 18 users are asked for, in pages of 5
        await client.licensed_users(CONTOSO)
        assert len(graph.graph_calls) == calls
    finally:
        await client.close()


async def test_what_counts_as_a_teams_phone_licence(graph: FakeGraph):
    graph.add_user(
        CONTOSO, FakeUser("u-off", "off@contoso.example", "Off Account", True, account_enabled=False)
    )
    client = await client_for(graph)
    try:
        assert not (await client.user(CONTOSO, "off@contoso.example")).licensed
        assert not (await client.user(CONTOSO, "nestor@contoso.example")).licensed
        assert (await client.user(CONTOSO, "Adele@Contoso.example")).licensed
        assert await client.user(CONTOSO, "nobody@contoso.example") is None
        assert await client.user(CONTOSO, "../users") is None
    finally:
        await client.close()


async def test_global_admins_are_people_only(graph: FakeGraph):
    client = await client_for(graph)
    try:
        admins = await client.global_admins(CONTOSO)
        assert [a.upn for a in admins] == ["admin@contoso.example", "admin2@contoso.example"]
    finally:
        await client.close()


async def test_throttling_is_retried(graph: FakeGraph):
    client = await client_for(graph)
    try:
        graph.fail_next = [429, 503]
        assert len(await client.licensed_users(FABRIKAM)) == 8
    finally:
        await client.close()


async def test_a_refused_token_is_replaced_once(graph: FakeGraph):
    client = await client_for(graph, users_ttl_seconds=0)
    try:
        await client.licensed_users(CONTOSO)
        graph.revoke_tokens()
        await client.licensed_users(CONTOSO)
        assert graph.token_requests[CONTOSO] == 2
    finally:
        await client.close()


async def test_a_next_link_to_another_host_is_not_followed(graph: FakeGraph):
    graph.next_link_base = "https://attacker.example/v1.0"
    client = await client_for(graph)
    try:
        with pytest.raises(ProvisioningError):
            await client.licensed_users(CONTOSO)
        assert len(graph.graph_calls) == 1
    finally:
        await client.close()


async def test_no_consent_is_a_clear_error_and_no_secret_is_logged(
    graph: FakeGraph, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    client = await client_for(graph, client_secret="wrong-secret-7Yq2")
    try:
        with pytest.raises(ProvisioningError) as refused:
            await client.licensed_users(CONTOSO)
        assert not refused.value.retryable
        assert "admin consent" in refused.value.message
    finally:
        await client.close()
    assert "wrong-secret-7Yq2" not in caplog.text
    assert graph.client_secret not in caplog.text


async def test_the_directory_fails_closed_when_graph_refuses(graph: FakeGraph):
    client = await client_for(graph, client_secret="wrong-secret-7Yq2")
    try:
        directory = GraphDirectory(client, Partners())
        assert (await directory.actor(CONTOSO, CONTOSO_ADMIN)).role is Role.none
    finally:
        await client.close()


# -- at scale, as Microsoft's reference says (issue 20) ------------------------------------------------


async def test_licensed_users_are_asked_for_with_an_advanced_query(graph: FakeGraph):
    """ "Advanced query capabilities on Microsoft Entra ID objects": a filter on assignedPlans/any
    with `$count=true` and `ConsistencyLevel: eventual`; only the licensed users travel."""
    client = await client_for(graph)
    try:
        assert len(await client.licensed_users(CONTOSO)) == 12
        first = graph.requests[0]
        assert first.path == "/v1.0/users" and first.consistency == "eventual"
        assert first.query["$count"] == "true" and first.query["$top"] == "999"
        assert first.query["$filter"] == f"assignedPlans/any(p:p/servicePlanId eq {TEAMS_PHONE_PLAN})"
        assert all(r.consistency == "eventual" for r in graph.requests)  # the next pages too
    finally:
        await client.close()


@pytest.mark.parametrize(
    ("status", "licensed"),
    [("Enabled", True), ("Warning", True), ("Suspended", False), ("Deleted", False), ("LockedOut", False)],
)
async def test_a_licence_counts_while_it_is_available_for_normal_use(
    graph: FakeGraph, status: str, licensed: bool
):
    """assignedPlan.capabilityStatus: Enabled and Warning (a grace period) are "available for
    normal use"; Suspended, LockedOut and Deleted are not."""
    graph.add_user(
        CONTOSO, FakeUser("u-grace", "grace@contoso.example", "Grace Period", True, phone_status=status)
    )
    client = await client_for(graph)
    try:
        assert (await client.user(CONTOSO, "grace@contoso.example")).licensed is licensed
        assert ("grace@contoso.example" in {u.upn for u in await client.licensed_users(CONTOSO)}) is licensed
    finally:
        await client.close()


async def test_global_admins_come_from_the_unified_rbac_api_without_top(graph: FakeGraph):
    """directoryRoles/.../members "does not support $top" and returns up to 1,000 objects; Microsoft
    recommends roleManagement/directory/roleAssignments, filtered on the role, principal expanded."""
    graph.other_global_admins[CONTOSO].append(
        {"@odata.type": "#microsoft.graph.group", "id": "g-1", "displayName": "Role-assignable group"}
    )
    for n in range(6):  # more than one page of 5
        graph.add_user(CONTOSO, FakeUser(f"ga-{n}", f"ga{n}@contoso.example", f"GA {n}"), global_admin=True)
    client = await client_for(graph)
    try:
        admins = await client.global_admins(CONTOSO)
        assert len(admins) == 8 and {a.upn for a in admins} >= {
            "admin@contoso.example",
            "ga5@contoso.example",
        }
        asked = [r for r in graph.requests if "role" in r.path.lower()]
        assert {r.path for r in asked} == {"/v1.0/roleManagement/directory/roleAssignments"}
        assert asked[0].query["$filter"] == f"roleDefinitionId eq '{GLOBAL_ADMIN_ROLE_TEMPLATE_ID}'"
        assert asked[0].query["$expand"] == "principal"
        assert all("$top" not in r.query for r in asked) and len(asked) >= 2
    finally:
        await client.close()


@pytest.mark.parametrize("answer", [{"values": []}, {"value": "none"}, ["a list"]])
async def test_an_answer_of_another_shape_is_an_error_with_its_keys_logged(
    graph: FakeGraph, caplog: pytest.LogCaptureFixture, answer: object
):
    client = await client_for(graph)
    try:
        graph.answer_next = answer
        with pytest.raises(ProvisioningError) as refused:
            await client.licensed_users(CONTOSO)
        assert "answered in a form the bot does not know" in refused.value.message
        if isinstance(answer, dict):
            assert all(key in caplog.text for key in answer)
    finally:
        await client.close()
