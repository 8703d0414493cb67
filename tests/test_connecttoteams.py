"""The ConnecttoTeams client against the platform double: the documented body, retries that never
duplicate a user, Retry-After, one token per expiry, 401 refresh, error mapping, the Global Admin
step, and secrets kept out of every log line and message."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import pytest
from sqlalchemy import select, update

from services.db import Database, admin_sign_ins
from services.errors import (
    ExtensionTaken,
    ExtensionUnknown,
    NotLicensed,
    PortalStepsRequired,
    ProvisioningError,
    SignInLinkInvalid,
    StaleRequest,
)
from services.models import Actor, PhoneUserSpec, ProvisioningRequest
from services.outbound_http import Reply, retry_after_seconds
from services.passwords import is_valid_device_password
from services.provisioning.connecttoteams import (
    ConnectToTeamsConfig,
    GlobalAdminSignInRequired,
    SqlPhoneUserRecords,
    parse_action_url,
    parse_admin_callback,
    platform_message,
)
from services.provisioning.graph import GraphDirectory
from services.requests.service import RequestService
from tests.ctt_double import CttDouble, Drop, Slow, Status, Unauthorized
from tests.ctt_world import CALLBACK_URL, CttWorld, build_ctt_world, partners_of
from tests.doubles import CONTOSO, CONTOSO_ADMIN, FABRIKAM, NORTHWIND

PASSWORD = "Abcd1234"
NEW_PASSWORD = "Wxyz5678"
CONFIGURE = "/enterprise/configureUser"
ENTERPRISES = "/reseller/v3/getEnterprisesForReseller"
WHO_AM_I = "/reseller/getAuthenticatedUser"
GATEWAYS = "/reseller/getAvailableSBCGatewayRegionsByResellerId/1000"
ADELE = PhoneUserSpec(
    pbx_location="PBX",
    voice_route="CA Central",
    teams_user="adele@contoso.example",
    extension="105",
    phone_number="105",
    disable_voicemail=True,
    default_dial_plan=True,
    sip_auth_id="105t",
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class RecordingSleep:
    """Records each wait and returns at once, so long Retry-After values cost no test time."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[CttWorld]:
    built = await build_ctt_world(tmp_path)
    yield built
    await built.close()


async def make_world(tmp_path: Path, **kwargs) -> CttWorld:
    return await build_ctt_world(tmp_path, **kwargs)


# -- the documented request --------------------------------------------------------------------------


async def test_configure_user_sends_exactly_the_documented_body(world: CttWorld):
    await world.service.add_user(CONTOSO, ADELE, PASSWORD)
    [call] = world.ctt.calls(CONFIGURE)
    assert call.body == {
        "loginID": world.ctt.username,
        "pbxLocation": "7000",  # the PBX id (ctt_world.pbx_id), "PBX ID - cannot be empty"
        "pbxUserId": "105@pbx.contoso.example",
        "sbcGatewayId": 1,
        "teamsUserId": "adele@contoso.example",
        "tenantId": CONTOSO,
        "phoneNumber": "105",
        "useTeamsVoicemail": False,
        "useEnterpriseDialPlan": True,
        "pbxAuthUserId": "105t",
        "password": PASSWORD,
        "rePassword": PASSWORD,
        "pbxCallPolicyInfo": {
            "callPolicyCNAM": "TRANSPARENT",
            "callPolicyName": "Global",
            "forwardedCallsCallerId": "USER_CALLER_ID",
        },
    }
    [token_call] = world.ctt.calls("/oauth/token")
    assert token_call.status == 200


async def test_voicemail_on_and_no_dial_plan_are_sent_as_such(world: CttWorld):
    spec = ADELE.model_copy(update={"disable_voicemail": False, "default_dial_plan": False})
    await world.service.add_user(CONTOSO, spec, PASSWORD)
    body = world.ctt.calls(CONFIGURE)[0].body
    assert (body["useTeamsVoicemail"], body["useEnterpriseDialPlan"]) == (True, False)


async def double_token(world: CttWorld, http: aiohttp.ClientSession) -> str:
    """A bearer token from the double, asked for as the bot asks."""
    async with http.post(
        f"{world.ctt.url}/oauth/token",
        data={"username": world.ctt.username, "password": world.ctt.password, "grant_type": "password"},
        headers={"Authorization": "Basic " + _b64(f"{world.ctt.client_id}:{world.ctt.client_secret}")},
    ) as r:
        return (await r.json())["access_token"]


async def test_the_double_validates_required_fields_like_the_contract(world: CttWorld):
    async with aiohttp.ClientSession() as http:
        token = await double_token(world, http)
        async with http.post(
            f"{world.ctt.url}{CONFIGURE}",
            json={"loginID": world.ctt.username, "sbcGatewayId": 0},
            headers={"Authorization": f"Bearer {token}"},
        ) as r:
            assert r.status == 400
            fields = {e["field"] for e in (await r.json())["errors"]}
    assert fields == {"pbxLocation", "pbxUserId", "teamsUserId", "tenantId", "sbcGatewayId"}


# -- retries -----------------------------------------------------------------------------------------


async def test_a_slow_answer_is_retried_and_the_user_exists_once(tmp_path: Path):
    world = await make_world(tmp_path, request_timeout_seconds=0.15)
    try:
        world.ctt.inject(CONFIGURE, Slow(0.3))
        await world.service.add_user(CONTOSO, ADELE, PASSWORD)
        await asyncio.sleep(0.2)  # the slow first call finishes its work on the platform too
        assert len(world.ctt.calls(CONFIGURE)) == 2
        adele = [
            u for u in world.ctt.tenant_users(CONTOSO) if u.body["teamsUserId"] == "adele@contoso.example"
        ]
        assert len(adele) == 1
        assert adele[0].edits == 1  # the second call was an edit with the same body
        assert world.ctt.calls(CONFIGURE)[0].body == world.ctt.calls(CONFIGURE)[1].body
    finally:
        await world.close()


async def test_503_then_success(world: CttWorld):
    world.ctt.inject(CONFIGURE, Status(503), Status(502))
    await world.service.add_user(CONTOSO, ADELE, PASSWORD)
    assert [c.status for c in world.ctt.calls(CONFIGURE)] == [503, 502, 200]
    assert len(world.ctt.tenant_users(CONTOSO)) == 3  # megan, alex, adele


