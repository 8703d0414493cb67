"""The add-user form's rules: parse the values a person gave, check them against the provisioning side."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from i18n import T, Text
from services.add_user_rules import phone_number_problem, sip_auth_id_for, sip_auth_id_problem
from services.errors import (
    AlreadyPhoneUser,
    ExtensionTaken,
    ExtensionUnknown,
    NotLicensed,
    not_a_phone_user,
)
from services.models import FormOptions, PhoneUserSpec, ProvisioningRequest
from services.provisioning.protocol import ProvisioningService

# Field name -> what is wrong with it, shown next to the field with `words(...)`: a `Text` from
# services/ (a plain string is shown as it is).
FieldErrors = dict[str, str | Text]

# Under this key, beside the Teams user's error, the UPN of the phone user the form refused: the
# form offers a button that opens that user's card (issue 16, "no silent re-add").
EXISTING_PHONE_USER = "existing_phone_user"
# In a request's values: the users its submits sent to the service (lower-case UPNs, space-separated).
ADDED_USERS = "added_users"
# In a change's values: the user's name, and where they were before (cards show "101 -> 105").
DISPLAY_NAME = "display_name"
FROM_EXTENSION = "from_extension"
FROM_PBX_LOCATION = "from_pbx_location"

EXTENSION_PATTERN = r"^[0-9]{2,8}$"
# What the card's field accepts where a provider lets people type it (add_user_rules has the rule).
SIP_AUTH_ID_PATTERN = r"^[0-9]{2,8}[A-Za-z0-9]{0,8}$"
MAX_TEXT = 320


def _clean(value: Any) -> str:
    text = "" if value is None else str(value)
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in text):
        raise PydanticCustomError("control_characters", "contains control or formatting characters")
    return text.strip()


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1", "on", "yes")


class AddUserInput(BaseModel):
    """What the form card submitted, with types fixed; rules that need the service come later."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    pbx_location: str = Field(default="", max_length=100)
    voice_route: str = Field(default="", max_length=100)
    teams_user: str = Field(default="", max_length=MAX_TEXT)
    extension: str = Field(default="", max_length=20)
    phone_number: str = Field(default="", max_length=20)
    disable_voicemail: bool = True
    default_dial_plan: bool = True
    sip_auth_id: str = Field(default="", max_length=64)
    voicemail_confirmed: bool = False
    dial_plan_confirmed: bool = False

    @field_validator(
        "pbx_location",
        "voice_route",
        "teams_user",
        "extension",
        "phone_number",
        "sip_auth_id",
        mode="before",
    )
    @classmethod
    def _text(cls, value: Any) -> str:
        if isinstance(value, (dict, list)):
            raise PydanticCustomError("not_text", "must be text")
        return _clean(value)

    @field_validator(
        "disable_voicemail", "default_dial_plan", "voicemail_confirmed", "dial_plan_confirmed", mode="before"
    )
    @classmethod
    def _flag(cls, value: Any) -> bool:
        return _as_bool(value)

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> tuple[AddUserInput, FieldErrors]:
        """Parse the form's values (by field name: the card's ids are cards/' business); fields that
        fail type checks come back as errors, the others are kept."""
        raw = {name: values[name] for name in cls.model_fields if name in values}
        errors: FieldErrors = {}
        try:
            return cls.model_validate(raw), errors
        except ValidationError as exc:
            for err in exc.errors():
                field = str(err["loc"][0]) if err["loc"] else "form"
                errors[field] = _message(err)
                raw.pop(field, None)
            kept = {k: v for k, v in raw.items() if k not in errors}
            try:
                return cls.model_validate(kept), errors
            except ValidationError:
                return cls(), errors


def _message(err: Mapping[str, Any]) -> Text:
    """What a person reads for a value that failed its type check (the fields are text and flags,
    so these are the ways one can fail)."""
    if err["type"] == "string_too_long":
        return T("This value is too long.")
    if err["type"] == "control_characters":
        return T("Contains control or formatting characters.")
    if err["type"] == "not_text":
        return T("Must be text.")
    return T("Invalid value.")


def own_adds(request: ProvisioningRequest) -> frozenset[str]:
    """The users this request has already sent to the service (each submit sends one): if one is a
    phone user now, this request may have made them so, and may go on with them."""
    return frozenset(str(request.values.get(ADDED_USERS) or "").split())


def with_add(request: ProvisioningRequest, upn: str) -> str:
    """The request's ADDED_USERS value once `upn` is sent too."""
    return " ".join(sorted(own_adds(request) | {upn.casefold()}))


