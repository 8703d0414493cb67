"""Errors the domain raises; dialogs catch only these and show their message to the user."""

from __future__ import annotations


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