async def test_a_dropped_connection_is_retried(world: CttWorld):
    world.ctt.inject(CONFIGURE, Drop())
    await world.service.add_user(CONTOSO, ADELE, PASSWORD)
    assert len(world.ctt.calls(CONFIGURE)) == 2
    assert world.ctt.user(CONTOSO, "adele@contoso.example") is not None


async def test_retry_after_is_honoured(world: CttWorld):
    world.ctt.inject(CONFIGURE, Status(429, retry_after="1"))
    started = time.monotonic()
    await world.service.add_user(CONTOSO, ADELE, PASSWORD)
    first, second = world.ctt.calls(CONFIGURE)
    assert first.status == 429 and second.status == 200
    assert second.at - first.at >= 1.0
    assert time.monotonic() - started < 3


async def test_retry_after_seconds_are_waited_exactly_with_a_fake_sleep(tmp_path: Path):
    sleep = RecordingSleep()
    world = await make_world(tmp_path, sleep=sleep)
    try:
        world.ctt.inject(CONFIGURE, Status(429, retry_after="4"), Status(503, retry_after="3"))
        await world.service.add_user(CONTOSO, ADELE, PASSWORD)
        assert sleep.waits[:2] == [4.0, 3.0]
    finally:
        await world.close()


async def test_a_retry_after_longer_than_allowed_fails_at_once_as_retryable(tmp_path: Path):
    sleep = RecordingSleep()
    world = await make_world(tmp_path, sleep=sleep)
    try:
        world.ctt.inject(CONFIGURE, Status(429, retry_after="600"))
        with pytest.raises(ProvisioningError) as busy:
            await world.service.add_user(CONTOSO, ADELE, PASSWORD)
        assert busy.value.retryable
        assert "600 s" in busy.value.message
        assert sleep.waits == []
        assert len(world.ctt.calls(CONFIGURE)) == 1
    finally:
        await world.close()


def test_retry_after_as_an_http_date():
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds({"Retry-After": "Wed, 01 Jan 2025 12:00:07 GMT"}, now) == 7.0
    assert retry_after_seconds({"retry-after": "5"}) == 5.0
    assert retry_after_seconds({"Retry-After": "soon"}) is None
    assert retry_after_seconds({}) is None


async def test_a_platform_that_stays_down_gives_a_clear_retryable_error(world: CttWorld):
    world.ctt.inject(CONFIGURE, *[Status(503)] * 10)
    with pytest.raises(ProvisioningError) as down:
        await world.service.add_user(CONTOSO, ADELE, PASSWORD)
    assert down.value.retryable
    assert down.value.message == (
        "The provisioning platform is not answering right now (HTTP 503 after 4 attempt(s)); "
        "nothing was lost, try again in a few minutes."
    )
    assert len(world.ctt.calls(CONFIGURE)) == 4
    state = await world.service.user_state(CONTOSO, "adele@contoso.example")
    assert state is not None and not state.provisioned


async def test_a_platform_that_never_answers_in_time(tmp_path: Path):
    world = await make_world(tmp_path, request_timeout_seconds=0.1, max_attempts=2)
    try:
        world.ctt.inject(GATEWAYS, Slow(0.2), Slow(0.2))
        with pytest.raises(ProvisioningError) as down:
            await world.service.form_options(CONTOSO)
        assert down.value.retryable
        assert "no answer within 0.1 s after 2 attempt(s)" in down.value.message
    finally:
        await world.close()


# -- the token ---------------------------------------------------------------------------------------


async def test_one_token_per_expiry_across_many_concurrent_calls(tmp_path: Path):
    clock = FakeClock()
    world = await make_world(tmp_path, clock=clock, cache_ttl_seconds=0)
    try:
        await asyncio.gather(*(world.service.form_options(CONTOSO) for _ in range(30)))
        await asyncio.gather(*(world.service.ping() for _ in range(10)))
        assert world.ctt.token_requests == 1
        clock.now += world.ctt.token_lifetime - 30  # inside the refresh margin: a new token is due
        await asyncio.gather(*(world.service.enterprises_of(NORTHWIND) for _ in range(20)))
        assert world.ctt.token_requests == 2
        assert all(c.status == 200 for c in world.ctt.calls(ENTERPRISES))
    finally:
        await world.close()


async def test_a_401_fetches_a_new_token_once_and_retries(world: CttWorld):
    await world.service.ping()
    world.ctt.inject(GATEWAYS, Unauthorized())
    options = await world.service.form_options(CONTOSO)
    assert [r.name for r in options.voice_routes] == ["CA Central", "US West"]
    assert world.ctt.token_requests == 2
    assert [c.status for c in world.ctt.calls(GATEWAYS)] == [401, 200]


async def test_many_calls_refused_with_the_same_token_fetch_one_new_token(world: CttWorld):
    await world.service.ping()
    world.ctt.inject(WHO_AM_I, Unauthorized())  # revokes the token all the calls below hold
    await asyncio.gather(*(world.service.ping() for _ in range(20)))
    assert world.ctt.token_requests == 2


async def test_a_second_401_is_a_clear_error(world: CttWorld):
    world.ctt.inject(WHO_AM_I, Unauthorized(), Unauthorized())
    with pytest.raises(ProvisioningError) as refused:
        await world.service.ping()
    assert not refused.value.retryable
    assert "credentials" in refused.value.message


async def test_wrong_api_credentials(tmp_path: Path):
    world = await make_world(tmp_path, api_password="not-the-password-9")
    try:
        with pytest.raises(ProvisioningError) as refused:
            await world.service.form_options(CONTOSO)
        assert not refused.value.retryable
        assert "CTT_API_PASSWORD" in refused.value.message
        assert "not-the-password-9" not in refused.value.message
    finally:
        await world.close()


# -- errors mapped to the domain --------------------------------------------------------------------


async def test_an_extension_only_the_platform_knows_is_taken(world: CttWorld):
    world.ctt.seed_user(
        CONTOSO,
        {"teamsUserId": "lee@contoso.example", "tenantId": CONTOSO, "pbxUserId": "110@pbx.contoso.example"},
    )
    with pytest.raises(ExtensionTaken) as taken:
        await world.service.add_user(CONTOSO, ADELE.model_copy(update={"extension": "110"}), PASSWORD)
    assert (taken.value.extension, taken.value.assigned_to) == ("110", "lee@contoso.example")
    assert world.ctt.user(CONTOSO, "adele@contoso.example") is None
    assert (await world.service.extension(CONTOSO, "PBX", "110")).assigned_to is None  # not ours to record


