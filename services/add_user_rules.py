"""The add-user rules of the seed procedure, each in one place with one wording.

"Licensed users only", "not already a phone user on another extension", "the extension exists at
that PBX location" and "the extension is not already assigned to another user": the form checks
them to show field errors before anything is sent (services/requests/form.py), and both
provisioning backends check them again when the user is added, because the world may have
changed in between. Each raises its typed error from services/errors.py. The rules of the actions
on an existing phone user (a change, a removal) are at the end, for the same two callers.
"""

from __future__ import annotations

import re

from i18n import T, Text
from services.errors import AlreadyPhoneUser, ExtensionTaken, ExtensionUnknown, NotLicensed, ProvisioningError
from services.models import TeamsUser
from services.passwords import is_valid_device_password


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


def sip_auth_id_for(extension: str, suffix: str) -> str:
    """The procedure's SIP authentication ID: the extension followed by the white-label's suffix
    (`t` in the seed's procedure, "SIP Authentication ID: <extension>t"; other white-labels of the
    platform use others, e.g. `tp`)."""
    return f"{extension}{suffix}" if extension else ""


def sip_auth_id_problem(value: str, extension: str, suffix: str) -> Text | None:
    """Where a provider lets people type it: still the extension first, then a suffix of letters
    and digits (the device registers with it at the PBX)."""
    if re.fullmatch(rf"{re.escape(extension)}[A-Za-z0-9]{{0,8}}", value):
        return None
    return T(
        "The SIP authentication ID is the extension followed by a suffix, e.g. {example}.",
        example=sip_auth_id_for(extension, suffix),
    )


# E.164: "+", a country code, at most 15 digits in all (ITU-T E.164).
E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def phone_number_problem(number: str, extension: str) -> Text | None:
    """The procedure's phone number is the extension (the portal pre-fills the PBX caller ID, which
    must be changed): anything else is refused, saying what was typed, never cut."""
    if not number or number == extension:
        return None
    if E164.fullmatch(number):
        return T(
            "{number} is a full phone number (E.164). The Phone Connector needs the extension here: "
            "{extension}.",
            number=number,
            extension=extension,
        )
    if number.isdigit() and len(number) >= 7:
        return T(
            "{number} looks like the PBX caller ID. The Phone Connector needs the extension here: "
            "{extension}.",
            number=number,
            extension=extension,
        )
    return T("The phone number must be the extension ({extension}).", extension=extension)


# -- the rules of the actions on an existing phone user (issue 16) ---------------------------------


def require_device_password(password: str) -> None:
    """The procedure's device password: 8 characters, letters and digits only."""
    if not is_valid_device_password(password):
        raise ProvisioningError(T("The device password must be 8 letters and digits."), retryable=False)


def require_phone_user(provisioned: bool, upn: str) -> None:
    """A change, a new device password, disabling, enabling or deleting needs a phone user."""
    if not provisioned:
        raise ProvisioningError(T("{upn} is not a phone user.", upn=upn), retryable=False)


def require_calling_disabled(calling_enabled: bool, upn: str) -> None:
    """The platform deletes a user only once disabled ("disable first, then delete")."""
    if calling_enabled:
        raise ProvisioningError(
            T("Disable calling for {upn} first: only a disabled user can be deleted.", upn=upn),
            retryable=False,
        )
