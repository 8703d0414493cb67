"""The ConnecttoTeams platform's REST API as a `ProvisioningService` (what a provider runs in production).

What the platform documents is used as documented (issue 4): OAuth password grant at /oauth/token,
getEnterprisesForReseller, getAvailableSBCGatewayRegionsByResellerId, configureUser (the same body is
an edit, so every retry is safe), getActionItemUrl. What it does not list comes from injected sources:
licensed Teams users from Microsoft Graph (`TeamsUserSource`), PBX locations, extensions and caller IDs
from the provider's PBX directory, and what we configured from our own record (`PhoneUserRecords`).
docs/connecttoteams.md says what is assumed where the contract is silent.

Secrets (client secret, API password, bearer tokens, device passwords, a Global Admin's MSAL result)
never reach a log line or an exception message: nothing here logs headers or bodies, and text the
platform writes is scrubbed of the secrets of the call before it is used.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import re
import secrets
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from services.db import utcnow
from services.errors import AdminSignInRequired, ExtensionTaken, NotLicensed, ProvisioningError
from services.models import (
    FREE_EXTENSION_HINT,
    AdminSignInResult,
    Extension,
    FormOptions,
    PhoneUserSpec,
    PhoneUserState,
    TeamsUser,
    Tenant,
    VoiceRoute,
)
from services.outbound_http import Authorize, Caller, GaveUp, Reply, RetryPolicy, Sleep, redact
from services.passwords import is_valid_device_password
from services.provisioning.ctt_records import ExtensionHeld, PhoneUserRecord, PhoneUserRecords
from services.provisioning.partners import Partners
from services.provisioning.pbx_directory import PbxDirectory, PbxLocation
from services.ttl_cache import TtlCache

log = logging.getLogger(__name__)

LOGIN_ENTERPRISE_ADMIN = "LOGIN_ENTERPRISE_ADMIN"
FIRST_USERS_SHOWN = 50  # the form lists this many; larger tenants search (models.TYPEAHEAD_THRESHOLD)


class ConnectToTeamsConfig(BaseModel):
    """Everything the client needs; built from settings (CTT_* variables, see docs/connecttoteams.md)."""

    model_config = ConfigDict(frozen=True)

    base_url: str
    client_id: str
    client_secret: SecretStr
    api_username: str
    api_password: SecretStr
    # Empty: discovered once from PUT /reseller/getAuthenticatedUser.
    reseller_id: str | None = None

    request_timeout_seconds: float = Field(default=15.0, gt=0)
    connect_timeout_seconds: float = Field(default=5.0, gt=0)
    max_attempts: int = Field(default=4, ge=1, le=10)
    backoff_base_seconds: float = Field(default=0.5, ge=0)
    backoff_max_seconds: float = Field(default=8.0, ge=0)
    retry_after_max_seconds: float = Field(default=30.0, ge=0)
    ping_timeout_seconds: float = Field(default=5.0, gt=0)
    token_margin_seconds: float = Field(default=60.0, ge=0)
    cache_ttl_seconds: float = Field(default=60.0, ge=0)
    max_connections: int = Field(default=20, ge=1)

    # Tenants whose Global Admin granted "Allow Management by Service Provider" (the API documents
    # no way to read this): calling is enabled with the reseller token alone there.
    consented_tenant_ids: frozenset[str] = frozenset()
    # The bot's public endpoint that receives the platform's result of a Global Admin sign-in.
    admin_callback_url: str | None = None
    sign_in_ttl_seconds: float = Field(default=3600.0, gt=0)

    call_policy_cnam: str = "TRANSPARENT"
    call_policy_name: str = "Global"
    forwarded_calls_caller_id: str = "USER_CALLER_ID"

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            attempts=self.max_attempts,
            backoff_base_seconds=self.backoff_base_seconds,
            backoff_max_seconds=self.backoff_max_seconds,
            retry_after_max_seconds=self.retry_after_max_seconds,
            timeout_seconds=self.request_timeout_seconds,
            connect_timeout_seconds=self.connect_timeout_seconds,
        )

    @property
    def ping_policy(self) -> RetryPolicy:
        return RetryPolicy(
            attempts=1,
            timeout_seconds=self.ping_timeout_seconds,
            connect_timeout_seconds=min(self.connect_timeout_seconds, self.ping_timeout_seconds),
        )


class GlobalAdminSignInRequired(AdminSignInRequired):
    """The platform's form of AdminSignInRequired: `action_url` comes from getActionItemUrl
    (LOGIN_ENTERPRISE_ADMIN) and the callback carries `state`; then `complete_admin_sign_in`.
    Retryable: asking again gives a fresh link, or finds consent granted in the meantime.
    """


class TeamsUserSource(Protocol):
    """Licensed Teams users of a tenant (services.graph.GraphClient in production)."""

    async def licensed_users(self, tenant_id: str) -> list[TeamsUser]: ...

    async def user(self, tenant_id: str, upn: str) -> TeamsUser | None: ...


class Enterprise(BaseModel):
    """One enterprise as getEnterprisesForReseller lists it (fields read defensively)."""

    model_config = ConfigDict(frozen=True)

    enterprise_id: str
    name: str
    tenant_id: str
    reseller_id: str
    sbc_gateway_ids: frozenset[int] | None = None


class _Token:
    """The platform's bearer token: fetched once per expiry, whatever the concurrency."""

    def __init__(self, fetch: Callable[[], Any], clock: Callable[[], float], margin: float) -> None:
        self._fetch = fetch
        self._clock = clock
        self._margin = margin
        self._value: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    def _valid(self) -> str | None:
        return self._value if self._value and self._clock() < self._expires_at else None

    async def get(self) -> str:
        token = self._valid()
        if token:
            return token
        async with self._lock:
            token = self._valid()
            if token:
                return token
            value, lifetime = await self._fetch()
            self._value = value
            self._expires_at = self._clock() + lifetime - min(self._margin, lifetime / 2)
            return value

    def refused(self, token: str | None) -> None:
        """Forget `token` if it is still the current one (many calls may report the same refusal)."""
        if token is not None and token == self._value:
            self._value = None

    @property
    def current(self) -> str | None:
        return self._value