async def test_an_existing_device_with_another_password(world: CttWorld):
    world.ctt.devices["105@pbx.contoso.example"] = "Other987"
    with pytest.raises(ProvisioningError) as refused:
        await world.service.add_user(CONTOSO, ADELE, PASSWORD)
    assert not refused.value.retryable
    assert "another password" in refused.value.message
    assert PASSWORD not in refused.value.message and "Other987" not in refused.value.message


async def test_a_licence_refusal_from_the_platform(world: CttWorld):
    world.ctt.inject(CONFIGURE, Status(400, body={"message": "Teams user has no Phone System license"}))
    with pytest.raises(NotLicensed):
        await world.service.add_user(CONTOSO, ADELE, PASSWORD)


async def test_a_validation_refusal_names_the_field(world: CttWorld):
    body = {
        "status": 400,
        "errors": [{"field": "pbxAuthUserId", "defaultMessage": "must not contain spaces"}],
    }
    world.ctt.inject(CONFIGURE, Status(400, body=body))
    with pytest.raises(ProvisioningError) as refused:
        await world.service.add_user(CONTOSO, ADELE, PASSWORD)
    assert not refused.value.retryable
    assert "pbxAuthUserId: must not contain spaces" in refused.value.message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            b'{"timestamp":"t","status":400,"error":"Bad Request","message":"PBX ID - cannot be empty"}',
            "PBX ID - cannot be empty",
        ),
        (b'{"error":"invalid_grant","error_description":"Bad credentials"}', "Bad credentials"),
        (b'{"error":"Conflict"}', "Conflict"),
        (b'"Extension in use"', "Extension in use"),
        (b'["one", "two"]', "one; two"),
        (b"Plain\ntext  error", "Plain text error"),
        (b"<html><body>Bad gateway</body></html>", ""),
        (b"", ""),
        (b'{"errors": {"pbxUserId": "taken"}}', "pbxUserId: taken"),
    ],
)
def test_error_bodies_of_any_usual_shape(body: bytes, expected: str):
    assert platform_message(Reply(400, {}, body)) == expected


def test_a_long_error_body_is_cut():
    message = platform_message(Reply(400, {}, ("x" * 1000).encode()))
    assert len(message) == 300 and message.endswith("…")


@pytest.mark.parametrize(
    ("body", "url"),
    [
        (b'{"url": "https://p.example/a?x=1"}', "https://p.example/a?x=1"),
        (b'{"actionItemUrl": "https://p.example/b"}', "https://p.example/b"),
        (b'"https://p.example/c"', "https://p.example/c"),
        (b"https://p.example/d", "https://p.example/d"),
        (b'{"url": "javascript:alert(1)"}', None),
        (b"{}", None),
    ],
)
def test_action_urls_in_any_usual_shape(body: bytes, url: str | None):
    assert parse_action_url(Reply(200, {}, body)) == url


# -- the Global Admin step ---------------------------------------------------------------------------


def ga_result(tenant_id: str, token: str = "ga-access-token-0123456789abcdef", state: str | None = None):
    return parse_admin_callback(
        {"state": state} if state else {},
        {
            "authenticationResult": {
                "authenticationResult": {
                    "accessToken": token,
                    "idToken": "ga-id-token-0123456789abcdef",
                    "userInfo": {"tenantId": tenant_id, "displayableId": "admin@contoso.example"},
                }
            }
        },
    )


async def test_without_consent_enabling_calling_asks_a_global_admin_to_sign_in(tmp_path: Path):
    world = await make_world(tmp_path, consented=frozenset())
    s = world.service
    try:
        await s.add_user(CONTOSO, ADELE, PASSWORD)
        assert await s.sync_required(CONTOSO)
        await s.sync_users(CONTOSO)  # no platform call: the Microsoft side is done per user below
        assert not await s.sync_required(CONTOSO)
        with pytest.raises(GlobalAdminSignInRequired) as needed:
            await s.enable_calling(CONTOSO, "adele@contoso.example")
        ask = needed.value
        assert ask.message.startswith("Sign in as Global Admin to finish")
        assert ask.retryable and ask.tenant_id == CONTOSO and ask.upns == ["adele@contoso.example"]
        assert ask.action_url.startswith("https://portal.ctt.example/action/")
        assert len(ask.state) >= 40
        [asked] = world.ctt.action_requests
        assert asked["actionType"] == "LOGIN_ENTERPRISE_ADMIN"
        assert asked["enterpriseId"] == 500
        assert asked["callbackUrl"] == f"{CALLBACK_URL}?state={ask.state}"

        result = ga_result(CONTOSO, state=ask.state)
        assert (result.state, result.tenant_id, result.admin) == (ask.state, CONTOSO, "admin@contoso.example")
        assert await s.complete_admin_sign_in(CONTOSO, result, ask.upns) == ["adele@contoso.example"]

        sent = world.ctt.calls(CONFIGURE)[-1].body
        assert sent["authenticationResult"]["authenticationResult"]["accessToken"].startswith("ga-access")
        assert "password" not in sent  # the device keeps the password it got on the add
        assert world.ctt.user(CONTOSO, "adele@contoso.example").microsoft_side
        assert await s.calling_enabled(CONTOSO, "adele@contoso.example")
    finally:
        await world.close()


async def test_a_sign_in_completes_only_the_users_it_was_asked_for(tmp_path: Path):
    world = await make_world(tmp_path, consented=frozenset())
    s = world.service
    isaiah = ADELE.model_copy(update={"teams_user": "isaiah@contoso.example", "extension": "106"})
    try:
        await s.add_user(CONTOSO, ADELE, PASSWORD)
        await s.add_user(CONTOSO, isaiah, PASSWORD)  # e.g. a partner's request still awaiting approval
        await s.sync_users(CONTOSO)
        with pytest.raises(GlobalAdminSignInRequired) as needed:
            await s.enable_calling(CONTOSO, "adele@contoso.example")
        await s.complete_admin_sign_in(CONTOSO, ga_result(CONTOSO), needed.value.upns)
        assert await s.calling_enabled(CONTOSO, "adele@contoso.example")
        assert not await s.calling_enabled(CONTOSO, "isaiah@contoso.example")
        assert not world.ctt.user(CONTOSO, "isaiah@contoso.example").microsoft_side
    finally:
        await world.close()


