"""Errors the domain raises; dialogs catch only these and show their message to the user."""

from __future__ import annotations

from datetime import datetime


class DomainError(Exception):
    """A failure a person can act on; `message` is shown to the user as is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotAuthorised(DomainError):
    """The acting user may not do this (wrong tenant or role)."""


class RequestNotFound(DomainError):
    """No request with that id is visible to this user."""


class StaleRequest(DomainError):
    """The card that was clicked is older than the request it shows."""


class RejectionReasonMissing(DomainError):
    """A rejection needs a reason the partner can read."""


class ProvisioningError(DomainError):
    """The provisioning service refused or failed; `retryable` says whether "Try again" can help."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class ExtensionTaken(ProvisioningError):
    def __init__(self, extension: str, assigned_to: str) -> None:
        super().__init__(f"Extension {extension} is already assigned to {assigned_to}.", retryable=False)
        self.extension = extension
        self.assigned_to = assigned_to


class NotLicensed(ProvisioningError):
    def __init__(self, teams_user: str) -> None:
        super().__init__(f"{teams_user} has no Teams Phone licence.", retryable=False)
        self.teams_user = teams_user


class AlreadyPhoneUser(ProvisioningError):
    def __init__(self, teams_user: str, extension: str) -> None:
        super().__init__(f"{teams_user} is already a phone user with extension {extension}.", retryable=False)
        self.teams_user = teams_user
        self.extension = extension


class ExtensionUnknown(ProvisioningError):
    def __init__(self, extension: str, pbx_location: str) -> None:
        super().__init__(f"Extension {extension} does not exist on {pbx_location}.", retryable=False)
        self.extension = extension
        self.pbx_location = pbx_location


class AdminSignInRequired(ProvisioningError):
    """The tenant has not allowed management by the service provider: one of its Global Admins
    must sign in (at `action_url`) before calling can be enabled for `upns`.

    The platform later sends the sign-in result to the bot's callback with `state` in its query;
    the workflow keeps `state` (hashed, single use, until `expires_at`) with the waiting request.
    """

    def __init__(
        self,
        tenant_id: str,
        tenant_name: str,
        action_url: str,
        state: str,
        expires_at: datetime,
        upns: list[str],
    ) -> None:
        super().__init__(
            f"Sign in as Global Admin to finish: {tenant_name} has not allowed management by the service "
            "provider, so calling can only be enabled with a Global Admin's Microsoft sign-in.",
            retryable=True,
        )
        self.tenant_id = tenant_id
        self.tenant_name = tenant_name
        self.action_url = action_url
        self.state = state
        self.expires_at = expires_at
        self.upns = upns


class SignInLinkInvalid(DomainError):
    """A Global Admin sign-in result arrived with a state that is unknown, used or expired."""

    def __init__(self, message: str, *, known: bool) -> None:
        super().__init__(message)
        self.known = known
