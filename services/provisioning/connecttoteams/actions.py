"""One phone user's actions at the ConnecttoTeams platform (issue 16): a change, a new device
password, calling disabled and restored, the user deleted; and the add's checks and write, which a
change shares.

What each one calls, and the platform's pages it relies on, are in docs/connecttoteams.md ("Actions
on one phone user"). In short: a change and a new device password are configureUser edits; disabling
and restoring calling are disableUsers and restoreUsers; deleting has no API call, so a person does
it in the portal (PortalStepsRequired) and `delete_user(..., done_in_portal=True)` records it. Where
the tenant has not allowed management by the service provider, the reseller token only records the
change at the platform and the tenant's Global Admin must run "Sync Teams Users": these operations
record what was done first and then say so with PortalStepsRequired, so that running the step again
once the person is done changes nothing and calls nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import NamedTuple

from i18n import T
from services.add_user_rules import (
    require_calling_disabled,
    require_device_password,
    require_extension_exists,
    require_extension_free,
    require_licensed,
    require_phone_user,
)
from services.errors import ExtensionTaken, PortalStepsRequired, ProvisioningError
from services.models import PhoneUserSpec, TeamsUser, VoiceRoute
from services.passwords import generate_device_password
from services.provisioning.connecttoteams.api import Doing, Forbidden, PlatformApi
from services.provisioning.connecttoteams.config import ConnectToTeamsConfig, Enterprise, TeamsUserSource
from services.provisioning.connecttoteams.consent import GlobalAdminNeeded
from services.provisioning.connecttoteams.enterprises import EnterpriseCatalog
from services.provisioning.connecttoteams.records import ExtensionHeld, PhoneUserRecord, PhoneUserRecords
from services.provisioning.connecttoteams.wire import DeviceHasOtherPassword, users_body
from services.provisioning.pbx_directory import PbxDirectory, PbxLocation

# The package's name, as the single module had: log filters written for this backend keep matching.
log = logging.getLogger(__package__)

DISABLE_USERS = "/provisioning/disableUsers"
RESTORE_USERS = "/provisioning/restoreUsers"


class Offered(NamedTuple):
    """What an add or a change may use: the tenant's enterprise, the PBX location, the voice route
    and the licensed Teams user, each checked."""

    enterprise: Enterprise
    location: PbxLocation
    route: VoiceRoute
    user: TeamsUser


def record_of(
    tenant_id: str,
    upn: str,
    spec: PhoneUserSpec,
    route: VoiceRoute,
    previous: PhoneUserRecord | None,
    *,
    device_password_set: bool = True,
) -> PhoneUserRecord:
    """Our record of `spec` once configured. A new or changed user needs the Microsoft side again
    (the sync step); calling, and a disabled user's state, stay as they were."""
    return PhoneUserRecord(
        tenant_id=tenant_id,
        upn=upn,
        pbx_location=spec.pbx_location,
        extension=spec.extension,
        voice_route=route.name,
        sbc_gateway_id=route.route_id,
        phone_number=spec.phone_number,
        voicemail_disabled=spec.disable_voicemail,
        default_dial_plan=spec.default_dial_plan,
        sip_auth_id=spec.sip_auth_id,
        device_password_set=device_password_set,
        synced=False,
        calling_enabled=bool(previous and previous.calling_enabled),
        disabled=bool(previous and previous.disabled),
    )


def spec_of(record: PhoneUserRecord, teams_user: str) -> PhoneUserSpec:
    """What `record` was configured with, as a spec for `teams_user` (the record's UPN, spelled as asked)."""
    return PhoneUserSpec(
        pbx_location=record.pbx_location,
        voice_route=record.voice_route,
        teams_user=teams_user,
        extension=record.extension,
        phone_number=record.phone_number,
        disable_voicemail=record.voicemail_disabled,
        default_dial_plan=record.default_dial_plan,
        sip_auth_id=record.sip_auth_id,
    )