async def test_a_sign_in_for_another_tenant_is_refused(tmp_path: Path):
    world = await make_world(tmp_path, consented=frozenset())
    try:
        await world.service.add_user(CONTOSO, ADELE, PASSWORD)
        result = parse_admin_callback(
            {}, {"accessToken": "tok-0123456789abcdef", "userInfo": {"tenantId": FABRIKAM}}
        )
        with pytest.raises(ProvisioningError) as refused:
            await world.service.complete_admin_sign_in(CONTOSO, result, ["adele@contoso.example"])
        assert "another Microsoft 365 tenant" in refused.value.message
        assert not await world.service.calling_enabled(CONTOSO, "adele@contoso.example")
    finally:
        await world.close()


def test_an_unreadable_callback():
    with pytest.raises(ProvisioningError):
        parse_admin_callback({"state": "s"}, {"result": "ok"})
    result = parse_admin_callback({}, {"msalAuthenticationResult": {"accessToken": "secret-access-token"}})
    assert result.authentication_result == {"authenticationResult": {"accessToken": "secret-access-token"}}
    assert "secret-access-token" not in repr(result)


async def test_with_consent_the_reseller_token_is_enough(world: CttWorld):
    s = world.service
    await s.add_user(CONTOSO, ADELE, PASSWORD)
    await s.sync_users(CONTOSO)
    await s.enable_calling(CONTOSO, "adele@contoso.example")
    assert world.ctt.action_requests == []
    [add, enable] = world.ctt.calls(CONFIGURE)
    assert {k: v for k, v in add.body.items() if k not in ("password", "rePassword")} == enable.body
    assert world.ctt.user(CONTOSO, "adele@contoso.example").microsoft_side


async def test_consent_refused_by_the_platform_falls_back_to_a_sign_in(world: CttWorld):
    await world.service.add_user(CONTOSO, ADELE, PASSWORD)
    await world.service.sync_users(CONTOSO)
    world.ctt.inject(CONFIGURE, Status(403, body={"message": "Service provider management not allowed"}))
    with pytest.raises(GlobalAdminSignInRequired):
        await world.service.enable_calling(CONTOSO, "adele@contoso.example")
    assert not await world.service.calling_enabled(CONTOSO, "adele@contoso.example")


async def test_no_callback_address_is_a_clear_error(tmp_path: Path):
    world = await make_world(tmp_path, consented=frozenset(), admin_callback_url=None)
    try:
        await world.service.add_user(CONTOSO, ADELE, PASSWORD)
        await world.service.sync_users(CONTOSO)
        with pytest.raises(ProvisioningError) as refused:
            await world.service.enable_calling(CONTOSO, "adele@contoso.example")
        assert not isinstance(refused.value, GlobalAdminSignInRequired)
        # A setting the provider can fix: the card keeps "Try again" for when it is there.
        assert "CTT_CALLBACK_URL" in refused.value.message and refused.value.retryable
    finally:
        await world.close()


# -- what the platform lists -------------------------------------------------------------------------


async def test_reseller_id_is_discovered_when_not_configured(tmp_path: Path):
    world = await make_world(tmp_path, reseller_id=None)
    try:
        assert (await world.service.tenant(CONTOSO)).name == "Contoso"
        assert (await world.service.tenant(FABRIKAM)).name == "Fabrikam"
        assert len(world.ctt.calls(WHO_AM_I)) == 1
    finally:
        await world.close()


async def test_enterprises_listed_in_pages(tmp_path: Path):
    ctt = CttDouble(enterprise_page_size=1)
    world = await make_world(tmp_path, ctt=ctt)
    try:
        # Litware: the demo world's tenant for a 200-user bulk add, which Northwind manages too.
        assert [t.name for t in await world.service.enterprises_of(NORTHWIND)] == [
            "Contoso",
            "Fabrikam",
            "Litware",
        ]
        assert len(world.ctt.calls(ENTERPRISES)) >= 2
    finally:
        await world.close()


async def test_lists_are_cached_between_forms(world: CttWorld):
    for _ in range(5):
        await world.service.form_options(CONTOSO)
    assert len(world.ctt.calls(ENTERPRISES)) == 3  # our reseller and the two partners', once each
    assert len(world.ctt.calls(GATEWAYS)) == 1


# -- secrets -----------------------------------------------------------------------------------------


