"""The ConnecttoTeams platform's REST API as a `ProvisioningService` (what a provider runs in production).

What the platform documents is used as documented (issue 4): OAuth password grant at /oauth/token,
getEnterprisesForReseller, getAvailableSBCGatewayRegionsByResellerId, configureUser (the same body is
an edit, so every retry is safe), getActionItemUrl; and for one phone user's actions (issue 16, in
actions.py) disableUsers and restoreUsers. What it does not list comes from injected sources:
licensed Teams users from Microsoft Graph (`TeamsUserSource`), PBX locations, extensions and caller IDs
from the provider's PBX directory, and what we configured from our own record (`PhoneUserRecords`).
docs/connecttoteams.md says what is assumed where the contract is silent.

Secrets (device passwords, a Global Admin's MSAL result) never reach a log line or an exception
message: nothing here logs headers or bodies, and text the platform writes is scrubbed of the secrets
of the call (`PlatformApi.platform_message`) before it is used.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import aiohttp

from i18n import T
from services.add_user_rules import (
    require_device_password,
    require_not_phone_user_elsewhere,
    require_phone_user,
)
from services.errors import ProvisioningError
from services.models import (
    FREE_EXTENSION_HINT,
    AdminSignInResult,
    ConsentState,
    Extension,
    FormOptions,
    PhoneUserPage,
    PhoneUserSpec,
    PhoneUserState,
    TeamsUser,
    Tenant,
)
from services.outbound_http import Reply, Sleep
from services.provisioning.connecttoteams.actions import PhoneUserActions, record_of
from services.provisioning.connecttoteams.admin_sign_in import ask_for_sign_in
from services.provisioning.connecttoteams.api import Doing, Forbidden, PlatformApi
from services.provisioning.connecttoteams.config import ConnectToTeamsConfig, Enterprise, TeamsUserSource
from services.provisioning.connecttoteams.consent import (
    ConsentLink,
    ConsentOutcome,
    GlobalAdminNeeded,
    Tenancy,
)
from services.provisioning.connecttoteams.enterprises import EnterpriseCatalog, who_am_i
from services.provisioning.connecttoteams.listing import list_phone_users
from services.provisioning.connecttoteams.records import PhoneUserRecord, PhoneUserRecords
from services.provisioning.connecttoteams.tenant_state import (
    ConsentKind,
    InMemoryTenantStates,
    TenantState,
    TenantStates,
)
from services.provisioning.connecttoteams.wire import configure_refusal, configure_user_body, strings_in
from services.provisioning.partners import Partners
from services.provisioning.pbx_directory import PbxDirectory, PbxLocation
from services.provisioning.search import Search

# The package's name, as the single module had: log filters written for this backend keep matching.
log = logging.getLogger(__package__)

FIRST_USERS_SHOWN = 50  # the form lists this many; larger tenants search (models.TYPEAHEAD_THRESHOLD)


class ConnectToTeamsProvisioningService(PhoneUserActions):
    """`ProvisioningService` over the platform's API; call `start()` before use and `close()` at the end.
    One phone user's actions (change, device password, disable, delete) are in PhoneUserActions."""

    def __init__(
        self,
        config: ConnectToTeamsConfig,
        *,
        users: TeamsUserSource,
        pbx: PbxDirectory,
        records: PhoneUserRecords,
        partners: Partners | None = None,
        tenant_states: TenantStates | None = None,
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
        self._api = PlatformApi(config, session=session, clock=clock, sleep=sleep, rand=rand)
        self._catalog = EnterpriseCatalog(self._api, config, self._partners, clock)
        # Consent and first sync per tenant (consent.py); in memory unless the app gives the table.
        states = tenant_states if tenant_states is not None else InMemoryTenantStates()
        self._tenancy = Tenancy(self._api, config, states, records, pbx, self._catalog)
        self._extension_locks: dict[tuple[str, str, str], asyncio.Lock] = {}

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        await self._api.start()

    async def close(self) -> None:
        await self._api.close()

    # -- ProvisioningService ---------------------------------------------------------------------

    async def ping(self) -> None:
        """One quick call (no retries), bounded as a whole even when a token must be fetched first."""
        try:
            async with asyncio.timeout(2 * self._config.ping_timeout_seconds):
                reply = await who_am_i(self._api, self._config.api_username, self._config.ping_policy)
        except TimeoutError:
            raise ProvisioningError(T("The provisioning platform did not answer in time.")) from None
        if not reply.ok:
            raise self._api.refused(reply, Doing.checking_api_user)

    async def tenant(self, tenant_id: str) -> Tenant | None:
        partner = self._partners.get(tenant_id)
        if partner is not None:
            return Tenant(tenant_id=partner.tenant_id, name=partner.name)
        enterprise = await self._catalog.find(tenant_id)
        return Tenant(tenant_id=enterprise.tenant_id, name=enterprise.name) if enterprise else None

    async def enterprises_of(self, partner_tenant_id: str) -> list[Tenant]:
        partner = self._partners.get(partner_tenant_id)
        if partner is None:
            return []
        if partner.reseller_id:
            found = await self._catalog.of_reseller(partner.reseller_id)
            if partner.enterprise_tenant_ids:
                found = [e for e in found if e.tenant_id in partner.enterprise_tenant_ids]
        else:
            found = [e for e in await self._catalog.listed() if e.tenant_id in partner.enterprise_tenant_ids]
        unique = {e.tenant_id: Tenant(tenant_id=e.tenant_id, name=e.name) for e in found}
        return sorted(unique.values(), key=lambda t: t.name.casefold())

    async def form_options(self, tenant_id: str) -> FormOptions:
        enterprise = await self._catalog.require(tenant_id)
        locations, routes, licensed, extensions, assigned = await asyncio.gather(
            self._pbx.locations(tenant_id),
            self._catalog.voice_routes(enterprise),
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
            licensed_users=await self._marked(tenant_id, licensed[:FIRST_USERS_SHOWN]),
            licensed_user_count=len(licensed),
            free_extensions=free[:FREE_EXTENSION_HINT],
        )

    async def search_licensed_users(self, tenant_id: str, query: str, limit: int = 25) -> list[TeamsUser]:
        search = Search.of(query)
        users = await self._users.licensed_users(tenant_id)
        found = [u for u in users if search.person(u.display_name, u.upn)]
        return await self._marked(tenant_id, found[: max(0, limit)])

    async def _marked(self, tenant_id: str, users: list[TeamsUser]) -> list[TeamsUser]:
        """`users`, each marked with their extension when our record has them as a phone user."""
        extensions = {r.upn.casefold(): r.extension for r in await self._records.for_tenant(tenant_id)}
        return [u.model_copy(update={"phone_extension": extensions.get(u.upn.casefold())}) for u in users]

    async def phone_users(self, tenant_id: str, query: str, offset: int, limit: int) -> PhoneUserPage:
        """From our record of the users we configured, with their names from the Teams user source:
        the platform documents no call that lists users (docs/connecttoteams.md)."""
        return await list_phone_users(self._records, self._users, tenant_id, query, offset, limit)

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
        require_device_password(device_password)
        offered = await self._offered(tenant_id, spec)
        existing = await self._records.get(tenant_id, offered.user.upn)
        if existing is not None:
            require_not_phone_user_elsewhere(
                offered.user.upn,
                (existing.pbx_location, existing.extension),
                (spec.pbx_location, spec.extension),
            )
        await self._require_extension(tenant_id, spec)
        record = record_of(tenant_id, offered.user.upn, spec, offered.route, existing)
        await self._claim(record, offered.location, device_password)
        log.info(
            "configured %s on extension %s at %s (tenant %s)",
            record.upn,
            spec.extension,
            offered.location.name,
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
        await self._catalog.require(tenant_id)
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
        A user whose calling was disabled is restored instead (restoreUsers); one whose calling is
        on already is left as is, so running the step again calls nothing.
        """
        record = await self._records.get(tenant_id, upn)
        require_phone_user(record is not None, upn)
        assert record is not None
        if record.disabled:
            return await self._restore_calling(record)
        if record.calling_enabled:
            return
        if not record.synced:
            raise ProvisioningError(T("Teams users must be synced before calling can be enabled."))
        enterprise = await self._catalog.require(tenant_id)
        why = await self._global_admin_needed(enterprise)
        if why is not None:
            first_sync = why is GlobalAdminNeeded.first_sync
            raise await ask_for_sign_in(
                self._api, self._config, enterprise, [record.upn], first_sync=first_sync
            )
        await self._configure_microsoft_side(enterprise, record)
        await self._records.mark(tenant_id, record.upn, calling_enabled=True)

    async def user_state(self, tenant_id: str, upn: str) -> PhoneUserState | None:
        user = await self._users.user(tenant_id, upn)
        if user is None:
            return None
        record = await self._records.get(tenant_id, user.upn)
        if record is None:
            return PhoneUserState(
                upn=user.upn,
                display_name=user.display_name,
                licensed=user.licensed,
                provisioned=False,
                calling_enabled=False,
            )
        return PhoneUserState(
            upn=user.upn,
            display_name=user.display_name,
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
            sync_pending=not record.synced,
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
                T(
                    "That sign-in was for another Microsoft 365 tenant; sign in with a Global Admin of this one."
                ),
                retryable=False,
            )
        enterprise = await self._catalog.require(tenant_id)
        done = []
        for upn in dict.fromkeys(upns):
            record = await self._records.get(tenant_id, upn)
            if record is None:
                log.warning("Global Admin sign-in for %s, who is not a phone user we added", upn)
                continue
            if not record.calling_enabled:
                await self._configure_microsoft_side(enterprise, record, result.authentication_result)
                await self._records.mark(tenant_id, record.upn, synced=True, calling_enabled=True)
                # The platform took the Global Admin's result: the tenant's first sync is done.
                await self._tenancy.note_first_sync(tenant_id)
            done.append(record.upn)
        log.info("Global Admin sign-in completed %d user(s) in tenant %s", len(done), tenant_id)
        return done

    async def _global_admin_needed(self, enterprise: Enterprise) -> GlobalAdminNeeded | None:
        """None when the reseller token may do the Microsoft side (consent, and not the first sync)."""
        return await self._tenancy.global_admin_needed(enterprise.tenant_id)

    # -- consent, asked for through the platform (consent.py) -------------------------------------

    async def ask_for_consent(self, tenant_id: str, kind: ConsentKind) -> ConsentLink:
        """A page where the tenant's Global Admin gives `kind`; the answer comes to the callback."""
        return await self._tenancy.ask_for_consent(tenant_id, kind)

    async def complete_consent(self, query: Mapping[str, str], body: Any) -> ConsentOutcome:
        """The platform's answer to a consent link, kept for the tenant (raises SignInLinkInvalid)."""
        return await self._tenancy.complete_consent(query, body)

    async def tenant_state(self, tenant_id: str) -> TenantState:
        return await self._tenancy.state(tenant_id)

    async def consent_state(self, tenant_id: str) -> ConsentState | None:
        return await self._tenancy.consent_state(tenant_id)

    async def consent_url(self, tenant_id: str, kind: str) -> str:
        try:
            wanted = ConsentKind(kind)
        except ValueError:
            raise ProvisioningError(T("Unknown consent."), retryable=False) from None
        return (await self._tenancy.ask_for_consent(tenant_id, wanted)).url

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
        except Forbidden:
            if authentication_result is not None:
                raise ProvisioningError(
                    T("The provisioning platform did not accept the Global Admin's sign-in; sign in again."),
                    retryable=False,
                ) from None
            # Consent we believed in was refused (revoked, or never granted): fall back to the GA.
            log.warning("tenant %s refused management by the service provider", enterprise.tenant_id)
            await self._tenancy.note_refused(enterprise.tenant_id)
            raise await ask_for_sign_in(self._api, self._config, enterprise, [record.upn]) from None

    async def _configure(
        self,
        record: PhoneUserRecord,
        location: PbxLocation,
        *,
        device_password: str | None = None,
        authentication_result: dict[str, Any] | None = None,
    ) -> None:
        body = configure_user_body(self._config, record, location, device_password, authentication_result)
        reply = await self._api.call(
            "POST",
            "/enterprise/configureUser",
            json=body,
            secrets=[device_password, *strings_in(authentication_result)],
        )
        if reply.ok:
            return
        if reply.status == 403:
            raise Forbidden(self._api.refused(reply, Doing.configuring_user))
        raise self._configure_refused(reply, record, [device_password, *strings_in(authentication_result)])

    def _configure_refused(
        self, reply: Reply, record: PhoneUserRecord, call_secrets: list[str | None]
    ) -> Exception:
        message = self._api.platform_message(reply, call_secrets)
        known = configure_refusal(reply.status, message, record)
        return known or self._api.refused(reply, Doing.configuring_user, call_secrets, message)

    # -- PBX ------------------------------------------------------------------------------------

    async def _location(self, tenant_id: str, name: str) -> PbxLocation:
        location = next((loc for loc in await self._pbx.locations(tenant_id) if loc.name == name), None)
        if location is None:
            raise ProvisioningError(
                T("PBX location {pbx_location} does not exist.", pbx_location=name), retryable=False
            )
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
