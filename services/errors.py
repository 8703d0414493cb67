"""Errors the domain raises; dialogs catch only these and show their text to the user.

A service does not know who will read its error, so each carries a `Text` (`text`, the English
template and its values, translated where it is shown with `words(exc.text)`) and its English
(`message`, for logs and tests)."""

from __future__ import annotations

from datetime import datetime

from i18n import T, Text


def not_set_up(tenant_id: str) -> Text:
    """A tenant the provisioning side does not know (either backend says it in these words)."""
    return T("Tenant {tenant_id} is not set up at the provisioning service.", tenant_id=tenant_id)


def not_a_phone_user(upn: str, tenant_name: str) -> Text:
    """A card names a user who is not (or no longer) a phone user of the tenant."""
    return T("{upn} is not a phone user of {tenant} (any more).", upn=upn, tenant=tenant_name)


class DomainError(Exception):
    """A failure a person can act on: `text` is shown to the user, `message` is its English."""

    def __init__(self, message: str | Text) -> None:
        text = message if isinstance(message, Text) else Text(message, {})
        super().__init__(str(text))
        self.text = text
        self.message = str(text)


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

    def __init__(self, message: str | Text, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class ExtensionTaken(ProvisioningError):
    """`assigned_to` is None when the provisioning side did not say who has the extension."""

    def __init__(self, extension: str, assigned_to: str | None) -> None:
        if assigned_to:
            text = T(
                "Extension {extension} is already assigned to {holder}.",
                extension=extension,
                holder=assigned_to,
            )
        else:
            text = T("Extension {extension} is already assigned to another user.", extension=extension)
        super().__init__(text, retryable=False)
        self.extension = extension
        self.assigned_to = assigned_to


class NotLicensed(ProvisioningError):
    def __init__(self, teams_user: str) -> None:
        super().__init__(
            T("{teams_user} has no Teams Phone licence.", teams_user=teams_user), retryable=False
        )
        self.teams_user = teams_user


class AlreadyPhoneUser(ProvisioningError):
    def __init__(self, teams_user: str, extension: str) -> None:
        super().__init__(
            T(
                "{teams_user} is already a phone user with extension {extension}.",
                teams_user=teams_user,
                extension=extension,
            ),
            retryable=False,
        )
        self.teams_user = teams_user
        self.extension = extension


class ExtensionUnknown(ProvisioningError):
    def __init__(self, extension: str, pbx_location: str) -> None:
        super().__init__(
            T(
                "Extension {extension} does not exist on {pbx_location}.",
                extension=extension,
                pbx_location=pbx_location,
            ),
            retryable=False,
        )
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
            T(
                "Sign in as Global Admin to finish: {tenant} has not allowed management by the service "
                "provider, so calling can only be enabled with a Global Admin's Microsoft sign-in.",
                tenant=tenant_name,
            ),
            retryable=True,
        )
        self.tenant_id = tenant_id
        self.tenant_name = tenant_name
        self.action_url = action_url
        self.state = state
        self.expires_at = expires_at
        self.upns = upns


class PortalStepsRequired(ProvisioningError):
    """The platform's API has no call for this step: a person must do it in the portal. `steps`
    says exactly what to do there; `url` is the portal's page for it, when there is one. The request
    waits for that person to say it is done, and then runs the step again with `done_in_portal`."""

    def __init__(self, steps: Text, url: str | None = None) -> None:
        super().__init__(steps, retryable=True)
        self.steps = steps
        self.url = url


class SignInLinkInvalid(DomainError):
    """A Global Admin sign-in result arrived with a state that is unknown, used or expired."""

    def __init__(self, message: str | Text, *, known: bool) -> None:
        super().__init__(message)
        self.known = known