async def test_secrets_never_reach_a_log_line_or_a_message(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    world = await make_world(tmp_path, consented=frozenset())
    s = world.service
    ga_token = "ga-access-token-SECRET-0123456789"
    errors: list[str] = []
    try:
        await s.ping()
        world.ctt.inject(ENTERPRISES, Unauthorized())
        world.ctt.inject(CONFIGURE, Status(503), Drop())
        await s.add_user(CONTOSO, ADELE, PASSWORD)
        # A platform that echoes what it got (token and password) in its error message.
        echo = f"bad request: {PASSWORD} / {world.ctt.issued_tokens[-1]}"
        world.ctt.inject(CONFIGURE, Status(400, body={"message": echo}))
        try:
            await s.add_user(CONTOSO, ADELE, PASSWORD)
        except ProvisioningError as exc:
            errors.append(exc.message)
        await s.sync_users(CONTOSO)
        upns: list[str] = []
        try:
            await s.enable_calling(CONTOSO, "adele@contoso.example")
        except GlobalAdminSignInRequired as exc:
            errors.append(exc.message)
            upns = exc.upns
        result = parse_admin_callback({}, {"accessToken": ga_token, "userInfo": {"tenantId": CONTOSO}})
        world.ctt.inject(CONFIGURE, Status(400, body={"message": f"rejected {ga_token}"}))
        try:
            await s.complete_admin_sign_in(CONTOSO, result, upns)
        except ProvisioningError as exc:
            errors.append(exc.message)
        assert await s.complete_admin_sign_in(CONTOSO, result, upns) == ["adele@contoso.example"]
        # A new device password: refused with the password echoed, then the PBX keeping the device's
        # own (the steps for the person), then accepted once the device is gone from the PBX.
        world.ctt.inject(CONFIGURE, Status(400, body={"message": f"bad request: {NEW_PASSWORD}"}))
        for _ in range(2):
            try:
                await s.reset_device_password(CONTOSO, "adele@contoso.example", NEW_PASSWORD)
            except ProvisioningError as exc:
                errors.append(exc.message)
        world.ctt.devices.pop("105@pbx.contoso.example")
        await s.reset_device_password(CONTOSO, "adele@contoso.example", NEW_PASSWORD)
        assert world.ctt.devices["105@pbx.contoso.example"] == NEW_PASSWORD
    finally:
        await world.close()
    secrets = [
        PASSWORD,
        NEW_PASSWORD,
        world.ctt.client_secret,
        world.ctt.password,
        ga_token,
        world.graph.client_secret,
        *world.ctt.issued_tokens,
        *world.graph.issued_tokens,
    ]
    assert len(world.ctt.issued_tokens) == 2 and world.graph.issued_tokens
    assert caplog.records, "expected the calls to log something"
    logged = (
        caplog.text + "\n".join(str(r.args) + str(r.exc_info) for r in caplog.records) + "\n".join(errors)
    )
    leaked = [secret for secret in secrets if secret in logged]
    assert leaked == []
    assert "[redacted]" in errors[0] and "[redacted]" in errors[-2]
    assert "cannot change it there" in errors[-1]
    config = ConnectToTeamsConfig(
        base_url="https://x",
        client_id="c",
        client_secret="cs-9f8e7d",
        api_username="u",
        api_password="pw-1a2b",
    )
    assert "cs-9f8e7d" not in repr(config) and "pw-1a2b" not in repr(config)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# -- the request workflow over this backend ----------------------------------------------------------


async def run_admin_request(
    world: CttWorld, database: Database
) -> tuple[RequestService, Actor, ProvisioningRequest]:
    directory = GraphDirectory(world.graph_client, partners_of(world.world), customers=world.service)
    requests = RequestService(database, world.service, directory)
    actor = await directory.actor(CONTOSO, CONTOSO_ADMIN, "Ada")
    draft = await requests.start_draft(actor)
    values = {"pbx_location": "PBX", "voice_route": "CA Central", "teams_user": "adele@contoso.example"}
    form = await requests.save_form(actor, draft.request_id, draft.version, values | {"extension": "105"})
    assert form.errors == {}, form.errors
    submitted = await requests.submit(actor, draft.request_id, form.request.version)
    return requests, actor, await requests.run(submitted.request.request_id, actor=actor)


async def test_the_workflow_runs_to_done_with_consent(tmp_path: Path):
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}")
    await database.create()
    records = SqlPhoneUserRecords(database)
    await records.create()
    world = await make_world(tmp_path, records=records)
    try:
        _, _, done = await run_admin_request(world, database)
        assert done.state == "done", done.error
        assert (done.steps.sync_note, done.steps.calling_note) == ("Teams users synced", "Calling enabled")
        assert world.ctt.user(CONTOSO, "adele@contoso.example").microsoft_side
    finally:
        await world.close()
        await database.close()


def callback_state(world: CttWorld, index: int = -1) -> str:
    """The state the bot put into the callback URL of a sign-in link it asked the platform for."""
    url = world.ctt.action_requests[index]["callbackUrl"]
    return dict(parse_qsl(urlsplit(url).query))["state"]


def msal_calls(world: CttWorld) -> list:
    return [c for c in world.ctt.calls(CONFIGURE) if "authenticationResult" in c.body]