async def check_form(
    service: ProvisioningService,
    options: FormOptions,
    form: AddUserInput,
    errors: FieldErrors | None = None,
    own: Collection[str] = (),
    changing: str | None = None,
    names: dict[str, str] | None = None,
) -> FieldErrors:
    """Every rule of the seed procedure; returns field -> message for each problem found.

    A Teams user who is already a phone user is refused (a re-add would give their phone a new
    device password), unless the request itself made them one (`own`, from `own_adds`): a request
    whose add went through before a later step failed still goes on. A change (`changing`: the
    phone user it changes) keeps its user, who is a phone user, and may keep their extension.
    `names`, when given, gets the display name of the Teams user found (by the UPN typed): the
    user is read once, for every rule and for the cards that name them."""
    errors = dict(errors or {})
    if changing is not None and form.teams_user.casefold() != changing.casefold():
        errors["teams_user"] = T("A change keeps its user: {upn}.", upn=changing)
    tenant_id = options.tenant.tenant_id
    if "pbx_location" not in errors and form.pbx_location not in options.pbx_locations:
        errors["pbx_location"] = T("Choose one of the tenant's PBX locations.")
    if "voice_route" not in errors and form.voice_route not in {r.name for r in options.voice_routes}:
        errors["voice_route"] = _choose_voice_route([r.name for r in options.voice_routes])
    if "teams_user" not in errors:
        if not form.teams_user:
            errors["teams_user"] = T("Choose the Teams user to add.")
        else:
            # One read of the user: the directory's side and the phone side together.
            state = await service.user_state(tenant_id, form.teams_user)
            if state is None:
                errors["teams_user"] = T(
                    "{teams_user} is not a user of {tenant}.",
                    teams_user=form.teams_user,
                    tenant=options.tenant.name,
                )
            elif not state.licensed:
                errors["teams_user"] = NotLicensed(state.upn).text
            else:
                if names is not None:
                    names[form.teams_user] = state.display_name
                mine = state.upn.casefold() in own
                if changing is not None:
                    if not state.provisioned:
                        errors["teams_user"] = not_a_phone_user(state.upn, options.tenant.name)
                elif state.provisioned and (not mine or state.extension != form.extension):
                    if mine:
                        errors["teams_user"] = AlreadyPhoneUser(state.upn, state.extension or "").text
                    else:
                        errors["teams_user"] = T(
                            "{name} is already a phone user on extension {extension}.",
                            name=state.display_name or state.upn,
                            extension=state.extension or "",
                        )
                        errors[EXISTING_PHONE_USER] = state.upn
    if "extension" not in errors:
        if not re.fullmatch(EXTENSION_PATTERN, form.extension):
            errors["extension"] = T("Enter the user's PBX extension (digits only).")
        elif "pbx_location" not in errors:
            ext = await service.extension(tenant_id, form.pbx_location, form.extension)
            if ext is None:
                errors["extension"] = ExtensionUnknown(form.extension, form.pbx_location).text
            elif ext.assigned_to and ext.assigned_to.lower() != form.teams_user.lower():
                errors["extension"] = ExtensionTaken(form.extension, ext.assigned_to).text
    if "phone_number" not in errors and "extension" not in errors:
        if problem := phone_number_problem(form.phone_number, form.extension):
            errors["phone_number"] = problem
    if "sip_auth_id" not in errors and "extension" not in errors:
        # Derived from the extension (effective_form) unless the provider lets people type it.
        if problem := sip_auth_id_problem(form.sip_auth_id, form.extension, options.sip_auth_suffix):
            errors["sip_auth_id"] = problem
    return errors


def effective_form(form: AddUserInput, options: FormOptions) -> AddUserInput:
    """The values the procedure fixes: the SIP authentication ID is the extension and the provider's
    suffix, whatever a card sent, unless the provider lets people type it and they did."""
    if options.sip_auth_editable and form.sip_auth_id:
        return form
    return form.model_copy(update={"sip_auth_id": sip_auth_id_for(form.extension, options.sip_auth_suffix)})


def _choose_voice_route(names: list[str]) -> Text:
    """ "Choose a voice route (A or B)": the "or" is the template's, so that it translates."""
    if len(names) < 2:
        return T("Choose a voice route ({names}).", names="".join(names))
    return T("Choose a voice route ({names} or {last}).", names=", ".join(names[:-1]), last=names[-1])


def needs_voicemail_confirmation(form: AddUserInput) -> bool:
    return not form.disable_voicemail and not form.voicemail_confirmed


def needs_dial_plan_confirmation(form: AddUserInput) -> bool:
    """The procedure says to assign the default dial plan policy; not doing so is confirmed."""
    return not form.default_dial_plan and not form.dial_plan_confirmed


def to_spec(form: AddUserInput) -> PhoneUserSpec:
    return PhoneUserSpec(
        pbx_location=form.pbx_location,
        voice_route=form.voice_route,
        teams_user=form.teams_user,
        extension=form.extension,
        phone_number=form.phone_number or form.extension,
        disable_voicemail=form.disable_voicemail,
        default_dial_plan=form.default_dial_plan,
        sip_auth_id=form.sip_auth_id,
    )
