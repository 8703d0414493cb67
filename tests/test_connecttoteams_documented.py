"""The ConnecttoTeams backend as kb.connecttoteams.com documents it (issue 20), against the platform
double answering in the documented shapes: the raw username of getAuthenticatedUser, the v3 list
answer, `pbxLocation` as the PBX id, the first Sync Teams Users, consent asked for through
getActionItemUrl and kept per tenant, and answers the client does not recognise."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from services.db import Database
from services.errors import PortalStepsRequired, ProvisioningError, SignInLinkInvalid
from services.models import PhoneUserSpec
from services.provisioning.connecttoteams import (
    ConsentKind,
    GlobalAdminSignInRequired,
    SqlPhoneUserRecords,
    SqlTenantStates,
    parse_admin_callback,
)
from tests.ctt_double import CttDouble, Status
from tests.ctt_world import MANAGEMENT_CONSENT_ACTION, CttWorld, build_ctt_world, load_demo_world, pbx_csv
from tests.doubles import CONTOSO, NORTHWIND

PASSWORD = "Abcd1234"
CONFIGURE = "/enterprise/configureUser"
ENTERPRISES = "/reseller/v3/getEnterprisesForReseller"
WHO_AM_I = "/reseller/getAuthenticatedUser"
LITWARE = "1e2f3a4b-5c6d-4e7f-8a9b-0c1d2e3f4a5b"
ADELE = PhoneUserSpec(
    pbx_location="PBX",
    voice_route="CA Central",
    teams_user="adele@contoso.example",
    extension="105",
    phone_number="105",
    sip_auth_id="105t",
)


def litware_user(index: int) -> PhoneUserSpec:
    """The index-th licensed user of Litware (the demo world's tenant with no phone user yet)."""
    generated = next(t for t in load_demo_world()["tenants"] if t["tenant_id"] == LITWARE)["teams_users"]
    upn = [u["upn"] for u in generated if u["licensed"]][index]
    extension = str(2000 + index)
    return PhoneUserSpec(
        pbx_location="PBX",
        voice_route="CA Central",
        teams_user=upn,
        extension=extension,
        phone_number=extension,
        sip_auth_id=f"{extension}t",
    )


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[CttWorld]:
    built = await build_ctt_world(tmp_path)
    yield built
    await built.close()


def ga_result(tenant_id: str):
    body = {"accessToken": "ga-access-token-0123456789abcdef", "userInfo": {"tenantId": tenant_id}}
    return parse_admin_callback({}, {"authenticationResult": {"authenticationResult": body}})


def callback_query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


# -- 1. getAuthenticatedUser -------------------------------------------------------------------------


async def test_our_reseller_id_is_asked_for_with_the_username_as_the_raw_body(tmp_path: Path):
    """ "Getting started on API": `--header 'Content-Type: application/json' --data 'myadmin'`."""
    world = await build_ctt_world(tmp_path, reseller_id=None)
    try:
        assert (await world.service.tenant(CONTOSO)).name == "Contoso"
        await world.service.ping()
        calls = world.ctt.calls(WHO_AM_I)
        assert [(c.body, c.status) for c in calls] == [(world.ctt.username, 200)] * 2
        assert all(c.content_type.startswith("application/json") for c in calls)
    finally:
        await world.close()


async def test_an_answer_without_a_reseller_id_names_its_keys_in_the_log_not_its_values(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    world = await build_ctt_world(tmp_path, reseller_id=None)
    try:
        world.ctt.inject(WHO_AM_I, Status(200, body={"username": "secret-person", "type": "RESELLER"}))
        with pytest.raises(ProvisioningError) as refused:
            await world.service.tenant(CONTOSO)
        assert "CTT_RESELLER_ID" in refused.value.message
        assert "type" in caplog.text and "username" in caplog.text
        assert "secret-person" not in caplog.text
    finally:
        await world.close()


# -- 2. the v3 list answer ---------------------------------------------------------------------------


async def test_a_partners_enterprises_arrive_in_the_documented_v3_shape(world: CttWorld):
    """ "Generating reports guide": {draw, recordsTotal, recordsFiltered, data: {_embedded: {...List}}}."""
    assert [t.name for t in await world.service.enterprises_of(NORTHWIND)] == [
        "Contoso",
        "Fabrikam",
        "Litware",
    ]
    assert (await world.service.tenant(CONTOSO)).name == "Contoso"


async def test_a_v3_answer_that_carries_fewer_records_than_it_counts_is_asked_for_the_rest(tmp_path: Path):
    """The answer is a DataTables draw: the rest comes with DataTables' `start` and `length`."""
    world = await build_ctt_world(tmp_path, ctt=CttDouble(enterprise_page_size=1))
    try:
        assert [t.name for t in await world.service.enterprises_of(NORTHWIND)] == [
            "Contoso",
            "Fabrikam",
            "Litware",
        ]
        asked = [(c.query.get("start"), c.query.get("length")) for c in world.ctt.calls(ENTERPRISES)]
        assert (None, None) in asked and ("1", "2") in asked and ("2", "1") in asked
    finally:
        await world.close()


async def test_an_empty_v3_answer_is_an_empty_list(world: CttWorld):
    empty = {"draw": 0, "recordsTotal": 0, "recordsFiltered": 0, "data": {"_links": {}}}
    world.ctt.inject(ENTERPRISES, Status(200, body=empty))
    assert await world.service.enterprises_of(NORTHWIND) == []


async def test_a_bare_list_of_enterprises_is_still_read(tmp_path: Path):
    """The docs leave room: non-v3 lists (SBC gateways, PBX types) are documented as bare arrays."""
    world = await build_ctt_world(tmp_path, ctt=CttDouble(enterprises_as_bare_list=True))
    try:
        assert [t.name for t in await world.service.enterprises_of(NORTHWIND)] == [
            "Contoso",
            "Fabrikam",
            "Litware",
        ]
    finally:
        await world.close()


@pytest.mark.parametrize(
    "answer",
    [
        {"content": [{"tenantId": "x", "enterpriseId": 1}], "totalPages": 1},  # the old Spring guess
        {"draw": 0, "recordsTotal": 2, "recordsFiltered": 2, "data": {"_embedded": {}}},
        {"draw": 0, "recordsTotal": 1, "data": [{"enterpriseName": "Secret Corp"}]},
        "Secret Corp",
    ],
)
async def test_an_answer_of_another_shape_is_an_error_never_an_empty_list(
    world: CttWorld, caplog: pytest.LogCaptureFixture, answer: object
):
    caplog.set_level(logging.INFO)
    world.ctt.inject(ENTERPRISES, Status(200, body=answer))
    with pytest.raises(ProvisioningError) as refused:
        await world.service.enterprises_of(NORTHWIND)
    assert "answered listing enterprises in a form the bot does not know" in refused.value.message
    assert not refused.value.retryable
    if isinstance(answer, dict):
        assert all(key in caplog.text for key in answer)
    assert "Secret Corp" not in caplog.text


# -- 3. pbxLocation is the PBX id --------------------------------------------------------------------


async def test_pbx_location_is_sent_as_the_pbx_id(world: CttWorld):
    await world.service.add_user(CONTOSO, ADELE, PASSWORD)
    [call] = world.ctt.calls(CONFIGURE)
    assert call.status == 200 and call.body["pbxLocation"] in world.ctt.pbx_ids[CONTOSO]


async def test_a_pbx_location_without_its_pbx_id_is_refused_before_any_call(world: CttWorld):
    world.pbx_file.write_text(pbx_csv(world.world, with_ids=False), encoding="utf-8")
    with pytest.raises(ProvisioningError) as refused:
        await world.service.add_user(CONTOSO, ADELE, PASSWORD)
    assert "pbx_location_id" in refused.value.message and not refused.value.retryable
    assert world.ctt.calls(CONFIGURE) == []


# -- 4. the first Sync Teams Users -------------------------------------------------------------------


async def test_a_first_sync_on_a_consented_tenant_asks_for_the_global_admin(world: CttWorld):
    """ "Update PBX User": skip the Global Admin's sync only when BOTH it is not the first sync AND
    the enterprise consented. Litware consented (CTT_CONSENTED_TENANTS) and has no user yet."""
    s = world.service
    first, second = litware_user(0), litware_user(1)
    await s.add_user(LITWARE, first, PASSWORD)
    await s.sync_users(LITWARE)
    with pytest.raises(GlobalAdminSignInRequired) as needed:
        await s.enable_calling(LITWARE, first.teams_user)
    assert needed.value.message.startswith("Sign in as Global Admin to finish")
    assert "first" in needed.value.message
    assert [a["actionType"] for a in world.ctt.action_requests] == ["LOGIN_ENTERPRISE_ADMIN"]
    assert await s.complete_admin_sign_in(LITWARE, ga_result(LITWARE), needed.value.upns) == [
        first.teams_user
    ]
    assert world.ctt.user(LITWARE, first.teams_user).microsoft_side

    # The first sync is done: consent alone is enough now, and the platform syncs by itself.
    await s.add_user(LITWARE, second, PASSWORD)
    await s.sync_users(LITWARE)
    await s.enable_calling(LITWARE, second.teams_user)
    assert len(world.ctt.action_requests) == 1
    assert world.ctt.user(LITWARE, second.teams_user).microsoft_side


async def test_the_first_sync_is_remembered_across_restarts(tmp_path: Path):
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}")
    await database.migrate()
    records, states = SqlPhoneUserRecords(database), SqlTenantStates(database)
    world = await build_ctt_world(tmp_path, records=records, tenant_states=states)
    try:
        await world.service.add_user(LITWARE, litware_user(0), PASSWORD)
        await world.service.sync_users(LITWARE)
        with pytest.raises(GlobalAdminSignInRequired) as needed:
            await world.service.enable_calling(LITWARE, litware_user(0).teams_user)
        await world.service.complete_admin_sign_in(LITWARE, ga_result(LITWARE), needed.value.upns)
        await world.service.disable_calling(LITWARE, litware_user(0).teams_user)
        assert (await SqlTenantStates(database).get(LITWARE)).first_sync_at is not None
        # Its only user disabled, Litware's first sync is still known: no Global Admin needed.
        await world.service.enable_calling(LITWARE, litware_user(0).teams_user)
    finally:
        await world.close()
        await database.close()


async def test_a_change_before_the_first_sync_asks_for_the_global_admins_sync(world: CttWorld):
    await world.service.add_user(LITWARE, litware_user(0), PASSWORD)
    with pytest.raises(PortalStepsRequired) as steps:
        await world.service.disable_calling(LITWARE, litware_user(0).teams_user)
    assert "first sync" in steps.value.message and "Sync Teams Users" in steps.value.message


# -- 5. consent, asked for through getActionItemUrl --------------------------------------------------


async def test_consent_is_asked_for_through_get_action_item_url_and_kept_per_tenant(tmp_path: Path):
    """ "Enterprise Admin URL Workflow": GET_USER_SYNC_CONSENT (mandatory for PBX) and the
    management consent are action types of getActionItemUrl; the platform brings the outcome back
    to the callback URL we gave. Contoso is not in CTT_CONSENTED_TENANTS."""
    world = await build_ctt_world(tmp_path, consented=frozenset())
    s = world.service
    try:
        sync_link = await s.ask_for_consent(CONTOSO, ConsentKind.user_sync)
        manage_link = await s.ask_for_consent(CONTOSO, ConsentKind.management)
        sync_ask, manage_ask = world.ctt.action_requests
        assert sync_ask["actionType"] == "GET_USER_SYNC_CONSENT" and sync_ask["enterpriseId"] == 500
        assert manage_ask["actionType"] == MANAGEMENT_CONSENT_ACTION
        for link, ask in ((sync_link, sync_ask), (manage_link, manage_ask)):
            assert link.url.startswith("https://portal.ctt.example/action/")
            query = callback_query(ask["callbackUrl"])
            assert query["ctt_consent"] == link.kind.value and len(query["state"]) >= 40

        await s.add_user(CONTOSO, ADELE, PASSWORD)
        await s.sync_users(CONTOSO)
        with pytest.raises(GlobalAdminSignInRequired):  # not consented yet
            await s.enable_calling(CONTOSO, ADELE.teams_user)

        for link in (sync_link, manage_link):
            back = world.ctt.consent_outcome(link.url, CONTOSO)
            outcome = await s.complete_consent(callback_query(back), None)
            assert (outcome.tenant_id, outcome.kind, outcome.granted) == (CONTOSO, link.kind, True)
        state = await s.tenant_state(CONTOSO)
        assert state.management_consent == "granted" and state.user_sync_consent_at is not None

        await s.enable_calling(CONTOSO, ADELE.teams_user)  # consent and not the first sync
        assert world.ctt.user(CONTOSO, ADELE.teams_user).microsoft_side
    finally:
        await world.close()


async def test_a_consent_link_is_single_use_and_a_refusal_is_kept(world: CttWorld):
    s = world.service
    link = await s.ask_for_consent(CONTOSO, ConsentKind.management)
    refused = await s.complete_consent(
        callback_query(world.ctt.consent_outcome(link.url, CONTOSO, grant=False)), {}
    )
    assert not refused.granted
    assert (await s.tenant_state(CONTOSO)).management_consent == "refused"
    with pytest.raises(SignInLinkInvalid) as again:
        await s.complete_consent(callback_query(world.ctt.consent_outcome(link.url, CONTOSO)), {})
    assert again.value.known
    with pytest.raises(SignInLinkInvalid) as unknown:
        await s.complete_consent({"ctt_consent": "management", "state": "x" * 43}, {})
    assert not unknown.value.known


async def test_the_platform_refusing_the_reseller_token_is_kept_as_no_consent(world: CttWorld):
    await world.service.add_user(CONTOSO, ADELE, PASSWORD)
    await world.service.sync_users(CONTOSO)
    world.ctt.inject(CONFIGURE, Status(403, body={"message": "Service provider management not allowed"}))
    with pytest.raises(GlobalAdminSignInRequired):
        await world.service.enable_calling(CONTOSO, ADELE.teams_user)
    assert (await world.service.tenant_state(CONTOSO)).management_consent == "refused"


async def test_the_management_consent_needs_its_action_type_from_the_provider(tmp_path: Path):
    world = await build_ctt_world(tmp_path, management_consent_action_type=None)
    try:
        with pytest.raises(ProvisioningError) as refused:
            await world.service.ask_for_consent(CONTOSO, ConsentKind.management)
        assert "CTT_MANAGEMENT_CONSENT_ACTION" in refused.value.message
        assert world.ctt.action_requests == []
    finally:
        await world.close()