@asynccontextmanager
async def waiting_world(
    tmp_path: Path,
) -> AsyncIterator[tuple[CttWorld, Database, RequestService, Actor, ProvisioningRequest]]:
    """An admin's request on a tenant without consent, waiting for a Global Admin's sign-in."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}")
    await database.create()
    records = SqlPhoneUserRecords(database)
    await records.create()
    world = await make_world(tmp_path, records=records, consented=frozenset())
    try:
        requests, actor, waiting = await run_admin_request(world, database)
        yield world, database, requests, actor, waiting
    finally:
        await world.close()
        await database.close()


async def test_the_workflow_waits_for_a_global_admin_then_resumes(tmp_path: Path):
    async with waiting_world(tmp_path) as (world, database, requests, _, waiting):
        assert waiting.state == "awaiting_admin_sign_in", waiting.error
        assert waiting.sign_in_url and waiting.sign_in_url.startswith("https://portal.ctt.example/action/")
        assert waiting.sign_in_expires_at and waiting.sign_in_expires_at > datetime.now(UTC)
        assert waiting.resume_state == "synced" and waiting.steps.calling == "pending"
        assert not world.ctt.user(CONTOSO, "adele@contoso.example").microsoft_side
        state = callback_state(world)
        # The state is kept only as a hash.
        async with database.engine.connect() as conn:
            dump = "\n".join(str(tuple(row)) for row in (await conn.execute(select(admin_sign_ins))).all())
        assert dump and state not in dump

        enabled = await requests.complete_admin_sign_in(state, ga_result(CONTOSO, state=state))
        assert enabled.state == "calling_enabled" and enabled.sign_in_url is None
        assert enabled.steps.calling_note == "Calling enabled after admin@contoso.example signed in"
        done = await requests.run(enabled.request_id)
        assert done.state == "done", done.error
        assert world.ctt.user(CONTOSO, "adele@contoso.example").microsoft_side
        [with_msal] = msal_calls(world)
        assert with_msal.body["teamsUserId"] == "adele@contoso.example"

        # The result brought back again (the platform retrying, a browser): the request as it is.
        again = await requests.complete_admin_sign_in(state, ga_result(CONTOSO, state=state))
        assert again.state == "done" and again.version == done.version
        with pytest.raises(SignInLinkInvalid, match="not known") as unknown:
            await requests.complete_admin_sign_in("guessed-" + state[8:], ga_result(CONTOSO))
        assert not unknown.value.known
        assert len(msal_calls(world)) == 1


async def test_a_new_link_replaces_the_old_one_and_links_expire(tmp_path: Path):
    async with waiting_world(tmp_path) as (world, database, requests, actor, waiting):
        first = callback_state(world)
        renewed = await requests.retry(actor, waiting.request_id, waiting.version)
        again = await requests.run(renewed.request_id, actor=actor)
        assert again.state == "awaiting_admin_sign_in" and len(world.ctt.action_requests) == 2
        second = callback_state(world)
        assert second != first
        with pytest.raises(SignInLinkInvalid, match="replaced by a newer one"):
            await requests.complete_admin_sign_in(first, ga_result(CONTOSO))
        async with database.engine.begin() as conn:
            await conn.execute(
                update(admin_sign_ins).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        with pytest.raises(SignInLinkInvalid, match="expired at"):
            await requests.complete_admin_sign_in(second, ga_result(CONTOSO))
        assert (await requests.get(waiting.request_id)).state == "awaiting_admin_sign_in"
        assert not msal_calls(world)


async def test_a_sign_in_from_another_tenant_fails_the_step_with_a_way_on(tmp_path: Path):
    async with waiting_world(tmp_path) as (world, _, requests, actor, _):
        state = callback_state(world)
        failed = await requests.complete_admin_sign_in(state, ga_result(FABRIKAM, state=state))
        assert failed.state == "failed" and failed.resume_state == "synced"
        assert "another Microsoft 365 tenant" in (failed.error or "")
        assert failed.steps.calling == "failed"
        # "Try again" asks for a new link.
        retried = await requests.retry(actor, failed.request_id, failed.version)
        waiting_again = await requests.run(retried.request_id, actor=actor)
        assert waiting_again.state == "awaiting_admin_sign_in" and len(world.ctt.action_requests) == 2
        # The first link was used (for the wrong tenant): it cannot finish the new wait.
        with pytest.raises(SignInLinkInvalid, match="already used"):
            await requests.complete_admin_sign_in(state, ga_result(CONTOSO, state=state))
        assert (await requests.get(waiting_again.request_id)).state == "awaiting_admin_sign_in"
        audit = [e.action for e in await requests.audit_of_tenant(CONTOSO)]
        assert "admin_sign_in_asked" in audit and "fail" in audit


async def test_a_new_link_cannot_race_a_sign_in_being_completed(tmp_path: Path):
    async with waiting_world(tmp_path) as (world, _, requests, actor, waiting):
        state = callback_state(world)
        world.ctt.inject(CONFIGURE, Slow(0.5))
        completing = asyncio.create_task(
            requests.complete_admin_sign_in(state, ga_result(CONTOSO, state=state))
        )
        for _ in range(500):  # the callback has taken the state and is at the platform
            if (await requests.get(waiting.request_id)).state == "admin_signed_in":
                break
            await asyncio.sleep(0.01)
        else:
            pytest.fail("the sign-in never moved the request to admin_signed_in")
        with pytest.raises(StaleRequest):  # the card's "Get a new sign-in link", clicked meanwhile
            await requests.retry(actor, waiting.request_id, waiting.version)
        enabled = await completing
        assert enabled.state == "calling_enabled"
        assert (await requests.run(enabled.request_id)).state == "done"
        assert len(world.ctt.action_requests) == 1 and len(msal_calls(world)) == 1


async def test_a_stop_between_sign_in_and_its_end_is_resumed_with_a_way_on(tmp_path: Path):
    async with waiting_world(tmp_path) as (world, _, requests, _, _):
        state = callback_state(world)
        # The state is taken, then the process stops before the platform call.
        taken, _, _ = await requests._take_sign_in(state, ga_result(CONTOSO, state=state))
        assert taken.state == "admin_signed_in"
        await requests.release_leases()
        [interrupted] = await requests.in_flight()
        resumed = await requests.run(interrupted.request_id)
        # Calling is not on at the platform: a new link, not a dead end.
        assert resumed.state == "awaiting_admin_sign_in" and len(world.ctt.action_requests) == 2
        assert resumed.sign_in_url


async def test_nobody_signs_in_so_the_request_is_stopped_and_its_link_dies(tmp_path: Path):
    async with waiting_world(tmp_path) as (world, _, requests, actor, waiting):
        state = callback_state(world)
        stopped = await requests.cancel(actor, waiting.request_id, waiting.version)
        assert stopped.state == "cancelled" and stopped.sign_in_url is None
        assert stopped.steps.add_user == "done" and stopped.steps.calling == "pending"
        with pytest.raises(SignInLinkInvalid, match="was stopped"):
            await requests.complete_admin_sign_in(state, ga_result(CONTOSO, state=state))
        assert not msal_calls(world)
        assert "cancel" in [e.action for e in await requests.audit_of_tenant(CONTOSO)]


# -- one phone user's actions (issue 16) ---------------------------------------------------------------

DISABLE = "/provisioning/disableUsers"
RESTORE = "/provisioning/restoreUsers"
ALEX = "alex@contoso.example"
MEGAN = "megan@contoso.example"
ISAIAH = ADELE.model_copy(update={"teams_user": "isaiah@contoso.example"})


def contoso_user(extension: str, **overrides: object) -> PhoneUserSpec:
    """Megan's values (the demo world's) on `extension`, with its device."""
    values = {
        "teams_user": MEGAN,
        "extension": extension,
        "phone_number": extension,
        "sip_auth_id": f"{extension}t",
    }
    return ADELE.model_copy(update=values | overrides)


async def test_a_change_sends_the_new_values_and_frees_the_old_extension(world: CttWorld):
    s = world.service
    sent = len(world.ctt.calls(CONFIGURE))
    await s.change_user(CONTOSO, contoso_user("106", disable_voicemail=False, voice_route="US West"))
    [change] = world.ctt.calls(CONFIGURE)[sent:]
    password = change.body.pop("password")
    assert is_valid_device_password(password) and change.body.pop("rePassword") == password
    assert change.body == {
        "loginID": world.ctt.username,
        "pbxLocation": "7000",
        "pbxUserId": "106@pbx.contoso.example",
        "sbcGatewayId": 2,
        "teamsUserId": MEGAN,
        "tenantId": CONTOSO,
        "phoneNumber": "106",
        "useTeamsVoicemail": True,
        "useEnterpriseDialPlan": True,
        "pbxAuthUserId": "106t",
        "pbxCallPolicyInfo": {
            "callPolicyCNAM": "TRANSPARENT",
            "callPolicyName": "Global",
            "forwardedCallsCallerId": "USER_CALLER_ID",
        },
    }
    state = await s.user_state(CONTOSO, MEGAN)
    assert (state.extension, state.voice_route, state.voicemail_disabled) == ("106", "US West", False)
    assert state.sync_pending and state.calling_enabled and state.device_password_set
    assert await s.sync_required(CONTOSO)
    assert (await s.extension(CONTOSO, "PBX", "100")).assigned_to is None
    assert (await s.extension(CONTOSO, "PBX", "106")).assigned_to == MEGAN
    assert "100" in [e.number for e in (await s.form_options(CONTOSO)).free_extensions]
    assert world.ctt.user(CONTOSO, MEGAN).body["pbxUserId"] == "106@pbx.contoso.example"

    # The same change again (a retry) changes nothing and calls nothing.
    await s.change_user(CONTOSO, contoso_user("106", disable_voicemail=False, voice_route="US West"))
    assert len(world.ctt.calls(CONFIGURE)) == sent + 1
    # The old extension is free for someone else.
    await s.add_user(CONTOSO, ISAIAH.model_copy(update={"extension": "100", "phone_number": "100"}), PASSWORD)
    assert (await s.extension(CONTOSO, "PBX", "100")).assigned_to == "isaiah@contoso.example"


async def test_a_change_on_the_same_device_keeps_its_password(world: CttWorld):
    s = world.service
    await s.add_user(CONTOSO, ADELE, PASSWORD)
    await s.change_user(CONTOSO, ADELE.model_copy(update={"default_dial_plan": False}))
    change = world.ctt.calls(CONFIGURE)[-1].body
    assert "password" not in change and "rePassword" not in change
    assert change["useEnterpriseDialPlan"] is False and change["pbxUserId"] == "105@pbx.contoso.example"
    assert world.ctt.devices["105@pbx.contoso.example"] == PASSWORD
    assert (await s.user_state(CONTOSO, ADELE.teams_user)).default_dial_plan is False


@pytest.mark.parametrize(
    ("extension", "overrides", "error", "words"),
    [
        ("101", {}, ExtensionTaken, "already assigned to alex@contoso.example"),
        ("999", {}, ExtensionUnknown, "does not exist on PBX"),
        ("106", {"pbx_location": "Nowhere"}, ProvisioningError, "PBX location Nowhere"),
        ("106", {"voice_route": "Mars"}, ProvisioningError, "Voice route Mars is not offered"),
        ("106", {"teams_user": "isaiah@contoso.example"}, ProvisioningError, "isaiah@"),
    ],
    ids=["taken", "unknown-extension", "unknown-location", "route-not-offered", "not-a-phone-user"],
)
async def test_a_change_is_checked_like_an_add(world: CttWorld, extension, overrides, error, words):
    with pytest.raises(error) as refused:
        await world.service.change_user(CONTOSO, contoso_user(extension, **overrides))
    assert not refused.value.retryable and words in refused.value.message
    assert world.ctt.calls(CONFIGURE) == []
    assert (await world.service.user_state(CONTOSO, MEGAN)).extension == "100"


async def test_a_change_without_consent_asks_for_the_global_admins_sync(tmp_path: Path):
    world = await make_world(tmp_path, consented=frozenset())
    s = world.service
    try:
        with pytest.raises(PortalStepsRequired) as steps:
            await s.change_user(CONTOSO, contoso_user("106"))
        assert steps.value.retryable and steps.value.url is None
        assert "Sync Teams Users" in steps.value.message and "Contoso" in steps.value.message
        assert (await s.user_state(CONTOSO, MEGAN)).extension == "106"  # saved before saying so
        await s.change_user(CONTOSO, contoso_user("106"))  # the person said it is done
        assert len(world.ctt.calls(CONFIGURE)) == 1
        # A user whose calling is not on yet gets the Microsoft side with the Global Admin's sign-in.
        await s.add_user(CONTOSO, ADELE, PASSWORD)
        await s.change_user(CONTOSO, ADELE.model_copy(update={"phone_number": "6045550105"}))
    finally:
        await world.close()


async def test_a_new_device_password_is_an_edit_with_the_current_values(world: CttWorld):
    s = world.service
    await s.reset_device_password(CONTOSO, MEGAN, NEW_PASSWORD)
    [reset] = world.ctt.calls(CONFIGURE)
    assert reset.body["password"] == reset.body["rePassword"] == NEW_PASSWORD
    assert (reset.body["pbxUserId"], reset.body["pbxAuthUserId"], reset.body["sbcGatewayId"]) == (
        "100@pbx.contoso.example",
        "100t",
        1,
    )
    assert world.ctt.devices["100@pbx.contoso.example"] == NEW_PASSWORD
    state = await s.user_state(CONTOSO, MEGAN)
    assert state.device_password_set and state.calling_enabled and not state.sync_pending
    await s.reset_device_password(CONTOSO, MEGAN, NEW_PASSWORD)  # again: the same edit, harmless
    assert world.ctt.user(CONTOSO, MEGAN).edits == 2


@pytest.mark.parametrize("password", ["short1", "abcdefgh", "12345678", "Abcd-123", "Abcd12345"])
async def test_a_new_device_password_must_be_8_letters_and_digits(world: CttWorld, password: str):
    with pytest.raises(ProvisioningError) as refused:
        await world.service.reset_device_password(CONTOSO, MEGAN, password)
    assert not refused.value.retryable and password not in refused.value.message
    assert world.ctt.calls(CONFIGURE) == []


async def test_where_the_pbx_keeps_the_device_password_the_device_is_deleted_there_first(world: CttWorld):
    s = world.service
    await s.add_user(CONTOSO, ADELE, PASSWORD)  # the platform created device 105t with PASSWORD
    with pytest.raises(PortalStepsRequired) as steps:
        await s.reset_device_password(CONTOSO, ADELE.teams_user, NEW_PASSWORD)
    assert "105t" in steps.value.message and "delete that device in the PBX" in steps.value.message
    assert NEW_PASSWORD not in steps.value.message and PASSWORD not in steps.value.message
    assert world.ctt.devices["105@pbx.contoso.example"] == PASSWORD
    world.ctt.devices.pop("105@pbx.contoso.example")  # the provider deleted it in the PBX
    await s.reset_device_password(CONTOSO, ADELE.teams_user, NEW_PASSWORD)
    assert world.ctt.devices["105@pbx.contoso.example"] == NEW_PASSWORD


async def test_disabling_and_restoring_calling_send_the_documented_bodies(world: CttWorld):
    s = world.service
    await s.disable_calling(CONTOSO, ALEX)
    [disable] = world.ctt.calls(DISABLE)
    documented = {"resellerId": 1000, "tenantId": CONTOSO, "users": [ALEX], "updateAllUsers": False}
    assert disable.body == documented and disable.status == 200
    alex = world.ctt.user(CONTOSO, ALEX)
    assert alex.disabled and not alex.microsoft_side  # the tenant consented: done in Teams too
    state = await s.user_state(CONTOSO, ALEX)
    assert state.provisioned and not state.calling_enabled and not await s.calling_enabled(CONTOSO, ALEX)
    assert (await s.extension(CONTOSO, "PBX", "101")).assigned_to == ALEX  # until deleted
    await s.disable_calling(CONTOSO, ALEX)  # again: nothing to do
    assert len(world.ctt.calls(DISABLE)) == 1

    await s.enable_calling(CONTOSO, ALEX)
    [restore] = world.ctt.calls(RESTORE)
    assert restore.body == documented and restore.status == 200
    assert not alex.disabled and alex.microsoft_side
    assert await s.calling_enabled(CONTOSO, ALEX)
    await s.enable_calling(CONTOSO, ALEX)  # again: nothing to do
    assert len(world.ctt.calls(RESTORE)) == 1 and world.ctt.calls(CONFIGURE) == []


async def test_without_consent_disable_and_restore_ask_for_the_global_admins_sync(tmp_path: Path):
    world = await make_world(tmp_path, consented=frozenset())
    s = world.service
    alex = world.ctt.user(CONTOSO, ALEX)
    try:
        with pytest.raises(PortalStepsRequired) as steps:
            await s.disable_calling(CONTOSO, ALEX)
        assert steps.value.retryable and steps.value.url is None
        assert "Calling is disabled for alex@contoso.example" in steps.value.message
        assert "Dashboard" in steps.value.message and "Sync Teams Users" in steps.value.message
        assert alex.disabled and alex.microsoft_side  # marked only, until the Global Admin syncs
        assert not await s.calling_enabled(CONTOSO, ALEX)
        await s.disable_calling(CONTOSO, ALEX)  # the person said the sync is done
        world.ctt.global_admin_syncs(CONTOSO)
        assert not alex.microsoft_side and len(world.ctt.calls(DISABLE)) == 1

        with pytest.raises(PortalStepsRequired) as steps:
            await s.enable_calling(CONTOSO, ALEX)
        assert "Calling is restored for alex@contoso.example" in steps.value.message
        assert not alex.disabled and not alex.microsoft_side
        await s.enable_calling(CONTOSO, ALEX)  # no Global Admin sign-in asked: it is the sync
        world.ctt.global_admin_syncs(CONTOSO)
        assert alex.microsoft_side and await s.calling_enabled(CONTOSO, ALEX)
        assert len(world.ctt.calls(RESTORE)) == 1 and world.ctt.action_requests == []
    finally:
        await world.close()


async def test_a_refused_disable_leaves_the_user_as_they_were(world: CttWorld):
    world.ctt.inject(DISABLE, Status(503), Status(403, body={"message": "Access is denied"}))
    with pytest.raises(ProvisioningError) as refused:
        await world.service.disable_calling(CONTOSO, ALEX)
    assert not refused.value.retryable
    assert "refused access while disabling calling" in refused.value.message
    assert [c.status for c in world.ctt.calls(DISABLE)] == [503, 403]
    assert await world.service.calling_enabled(CONTOSO, ALEX)
    with pytest.raises(ProvisioningError, match=r"Disable calling for alex@contoso\.example first"):
        await world.service.delete_user(CONTOSO, ALEX)


async def test_a_user_is_deleted_after_calling_is_disabled_and_the_extension_is_free_again(tmp_path: Path):
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}")
    await database.migrate()
    world = await make_world(tmp_path, records=SqlPhoneUserRecords(database))
    s = world.service
    try:
        for done_in_portal in (False, True):
            with pytest.raises(ProvisioningError) as refused:
                await s.delete_user(CONTOSO, ALEX, done_in_portal=done_in_portal)
            assert not refused.value.retryable and "Disable calling for alex@contoso.example first" in str(
                refused.value.message
            )
        await s.disable_calling(CONTOSO, ALEX)
        calls = len(world.ctt.seen)
        with pytest.raises(PortalStepsRequired) as steps:
            await s.delete_user(CONTOSO, ALEX)
        for words in ("Advanced User Search", "Disabled Users", "Delete User", "Extension 101"):
            assert words in steps.value.message
        assert steps.value.url is None and len(world.ctt.seen) == calls  # the API has no call for it
        assert (await s.user_state(CONTOSO, ALEX)).provisioned

        world.ctt.portal_delete(CONTOSO, ALEX)  # what the person did in the portal
        await s.delete_user(CONTOSO, ALEX, done_in_portal=True)
        await s.delete_user(CONTOSO, ALEX, done_in_portal=True)  # again: nothing to do
        assert len(world.ctt.seen) == calls
        assert not (await s.user_state(CONTOSO, ALEX)).provisioned
        assert (await s.extension(CONTOSO, "PBX", "101")).assigned_to is None
        assert "101" in [e.number for e in (await s.form_options(CONTOSO)).free_extensions]
        assert ALEX not in [u.upn for u in (await s.phone_users(CONTOSO, "", 0, 10)).items]
        await s.add_user(
            CONTOSO, ISAIAH.model_copy(update={"extension": "101", "phone_number": "101"}), PASSWORD
        )
        assert (await s.extension(CONTOSO, "PBX", "101")).assigned_to == "isaiah@contoso.example"
        with pytest.raises(ProvisioningError, match=r"alex@contoso\.example is not a phone user"):
            await s.delete_user(CONTOSO, ALEX)
    finally:
        await world.close()
        await database.close()


@pytest.mark.parametrize("action", ["change", "reset", "disable", "enable", "delete"])
async def test_actions_on_someone_who_is_not_a_phone_user(world: CttWorld, action: str):
    s, upn = world.service, ISAIAH.teams_user
    run = {
        "change": lambda: s.change_user(CONTOSO, ISAIAH),
        "reset": lambda: s.reset_device_password(CONTOSO, upn, NEW_PASSWORD),
        "disable": lambda: s.disable_calling(CONTOSO, upn),
        "enable": lambda: s.enable_calling(CONTOSO, upn),
        "delete": lambda: s.delete_user(CONTOSO, upn),
    }[action]
    with pytest.raises(ProvisioningError) as refused:
        await run()
    assert not refused.value.retryable and upn in refused.value.message
    assert world.ctt.seen == []


async def test_the_double_refuses_a_disable_of_no_one_or_of_everyone(world: CttWorld):
    async with aiohttp.ClientSession() as http:
        token = await double_token(world, http)
        for body in (
            {"tenantId": CONTOSO, "users": []},
            {"tenantId": CONTOSO, "users": [ALEX], "updateAllUsers": True},
        ):
            async with http.post(
                f"{world.ctt.url}{DISABLE}", json=body, headers={"Authorization": f"Bearer {token}"}
            ) as r:
                assert r.status == 400
    assert not world.ctt.user(CONTOSO, ALEX).disabled