class ConnectToTeamsProvisioningService:
    """`ProvisioningService` over the platform's API; call `start()` before use and `close()` at the end."""

    def __init__(
        self,
        config: ConnectToTeamsConfig,
        *,
        users: TeamsUserSource,
        pbx: PbxDirectory,
        records: PhoneUserRecords,
        partners: Partners | None = None,
        session: aiohttp.ClientSession | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._config = config
        self._users = users
        self._pbx = pbx
        self._records = records
        self._partners = partners or Partners()
        self._session = session
        self._owns_session = session is None
        self._clock = clock
        self._sleep = sleep
        self._rand = rand
        self._caller: Caller | None = None
        self._token = _Token(self._fetch_token, clock, config.token_margin_seconds)
        self._cache = TtlCache(clock)
        self._reseller: str | None = config.reseller_id or None
        self._extension_locks: dict[tuple[str, str, str], asyncio.Lock] = {}

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._config.max_connections), raise_for_status=False
            )
        self._caller = Caller(
            self._session,
            self._config.retry_policy,
            log,
            sleep=self._sleep,
            rand=self._rand,
            clock=self._clock,
        )

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None
        self._caller = None

    # -- ProvisioningService ---------------------------------------------------------------------

    async def ping(self) -> None:
        """One quick call (no retries), bounded as a whole even when a token must be fetched first."""
        try:
            async with asyncio.timeout(2 * self._config.ping_timeout_seconds):
                reply = await self._call(
                    "PUT",
                    "/reseller/getAuthenticatedUser",
                    json=self._config.api_username,
                    policy=self._config.ping_policy,
                )
        except TimeoutError:
            raise ProvisioningError("The provisioning platform did not answer in time.") from None
        if not reply.ok:
            raise self._refused(reply, "checking the API user")

    async def tenant(self, tenant_id: str) -> Tenant | None:
        partner = self._partners.get(tenant_id)
        if partner is not None:
            return Tenant(tenant_id=partner.tenant_id, name=partner.name)
        enterprise = await self._enterprise(tenant_id)
        return Tenant(tenant_id=enterprise.tenant_id, name=enterprise.name) if enterprise else None

    async def enterprises_of(self, partner_tenant_id: str) -> list[Tenant]:
        partner = self._partners.get(partner_tenant_id)
        if partner is None:
            return []
        if partner.reseller_id:
            found = await self._enterprises(partner.reseller_id)
            if partner.enterprise_tenant_ids:
                found = [e for e in found if e.tenant_id in partner.enterprise_tenant_ids]
        else:
            found = [e for e in await self._all_enterprises() if e.tenant_id in partner.enterprise_tenant_ids]
        unique = {e.tenant_id: Tenant(tenant_id=e.tenant_id, name=e.name) for e in found}
        return sorted(unique.values(), key=lambda t: t.name.casefold())

    async def form_options(self, tenant_id: str) -> FormOptions:
        enterprise = await self._require_enterprise(tenant_id)
        locations, routes, licensed, extensions, assigned = await asyncio.gather(
            self._pbx.locations(tenant_id),
            self._voice_routes(enterprise),
            self._users.licensed_users(tenant_id),
            self._pbx.extensions(tenant_id),
            self._assignments(tenant_id),
        )
        free = [
            Extension(pbx_location=e.pbx_location, number=e.number, caller_id=e.caller_id)
            for e in extensions
            if (e.pbx_location, e.number) not in assigned
        ]
        return FormOptions(
            tenant=Tenant(tenant_id=tenant_id, name=enterprise.name),
            pbx_locations=[loc.name for loc in locations],
            voice_routes=routes,
            licensed_users=licensed[:FIRST_USERS_SHOWN],
            licensed_user_count=len(licensed),
            free_extensions=free[:FREE_EXTENSION_HINT],
        )

    async def search_licensed_users(self, tenant_id: str, query: str, limit: int = 25) -> list[TeamsUser]:
        needle = query.strip().casefold()
        users = await self._users.licensed_users(tenant_id)
        found = [u for u in users if needle in u.upn.casefold() or needle in u.display_name.casefold()]
        return found[: max(0, limit)]

    async def teams_user(self, tenant_id: str, upn: str) -> TeamsUser | None:
        return await self._users.user(tenant_id, upn)

    async def extension(self, tenant_id: str, pbx_location: str, number: str) -> Extension | None:
        ext = await self._pbx.extension(tenant_id, pbx_location, number)
        if ext is None:
            return None
        assigned = await self._assignments(tenant_id)
        return Extension(
            pbx_location=ext.pbx_location,
            number=ext.number,
            caller_id=ext.caller_id,
            assigned_to=assigned.get((ext.pbx_location, ext.number)),
        )

    async def add_user(self, tenant_id: str, spec: PhoneUserSpec, device_password: str) -> None:
        if not is_valid_device_password(device_password):
            raise ProvisioningError("The device password must be 8 letters and digits.", retryable=False)
        enterprise = await self._require_enterprise(tenant_id)
        location = await self._location(tenant_id, spec.pbx_location)
        route = next((r for r in await self._voice_routes(enterprise) if r.name == spec.voice_route), None)
        if route is None:
            raise ProvisioningError(
                f"Voice route {spec.voice_route} is not offered to {enterprise.name}.", retryable=False
            )
        user = await self._users.user(tenant_id, spec.teams_user)
        if user is None or not user.licensed:
            raise NotLicensed(spec.teams_user)
        existing = await self._records.get(tenant_id, user.upn)
        if existing is not None and (existing.extension, existing.pbx_location) != (
            spec.extension,
            spec.pbx_location,
        ):
            raise ProvisioningError(
                f"{user.upn} is already a phone user with extension {existing.extension}.", retryable=False
            )
        if await self._pbx.extension(tenant_id, spec.pbx_location, spec.extension) is None:
            raise ProvisioningError(
                f"Extension {spec.extension} does not exist on {spec.pbx_location}.", retryable=False
            )
        key = (tenant_id, spec.pbx_location, spec.extension)
        async with self._extension_locks.setdefault(key, asyncio.Lock()):
            holder = (await self._assignments(tenant_id)).get((spec.pbx_location, spec.extension))
            if holder is not None and holder.casefold() != user.upn.casefold():
                raise ExtensionTaken(spec.extension, holder)
            record = PhoneUserRecord(
                tenant_id=tenant_id,
                upn=user.upn,
                pbx_location=spec.pbx_location,
                extension=spec.extension,
                voice_route=route.name,
                sbc_gateway_id=route.route_id,
                phone_number=spec.phone_number,
                voicemail_disabled=spec.disable_voicemail,
                default_dial_plan=spec.default_dial_plan,
                sip_auth_id=spec.sip_auth_id,
                device_password_set=True,
                # A changed user needs the Microsoft side again; calling stays as it was.
                synced=False,
                calling_enabled=bool(existing and existing.calling_enabled),
            )
            try:
                await self._configure(record, location, device_password=device_password)
            except _Forbidden as forbidden:
                raise forbidden.error from None
            try:
                await self._records.save(record)
            except ExtensionHeld as held:
                log.error(
                    "platform accepted %s on extension %s, but our record has %s there",
                    user.upn,
                    spec.extension,
                    held.holder,
                )
                raise ExtensionTaken(spec.extension, held.holder) from None
        log.info(
            "configured %s on extension %s at %s (tenant %s)",
            user.upn,
            spec.extension,
            location.name,
            tenant_id,
        )

    async def sync_required(self, tenant_id: str) -> bool:
        return any(not r.synced for r in await self._records.for_tenant(tenant_id))

    async def sync_users(self, tenant_id: str) -> None:
        """Records the sync step for every user added since the last one; makes no platform call.

        The contract documents no separate sync call: the Microsoft-side work (the user synced to
        Teams, calling enabled) is what configureUser does with the Global Admin's authentication
        result or, for a consenting tenant, the reseller token. That call is made per user in
        `enable_calling`, which the workflow reaches only after a partner's request was approved;
        a tenant-wide call here would also enable users whose requests still wait for approval.
        """
        await self._require_enterprise(tenant_id)
        for record in await self._records.for_tenant(tenant_id):
            if not record.synced:
                await self._records.mark(tenant_id, record.upn, synced=True)

    async def calling_enabled(self, tenant_id: str, upn: str) -> bool:
        record = await self._records.get(tenant_id, upn)
        return bool(record and record.calling_enabled)

    async def enable_calling(self, tenant_id: str, upn: str) -> None:
        """configureUser again (an edit of the same values, no password) to do the Microsoft side.

        With service-provider consent the reseller token is enough; without it the tenant's Global
        Admin must sign in first (GlobalAdminSignInRequired; then `complete_admin_sign_in`). The
        platform finishes asynchronously and has no status endpoint: "enabled" means accepted.
        """
        record = await self._records.get(tenant_id, upn)
        if record is None:
            raise ProvisioningError(f"{upn} is not a phone user yet.", retryable=False)
        if not record.synced:
            raise ProvisioningError("Teams users must be synced before calling can be enabled.")
        enterprise = await self._require_enterprise(tenant_id)
        if not self._consented(enterprise):
            raise await self._sign_in_required(enterprise, [record.upn])
        await self._configure_microsoft_side(enterprise, record)
        await self._records.mark(tenant_id, record.upn, calling_enabled=True)

    async def user_state(self, tenant_id: str, upn: str) -> PhoneUserState | None:
        user = await self._users.user(tenant_id, upn)
        if user is None:
            return None
        record = await self._records.get(tenant_id, user.upn)
        if record is None:
            return PhoneUserState(
                upn=user.upn, licensed=user.licensed, provisioned=False, calling_enabled=False
            )
        return PhoneUserState(
            upn=user.upn,
            licensed=user.licensed,
            provisioned=True,
            calling_enabled=record.calling_enabled,
            pbx_location=record.pbx_location,
            voice_route=record.voice_route,
            extension=record.extension,
            phone_number=record.phone_number,
            voicemail_disabled=record.voicemail_disabled,
            default_dial_plan=record.default_dial_plan,
            sip_auth_id=record.sip_auth_id,
            device_password_set=record.device_password_set,
        )

    # -- the Global Admin step -------------------------------------------------------------------

    async def complete_admin_sign_in(
        self, tenant_id: str, result: AdminSignInResult, upns: Iterable[str]
    ) -> list[str]:
        """configureUser with the GA's authentication result for `upns` (the users the sign-in was
        asked for, as GlobalAdminSignInRequired.upns said), and only those: another user of the
        tenant may still be waiting for its own approval.

        The caller (the bot's callback) has already matched `result.state` to a pending request.
        Returns the UPNs now synced with calling enabled.
        """
        if result.tenant_id and result.tenant_id.lower() != tenant_id.lower():
            raise ProvisioningError(
                "That sign-in was for another Microsoft 365 tenant; sign in with a Global Admin of this one.",
                retryable=False,
            )
        enterprise = await self._require_enterprise(tenant_id)
        done = []
        for upn in dict.fromkeys(upns):
            record = await self._records.get(tenant_id, upn)
            if record is None:
                log.warning("Global Admin sign-in for %s, who is not a phone user we added", upn)
                continue
            if not record.calling_enabled:
                await self._configure_microsoft_side(enterprise, record, result.authentication_result)
                await self._records.mark(tenant_id, record.upn, synced=True, calling_enabled=True)
            done.append(record.upn)
        log.info("Global Admin sign-in completed %d user(s) in tenant %s", len(done), tenant_id)
        return done

    async def _sign_in_required(self, enterprise: Enterprise, upns: list[str]) -> GlobalAdminSignInRequired:
        if not self._config.admin_callback_url:
            raise ProvisioningError(
                f"A Global Admin of {enterprise.name} must sign in to finish, but the bot has no callback "
                "address for the sign-in (CTT_CALLBACK_URL); ask the provider to set it, then try again.",
                retryable=True,  # "Try again" works once the setting is there
            )
        state = secrets.token_urlsafe(32)
        body = {
            "actionType": LOGIN_ENTERPRISE_ADMIN,
            "enterpriseId": _platform_id(enterprise.enterprise_id),
            "callbackUrl": _with_query(self._config.admin_callback_url, state=state),
        }
        reply = await self._call("POST", "/enterprise/getActionItemUrl", json=body)
        if not reply.ok:
            raise self._refused(reply, "asking for the Global Admin sign-in link")
        url = parse_action_url(reply)
        if url is None:
            log.error("getActionItemUrl answered without a usable URL (HTTP %d)", reply.status)
            raise ProvisioningError("The provisioning platform did not give a sign-in link; try again.")
        expires_at = utcnow() + timedelta(seconds=self._config.sign_in_ttl_seconds)
        return GlobalAdminSignInRequired(enterprise.tenant_id, enterprise.name, url, state, expires_at, upns)

    def _consented(self, enterprise: Enterprise) -> bool:
        return enterprise.tenant_id in self._config.consented_tenant_ids

    # -- configureUser ---------------------------------------------------------------------------

    async def _configure_microsoft_side(
        self,
        enterprise: Enterprise,
        record: PhoneUserRecord,
        authentication_result: dict[str, Any] | None = None,
    ) -> None:
        location = await self._location(record.tenant_id, record.pbx_location)
        try:
            await self._configure(record, location, authentication_result=authentication_result)
        except _Forbidden:
            if authentication_result is not None:
                raise ProvisioningError(
                    "The provisioning platform did not accept the Global Admin's sign-in; sign in again.",
                    retryable=False,
                ) from None
            # Consent we believed in was refused (revoked, or never granted): fall back to the GA.
            log.warning("tenant %s refused management by the service provider", enterprise.tenant_id)
            raise await self._sign_in_required(enterprise, [record.upn]) from None

    async def _configure(
        self,
        record: PhoneUserRecord,
        location: PbxLocation,
        *,
        device_password: str | None = None,
        authentication_result: dict[str, Any] | None = None,
    ) -> None:
        body = self.configure_user_body(record, location, device_password, authentication_result)
        reply = await self._call(
            "POST",
            "/enterprise/configureUser",
            json=body,
            secrets=[device_password, *_strings_in(authentication_result)],
        )
        if reply.ok:
            return
        if reply.status == 403:
            raise _Forbidden(self._refused(reply, "configuring the user"))
        raise self._configure_refused(reply, record, [device_password, *_strings_in(authentication_result)])

    def configure_user_body(
        self,
        record: PhoneUserRecord,
        location: PbxLocation,
        device_password: str | None = None,
        authentication_result: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The documented body. Without a password (a later edit) the device keeps the one it has."""
        body: dict[str, Any] = {
            "loginID": self._config.api_username,
            "pbxLocation": location.platform_location,
            "pbxUserId": f"{record.extension}@{location.domain}",
            "sbcGatewayId": record.sbc_gateway_id,
            "teamsUserId": record.upn,
            "tenantId": record.tenant_id,
            "phoneNumber": record.phone_number,
            "useTeamsVoicemail": not record.voicemail_disabled,
            "useEnterpriseDialPlan": record.default_dial_plan,
            "pbxAuthUserId": record.sip_auth_id,
            "pbxCallPolicyInfo": {
                "callPolicyCNAM": self._config.call_policy_cnam,
                "callPolicyName": self._config.call_policy_name,
                "forwardedCallsCallerId": self._config.forwarded_calls_caller_id,
            },
        }
        if device_password is not None:
            body["password"] = device_password
            body["rePassword"] = device_password
        if authentication_result is not None:
            body["authenticationResult"] = authentication_result
        return body

    def _configure_refused(
        self, reply: Reply, record: PhoneUserRecord, call_secrets: list[str | None]
    ) -> Exception:
        message = self._platform_message(reply, call_secrets)
        low = message.casefold()
        if reply.status in (400, 409, 422):
            if "password" in low:
                return ProvisioningError(
                    f"The PBX device of extension {record.extension} already exists with another password; "
                    "the provider must reset it before this user can be added.",
                    retryable=False,
                )
            if re.search(r"licen[cs]", low):
                return NotLicensed(record.upn)
            if re.search(r"already|in use|taken|exists|assigned|duplicate", low):
                return ExtensionTaken(record.extension, _holder(message, record) or "another user")
        return self._refused(reply, "configuring the user", call_secrets, message)

    # -- enterprises, routes, PBX ----------------------------------------------------------------

    async def _require_enterprise(self, tenant_id: str) -> Enterprise:
        enterprise = await self._enterprise(tenant_id)
        if enterprise is None:
            raise ProvisioningError(f"Tenant {tenant_id} is not set up at the provisioning service.")
        return enterprise

    async def _enterprise(self, tenant_id: str) -> Enterprise | None:
        wanted = tenant_id.lower()
        return next((e for e in await self._all_enterprises() if e.tenant_id.lower() == wanted), None)

    async def _all_enterprises(self) -> list[Enterprise]:
        resellers = [await self._reseller_id()]
        resellers += [
            p.reseller_id for p in self._partners if p.reseller_id and p.reseller_id not in resellers
        ]
        lists = await asyncio.gather(*(self._enterprises(r) for r in resellers))
        seen: dict[str, Enterprise] = {}
        for enterprises in lists:
            for e in enterprises:
                seen.setdefault(e.tenant_id.lower(), e)
        return list(seen.values())

    async def _enterprises(self, reseller_id: str) -> list[Enterprise]:
        async def load() -> list[Enterprise]:
            items: list[Any] = []
            page = 0
            while True:
                params = {"resellerId": reseller_id}
                if page:
                    params["page"] = str(page)
                reply = await self._call("GET", "/reseller/v3/getEnterprisesForReseller", params=params)
                if not reply.ok:
                    raise self._refused(reply, "listing enterprises")
                found, total_pages = _list_in(reply.json())
                items += found
                page += 1
                if page >= total_pages:
                    break
            enterprises = [e for e in (_enterprise(raw, reseller_id) for raw in items) if e is not None]
            if items and not enterprises:
                log.warning(
                    "getEnterprisesForReseller listed %d item(s) but none with a tenant id", len(items)
                )
            return enterprises

        return await self._cache.get(("enterprises", reseller_id), self._config.cache_ttl_seconds, load)

    async def _voice_routes(self, enterprise: Enterprise) -> list[VoiceRoute]:
        async def load() -> list[VoiceRoute]:
            path = f"/reseller/getAvailableSBCGatewayRegionsByResellerId/{enterprise.reseller_id}"
            reply = await self._call("GET", path)
            if not reply.ok:
                raise self._refused(reply, "listing voice routes")
            found, _ = _list_in(reply.json())
            routes = []
            for raw in found:
                if not isinstance(raw, dict):
                    continue
                gateway = _int(raw.get("sbcGatewayId"))
                region = raw.get("sbcGatewayRegion")
                if gateway and gateway > 0 and isinstance(region, str) and region.strip():
                    routes.append(VoiceRoute(route_id=gateway, name=region.strip()))
            return routes

        routes = await self._cache.get(
            ("routes", enterprise.reseller_id), self._config.cache_ttl_seconds, load
        )
        if enterprise.sbc_gateway_ids is not None:
            routes = [r for r in routes if r.route_id in enterprise.sbc_gateway_ids]
        return sorted(routes, key=lambda r: r.name.casefold())

    async def _location(self, tenant_id: str, name: str) -> PbxLocation:
        location = next((loc for loc in await self._pbx.locations(tenant_id) if loc.name == name), None)
        if location is None:
            raise ProvisioningError(f"PBX location {name} does not exist.", retryable=False)
        return location

    async def _assignments(self, tenant_id: str) -> dict[tuple[str, str], str]:
        """(location, extension) -> UPN: the provider's file first, our own record of adds over it."""
        assigned = {
            (e.pbx_location, e.number): e.assigned_to
            for e in await self._pbx.extensions(tenant_id)
            if e.assigned_to
        }
        for record in await self._records.for_tenant(tenant_id):
            assigned[(record.pbx_location, record.extension)] = record.upn
        return assigned

    async def _reseller_id(self) -> str:
        if self._reseller:
            return self._reseller
        reply = await self._call("PUT", "/reseller/getAuthenticatedUser", json=self._config.api_username)
        if not reply.ok:
            raise self._refused(reply, "finding our reseller id")
        data = reply.json()
        reseller = _int(data.get("resellerId")) if isinstance(data, dict) else None
        if not reseller:
            raise ProvisioningError(
                "The provisioning platform did not tell our reseller id; the provider must set CTT_RESELLER_ID.",
                retryable=False,
            )
        self._reseller = str(reseller)
        log.info("reseller id %s discovered from the API user", self._reseller)
        return self._reseller

    # -- HTTP ------------------------------------------------------------------------------------

    def _authorizer(self) -> Authorize:
        used: str | None = None

        async def authorize(refresh: bool) -> dict[str, str]:
            nonlocal used
            if refresh:
                self._token.refused(used)
                return {}
            used = await self._token.get()
            return {"Authorization": f"Bearer {used}"}

        return authorize

    async def _call(
        self,
        method: str,
        path: str,
        *,
        secrets: Iterable[str | None] = (),
        policy: RetryPolicy | None = None,
        **kwargs: Any,
    ) -> Reply:
        if self._caller is None:
            raise RuntimeError("ConnectToTeamsProvisioningService.start() was not called")
        try:
            return await self._caller.call(
                method,
                self._url(path),
                what=path,
                authorize=self._authorizer(),
                headers={"Accept": "application/json"},
                policy=policy,
                **kwargs,
            )
        except GaveUp as exc:
            raise _unavailable(exc) from None

    async def _fetch_token(self) -> tuple[str, float]:
        assert self._caller is not None
        try:
            reply = await self._caller.call(
                "POST",
                self._url("/oauth/token"),
                what="/oauth/token",
                data={
                    "username": self._config.api_username,
                    "password": self._config.api_password.get_secret_value(),
                    "grant_type": "password",
                },
                headers={"Accept": "application/json", "Authorization": self._basic_auth()},
            )
        except GaveUp as exc:
            raise _unavailable(exc) from None
        data = reply.json()
        token = data.get("access_token") if isinstance(data, dict) else None
        if not reply.ok or not isinstance(token, str) or not token:
            code = data.get("error") if isinstance(data, dict) else None
            log.error(
                "the platform refused our API credentials: HTTP %d %s",
                reply.status,
                str(code)[:60] if code else "(no error code)",
            )
            raise ProvisioningError(
                "The bot could not sign in to the provisioning platform; the provider must check its API "
                "credentials (CTT_CLIENT_ID, CTT_CLIENT_SECRET, CTT_API_USERNAME, CTT_API_PASSWORD).",
                retryable=reply.status >= 500,
            )
        lifetime = _float(data.get("expires_in")) or 300.0
        log.debug("platform token fetched, valid for %.0f s", lifetime)
        return token, lifetime

    def _basic_auth(self) -> str:
        pair = f"{self._config.client_id}:{self._config.client_secret.get_secret_value()}"
        return "Basic " + base64.b64encode(pair.encode()).decode("ascii")

    def _url(self, path: str) -> str:
        return self._config.base_url.rstrip("/") + path

    def _secrets(self, extra: Iterable[str | None] = ()) -> list[str | None]:
        return [
            self._config.client_secret.get_secret_value(),
            self._config.api_password.get_secret_value(),
            self._token.current,
            *extra,
        ]

    def _platform_message(self, reply: Reply, extra: Iterable[str | None] = ()) -> str:
        return redact(platform_message(reply), self._secrets(extra))

    def _refused(
        self, reply: Reply, doing: str, extra: Iterable[str | None] = (), message: str | None = None
    ) -> ProvisioningError:
        message = message if message is not None else self._platform_message(reply, extra)
        log.warning("platform refused %s: HTTP %d %s", doing, reply.status, message)
        if reply.status == 401:
            return ProvisioningError(
                "The provisioning platform did not accept the bot's credentials; the provider must check them.",
                retryable=False,
            )
        if reply.status == 403:
            return ProvisioningError(
                f"The provisioning platform refused access while {doing}; the provider must check the API "
                "user's rights for this enterprise.",
                retryable=False,
            )
        if reply.status == 404:
            return ProvisioningError(
                f"The provisioning platform does not know what we asked for while {doing}.", retryable=False
            )
        detail = f": {message}" if message else f" (HTTP {reply.status})"
        return ProvisioningError(f"The provisioning platform refused {doing}{detail}", retryable=False)


class _Forbidden(Exception):
    def __init__(self, error: ProvisioningError) -> None:
        super().__init__(error.message)
        self.error = error


def _unavailable(exc: GaveUp) -> ProvisioningError:
    if exc.retry_after is not None and exc.status == 429:
        return ProvisioningError(
            f"The provisioning platform is busy and asked us to wait {exc.retry_after:.0f} s; "
            "nothing was lost, try again in a few minutes.",
            retryable=True,
        )
    return ProvisioningError(
        f"The provisioning platform is not answering right now ({exc.reason}); nothing was lost, "
        "try again in a few minutes.",
        retryable=True,
    )


# -- reading what the platform sends (formats not documented: defensive) ------------------------

_MESSAGE_KEYS = ("message", "errorMessage", "error_description", "detail", "description", "title")
_LIST_KEYS = ("content", "enterprises", "items", "data", "results", "result")


def platform_message(reply: Reply, limit: int = 300) -> str:
    """A one-line message from an error body in any of the usual shapes (Spring, OAuth, plain text)."""
    data = reply.json()
    parts: list[str] = []
    if isinstance(data, dict):
        parts += [data[k] for k in _MESSAGE_KEYS if isinstance(data.get(k), str) and data[k].strip()]
        errors = data.get("errors") or data.get("fieldErrors") or data.get("violations")
        if isinstance(errors, dict):
            parts += [f"{k}: {v}" for k, v in errors.items() if isinstance(v, str | int)]
        elif isinstance(errors, list):
            for item in errors:
                if isinstance(item, str):
                    parts.append(item)
                elif isinstance(item, dict):
                    text = item.get("defaultMessage") or item.get("message") or item.get("description")
                    field = item.get("field") or item.get("propertyPath")
                    if isinstance(text, str):
                        parts.append(f"{field}: {text}" if isinstance(field, str) else text)
        if not parts and isinstance(data.get("error"), str):
            parts.append(data["error"])
    elif isinstance(data, str):
        parts.append(data)
    elif isinstance(data, list):
        parts += [x for x in data if isinstance(x, str)]
    elif data is None and reply.body.strip() and not reply.text.lstrip().startswith("<"):
        parts.append(reply.text)
    unique = list(dict.fromkeys(_one_line(p) for p in parts if p))
    text = "; ".join(p for p in unique if p)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_action_url(reply: Reply) -> str | None:
    """getActionItemUrl's URL, whether sent as a JSON string, an object, or plain text."""
    data = reply.json()
    candidates: list[Any] = []
    if isinstance(data, str):
        candidates.append(data)
    elif isinstance(data, dict):
        candidates += [data.get(k) for k in ("url", "actionItemUrl", "actionUrl", "link", "redirectUrl")]
    elif data is None:
        candidates.append(reply.text.strip())
    for value in candidates:
        if isinstance(value, str) and urlsplit(value.strip()).scheme in ("https", "http"):
            if urlsplit(value.strip()).netloc:
                return value.strip()
    return None


def parse_admin_callback(query: Mapping[str, str], body: Any) -> AdminSignInResult:
    """The platform's callback after a Global Admin sign-in, read defensively.

    Accepts the MSAL result as `authenticationResult` (once or twice nested, as configureUser takes
    it), `msalAuthenticationResult`, `msalAuthentication`, or the bare result. Raises
    ProvisioningError when no access token is found.
    """
    state = query.get("state") or (body.get("state") if isinstance(body, dict) else None)
    inner = _find_inner_result(body)
    if inner is None:
        raise ProvisioningError(
            "The Global Admin sign-in result could not be read; sign in again.", retryable=False
        )
    user_info = inner.get("userInfo") if isinstance(inner.get("userInfo"), dict) else {}
    tenant_id = user_info.get("tenantId") or inner.get("tenantId")
    admin = user_info.get("displayableId")
    return AdminSignInResult(
        state=state if isinstance(state, str) and state else None,
        tenant_id=tenant_id if isinstance(tenant_id, str) and tenant_id else None,
        admin=admin if isinstance(admin, str) and admin else None,
        authentication_result={"authenticationResult": inner},
    )


def _find_inner_result(body: Any, depth: int = 0) -> dict[str, Any] | None:
    if not isinstance(body, dict) or depth > 4:
        return None
    if isinstance(body.get("accessToken"), str) and body["accessToken"]:
        return body
    for key in ("authenticationResult", "msalAuthenticationResult", "msalAuthentication", "result", "data"):
        found = _find_inner_result(body.get(key), depth + 1)
        if found is not None:
            return found
    return None


def _list_in(data: Any) -> tuple[list[Any], int]:
    """The items of a list answer (bare list, or a page object) and how many pages there are."""
    if isinstance(data, list):
        return data, 1
    if isinstance(data, dict):
        for key in _LIST_KEYS:
            if isinstance(data.get(key), list):
                total = _int(data.get("totalPages")) or 1
                return data[key], max(1, min(total, 100))
    return [], 1


def _enterprise(raw: Any, listed_under: str) -> Enterprise | None:
    if not isinstance(raw, dict):
        return None
    tenant_id = _first_str(raw, ("tenantId", "tenantID", "msTenantId", "o365TenantId", "azureTenantId"))
    enterprise_id = _first_str(raw, ("enterpriseId", "id"))
    if not tenant_id or not enterprise_id:
        return None
    name = _first_str(raw, ("enterpriseName", "name", "companyName")) or tenant_id
    reseller = _first_str(raw, ("resellerId",)) or listed_under
    gateways = raw.get("sbcGateways")
    gateway_ids: frozenset[int] | None = None
    if isinstance(gateways, list) and gateways:
        ids = [_int(g.get("sbcGatewayId") if isinstance(g, dict) else g) for g in gateways]
        gateway_ids = frozenset(i for i in ids if i)
    return Enterprise(
        enterprise_id=enterprise_id,
        name=name,
        tenant_id=tenant_id,
        reseller_id=reseller,
        sbc_gateway_ids=gateway_ids,
    )


def _first_str(raw: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = raw.get(key)
        if isinstance(value, bool):
            continue
        if isinstance(value, int | str) and str(value).strip():
            return str(value).strip()
    return None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _platform_id(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def _with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *params.items()]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _one_line(text: str) -> str:
    cleaned = "".join(" " if unicodedata.category(c) in ("Cc", "Cf") else c for c in str(text))
    return " ".join(cleaned.split())


_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")


def _holder(message: str, record: PhoneUserRecord) -> str | None:
    """The other user a "taken" message names, if it names one (not the SIP user, not ourselves)."""
    for candidate in _EMAIL.findall(message):
        if candidate.casefold() == record.upn.casefold() or candidate.startswith(f"{record.extension}@"):
            continue
        return candidate
    return None


def _strings_in(value: Any) -> list[str]:
    """The long strings inside a (nested) value: the tokens of an MSAL result, to scrub from messages."""
    if isinstance(value, str):
        return [value] if len(value) >= 16 else []
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings_in(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings_in(v)]
    return []
