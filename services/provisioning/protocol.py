"""What the bot needs from the provisioning side, as one interface for every implementation."""

from __future__ import annotations

from typing import Protocol

from services.models import (
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


class ProvisioningService(Protocol):
    async def ping(self) -> None:
        """Raise if the service cannot be reached (used by /readyz)."""

    async def tenant(self, tenant_id: str) -> Tenant | None: ...

    async def enterprises_of(self, partner_tenant_id: str) -> list[Tenant]: ...

    async def form_options(self, tenant_id: str) -> FormOptions: ...

    async def search_licensed_users(self, tenant_id: str, query: str, limit: int = 25) -> list[TeamsUser]:
        """The first `limit` licensed users, by name, that `query` matches by name or address, with
        the search's rule (services/provisioning/search.py); existing phone users marked."""

    async def teams_user(self, tenant_id: str, upn: str) -> TeamsUser | None: ...

    async def extension(self, tenant_id: str, pbx_location: str, number: str) -> Extension | None: ...

    async def add_user(self, tenant_id: str, spec: PhoneUserSpec, device_password: str) -> None:
        """Add (or, with the same values, edit) a phone user. Raises ProvisioningError."""

    async def sync_required(self, tenant_id: str) -> bool: ...

    async def sync_users(self, tenant_id: str) -> None: ...

    async def calling_enabled(self, tenant_id: str, upn: str) -> bool: ...

    async def enable_calling(self, tenant_id: str, upn: str) -> None:
        """Raises AdminSignInRequired when only a Global Admin's sign-in can enable it."""

    async def complete_admin_sign_in(
        self, tenant_id: str, result: AdminSignInResult, upns: list[str]
    ) -> list[str]:
        """Finish enabling calling for `upns` with a Global Admin's sign-in result (after
        AdminSignInRequired). Returns the UPNs now enabled."""

    async def user_state(self, tenant_id: str, upn: str) -> PhoneUserState | None: ...

    # -- the tenant's consents (issue 20) ---------------------------------------------------------

    async def consent_state(self, tenant_id: str) -> ConsentState | None:
        """What the tenant's Global Admin gave the provider; None where no consent applies."""

    async def consent_url(self, tenant_id: str, kind: str) -> str:
        """A page where the tenant's Global Admin gives consent `kind` (CONSENT_KINDS); its answer
        comes back to the bot. Raises ProvisioningError where no consent applies."""

    # -- one phone user's actions (issue 16) ------------------------------------------------------

    async def change_user(self, tenant_id: str, spec: PhoneUserSpec) -> None:
        """Edit the phone user `spec.teams_user` to `spec`, with the rules of an add (the location
        and route offered, a new extension that exists and is free); the old extension is freed
        and the device password kept. Leaves the tenant needing a sync. Raises ProvisioningError."""

    async def reset_device_password(self, tenant_id: str, upn: str, device_password: str) -> None:
        """A new device password (8 letters and digits) for the phone user's SIP device."""

    async def disable_calling(self, tenant_id: str, upn: str) -> None:
        """Calling off for a phone user (the portal's "Disable User"); `enable_calling` turns it
        back on. May raise PortalStepsRequired."""

    async def delete_user(self, tenant_id: str, upn: str, *, done_in_portal: bool = False) -> None:
        """Delete a phone user whose calling is disabled ("disable first, then delete") and free
        their extension. Raises PortalStepsRequired where the platform's API has no call for it;
        `done_in_portal` says a person did those steps: record the deletion, call nothing."""

    async def phone_users(self, tenant_id: str, query: str, offset: int, limit: int) -> PhoneUserPage:
        """The tenant's phone users, by name, `limit` from `offset`. `query` (may be empty) matches
        by name, address or extension, with the search's rule (services/provisioning/search.py):
        never by the address's domain, which every user shares."""
