"""The add-user rules of the seed procedure, each in one place with one wording.

"Licensed users only", "not already a phone user on another extension", "the extension exists at
that PBX location" and "the extension is not already assigned to another user": the form checks
them to show field errors before anything is sent (services/requests/form.py), and both
provisioning backends check them again when the user is added, because the world may have
changed in between. Each raises its typed error from services/errors.py.
"""

from __future__ import annotations

from services.errors import AlreadyPhoneUser, ExtensionTaken, ExtensionUnknown, NotLicensed
from services.models import TeamsUser


def require_licensed(user: TeamsUser | None, upn: str) -> TeamsUser:
    """Only users with a Teams Phone licence can be phone users (the portal does not list others)."""
    if user is None or not user.licensed:
        raise NotLicensed(upn)
    return user


def require_not_phone_user_elsewhere(
    upn: str,
    current: tuple[str | None, str | None],
    wanted: tuple[str, str],
) -> None:
    """A phone user keeps their extension: adding them on another one would take theirs away.

    `current` and `wanted` are (PBX location, extension); a location the side does not know
    (None) matches any."""
    location, extension = current
    if extension and (extension != wanted[1] or (location is not None and location != wanted[0])):
        raise AlreadyPhoneUser(upn, extension)


def require_extension_exists(exists: bool, extension: str, pbx_location: str) -> None:
    if not exists:
        raise ExtensionUnknown(extension, pbx_location)


def require_extension_free(holder: str | None, extension: str, upn: str) -> None:
    """An extension belongs to one user only (the procedure: "cannot already be assigned")."""
    if holder and holder.casefold() != upn.casefold():
        raise ExtensionTaken(extension, holder)