def first_sync_steps(upn: str, enterprise: Enterprise) -> PortalStepsRequired:
    """What was saved waits for the enterprise's first Sync Teams Users, which is its Global Admin's
    even with consent ("Update PBX User")."""
    return PortalStepsRequired(
        T(
            "The change for {upn} is saved at the provisioning service, but this is the first sync of "
            "Teams users for {tenant}, which only its Global Admin can start: sign in to the Teams "
            "Connector Provisioning Portal, open the Dashboard and, under Teams Connector Admin Action "
            "Items, click Sync Teams Users. Microsoft can take up to 24 hours.",
            upn=upn,
            tenant=enterprise.name,
        )
    )


class PhoneUserActions:
    """Part of ConnectToTeamsProvisioningService (a mixin): it works with the service's collaborators
    below and its `_location`, `_assignments`, `_configure` and `_global_admin_needed`."""

    _config: ConnectToTeamsConfig
    _api: PlatformApi
    _catalog: EnterpriseCatalog
    _users: TeamsUserSource
    _pbx: PbxDirectory
    _records: PhoneUserRecords
    _extension_locks: dict[tuple[str, str, str], asyncio.Lock]
    _global_admin_needed: Callable[[Enterprise], Awaitable[GlobalAdminNeeded | None]]

    # -- the protocol's operations ----------------------------------------------------------------

    async def change_user(self, tenant_id: str, spec: PhoneUserSpec) -> None:
        """configureUser with the new values, after the add's checks; the old extension is freed.

        The same device (location, extension, SIP authentication id) keeps its password: no password
        is sent. A new device gets a new password, never kept, because the platform creates a device
        only with one. The same values again change nothing and call nothing."""
        current = await self._phone_user(tenant_id, spec.teams_user)
        if spec == spec_of(current, spec.teams_user):
            log.info("%s already has these values (tenant %s): nothing to change", current.upn, tenant_id)
            return
        offered = await self._offered(tenant_id, spec)
        await self._require_extension(tenant_id, spec)
        record = record_of(tenant_id, current.upn, spec, offered.route, current)
        same_device = (record.pbx_location, record.extension, record.sip_auth_id) == (
            current.pbx_location,
            current.extension,
            current.sip_auth_id,
        )
        if same_device:
            record = record.model_copy(update={"device_password_set": current.device_password_set})
        try:
            await self._claim(record, offered.location, None if same_device else generate_device_password())
        except DeviceHasOtherPassword:
            raise ProvisioningError(
                T(
                    "The PBX device {device} of extension {extension} already exists with another "
                    "password, which the provisioning platform cannot change; the provider must delete "
                    "that device in the PBX, then try again.",
                    device=record.sip_auth_id,
                    extension=record.extension,
                ),
                retryable=True,
            ) from None
        log.info(
            "changed %s: extension %s at %s, was %s at %s (tenant %s)",
            record.upn,
            record.extension,
            record.pbx_location,
            current.extension,
            current.pbx_location,
            tenant_id,
        )
        why = await self._global_admin_needed(offered.enterprise) if record.calling_enabled else None
        if why is GlobalAdminNeeded.first_sync:
            raise first_sync_steps(record.upn, offered.enterprise)
        if why is GlobalAdminNeeded.no_consent:
            raise PortalStepsRequired(
                T(
                    "The change of {upn} is saved at the provisioning service, but {tenant} has not "
                    "allowed management by the service provider, so only its Global Admin can apply it "
                    "in Teams: sign in to the Teams Connector Provisioning Portal, open the Dashboard "
                    "and, under Teams Connector Admin Action Items, click Sync Teams Users. Microsoft "
                    "can take up to 4 hours.",
                    upn=record.upn,
                    tenant=offered.enterprise.name,
                )
            )

    async def reset_device_password(self, tenant_id: str, upn: str, device_password: str) -> None:
        """configureUser with the user's current values and the new password (`password` and
        `rePassword`). The platform sets a password only when it creates a device: where the PBX
        keeps the device's own, the device must first be deleted in the PBX (PortalStepsRequired)."""
        require_device_password(device_password)
        record = await self._phone_user(tenant_id, upn)
        location = await self._location(tenant_id, record.pbx_location)
        try:
            await self._configure(record, location, device_password=device_password)
        except Forbidden as forbidden:
            raise forbidden.error from None
        except DeviceHasOtherPassword:
            raise PortalStepsRequired(
                T(
                    "The PBX keeps the password of {upn}'s device {device} (extension {extension}) and "
                    "the provisioning platform cannot change it there: the provider must delete that "
                    "device in the PBX. Then run the reset again: the platform creates the device anew, "
                    "with a new password.",
                    upn=record.upn,
                    device=record.sip_auth_id,
                    extension=record.extension,
                )
            ) from None
        if not record.device_password_set:
            await self._records.save(record.model_copy(update={"device_password_set": True}))
        log.info(
            "new device password for %s on extension %s (tenant %s)", record.upn, record.extension, tenant_id
        )

    async def disable_calling(self, tenant_id: str, upn: str) -> None:
        """disableUsers for this one user with the reseller token. Done once: a user our record has
        disabled already is left as is, with no call."""
        record = await self._phone_user(tenant_id, upn)
        if record.disabled:
            log.info("calling of %s is disabled already (tenant %s)", record.upn, tenant_id)
            return
        enterprise = await self._catalog.require(tenant_id)
        await self._users_call(DISABLE_USERS, enterprise, record, Doing.disabling_calling)
        await self._records.mark(tenant_id, record.upn, calling_enabled=False, disabled=True)
        log.info("disabled calling of %s (tenant %s)", record.upn, tenant_id)
        why = await self._global_admin_needed(enterprise)
        if why is GlobalAdminNeeded.first_sync:
            raise first_sync_steps(record.upn, enterprise)
        if why is GlobalAdminNeeded.no_consent:
            raise PortalStepsRequired(
                T(
                    "Calling is disabled for {upn} at the provisioning service, but {tenant} has not "
                    "allowed management by the service provider, so only its Global Admin can apply it "
                    "in Teams: sign in to the Teams Connector Provisioning Portal, open the Dashboard "
                    "and, under Teams Connector Admin Action Items, click Sync Teams Users. Microsoft "
                    "can take up to 4 hours.",
                    upn=record.upn,
                    tenant=enterprise.name,
                )
            )

    async def delete_user(self, tenant_id: str, upn: str, *, done_in_portal: bool = False) -> None:
        """The platform's API has no call that deletes a user: a person deletes them in the portal
        (PortalStepsRequired says where), then `done_in_portal` removes them from our record, which
        frees the extension. A user already removed is left as is."""
        record = await self._records.get(tenant_id, upn)
        if record is None and done_in_portal:
            log.info("%s is deleted already (tenant %s)", upn, tenant_id)
            return
        require_phone_user(record is not None, upn)
        assert record is not None
        # Disabled at the platform (disableUsers), not only "calling not enabled yet": the portal
        # offers Delete User only in its Disabled Users list.
        require_calling_disabled(not record.disabled, record.upn)
        if not done_in_portal:
            raise PortalStepsRequired(
                T(
                    "The provisioning platform's API cannot delete a phone user, so it is done in the "
                    "Teams Connector Provisioning Portal: sign in as a Global Admin of the tenant, open "
                    "Users, click Advanced User Search and choose Disabled Users, then click the three "
                    "dots in the Action column of {upn} and choose Delete User. Extension {extension} "
                    "is free once that is done.",
                    upn=record.upn,
                    extension=record.extension,
                )
            )
        await self._records.remove(tenant_id, record.upn)
        log.info(
            "%s deleted in the portal: extension %s at %s is free (tenant %s)",
            record.upn,
            record.extension,
            record.pbx_location,
            tenant_id,
        )

    # -- what enable_calling and add_user share with these ----------------------------------------

    async def _restore_calling(self, record: PhoneUserRecord) -> None:
        """restoreUsers for a user our record has disabled (enable_calling's way back)."""
        enterprise = await self._catalog.require(record.tenant_id)
        await self._users_call(RESTORE_USERS, enterprise, record, Doing.restoring_calling)
        await self._records.mark(record.tenant_id, record.upn, calling_enabled=True, disabled=False)
        log.info("restored calling of %s (tenant %s)", record.upn, record.tenant_id)
        why = await self._global_admin_needed(enterprise)
        if why is GlobalAdminNeeded.first_sync:
            raise first_sync_steps(record.upn, enterprise)
        if why is GlobalAdminNeeded.no_consent:
            raise PortalStepsRequired(
                T(
                    "Calling is restored for {upn} at the provisioning service, but {tenant} has not "
                    "allowed management by the service provider, so only its Global Admin can apply it "
                    "in Teams: sign in to the Teams Connector Provisioning Portal, open the Dashboard "
                    "and, under Teams Connector Admin Action Items, click Sync Teams Users. Microsoft "
                    "can take up to 4 hours.",
                    upn=record.upn,
                    tenant=enterprise.name,
                )
            )

    async def _offered(self, tenant_id: str, spec: PhoneUserSpec) -> Offered:
        """The add's checks before the extension: the tenant's PBX location and voice route, and a
        Teams user with a Teams Phone licence."""
        enterprise = await self._catalog.require(tenant_id)
        location = await self._location(tenant_id, spec.pbx_location)
        routes = await self._catalog.voice_routes(enterprise)
        route = next((r for r in routes if r.name == spec.voice_route), None)
        if route is None:
            raise ProvisioningError(
                T(
                    "Voice route {voice_route} is not offered to {tenant}.",
                    voice_route=spec.voice_route,
                    tenant=enterprise.name,
                ),
                retryable=False,
            )
        user = require_licensed(await self._users.user(tenant_id, spec.teams_user), spec.teams_user)
        return Offered(enterprise, location, route, user)

    async def _require_extension(self, tenant_id: str, spec: PhoneUserSpec) -> None:
        exists = await self._pbx.extension(tenant_id, spec.pbx_location, spec.extension) is not None
        require_extension_exists(exists, spec.extension, spec.pbx_location)

    async def _claim(
        self, record: PhoneUserRecord, location: PbxLocation, device_password: str | None
    ) -> None:
        """configureUser for `record` on a free extension (or the user's own), then our record of it.
        One claim per extension at a time in this process; across processes the platform's refusal
        and the record's unique (tenant, location, extension) decide."""
        key = (record.tenant_id, record.pbx_location, record.extension)
        async with self._extension_locks.setdefault(key, asyncio.Lock()):
            holder = (await self._assignments(record.tenant_id)).get((record.pbx_location, record.extension))
            require_extension_free(holder, record.extension, record.upn)
            try:
                await self._configure(record, location, device_password=device_password)
            except Forbidden as forbidden:
                raise forbidden.error from None
            try:
                await self._records.save(record)
            except ExtensionHeld as held:
                log.error(
                    "platform accepted %s on extension %s, but our record has %s there",
                    record.upn,
                    record.extension,
                    held.holder,
                )
                raise ExtensionTaken(record.extension, held.holder) from None

    async def _phone_user(self, tenant_id: str, upn: str) -> PhoneUserRecord:
        record = await self._records.get(tenant_id, upn)
        require_phone_user(record is not None, upn)
        assert record is not None
        return record

    async def _users_call(
        self, path: str, enterprise: Enterprise, record: PhoneUserRecord, doing: Doing
    ) -> None:
        """disableUsers or restoreUsers for one user; the same body again is harmless, so the retries
        of PlatformApi are safe."""
        reply = await self._api.call("POST", path, json=users_body(enterprise, [record.upn]))
        if not reply.ok:
            raise self._api.refused(reply, doing)
