"""The add-user form's rules: parse the values a person gave, check them against the provisioning side."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from services.models import FormOptions, PhoneUserSpec
from services.provisioning.protocol import ProvisioningService

FieldErrors = dict[str, str]

EXTENSION_PATTERN = r"^[0-9]{2,8}$"
SIP_AUTH_ID_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
MAX_TEXT = 320


def _clean(value: Any) -> str:
    text = "" if value is None else str(value)
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in text):
        raise ValueError("contains control or formatting characters")
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
            raise ValueError("must be text")
        return _clean(value)

    @field_validator("disable_voicemail", "default_dial_plan", "voicemail_confirmed", mode="before")
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


def _message(err: Mapping[str, Any]) -> str:
    if err["type"] == "string_too_long":
        return "This value is too long."
    text = str(err.get("msg", "Invalid value."))
    return text.removeprefix("Value error, ").capitalize().rstrip(".") + "."


async def check_form(
    service: ProvisioningService,
    options: FormOptions,
    form: AddUserInput,
    errors: FieldErrors | None = None,
) -> FieldErrors:
    """Every rule of the seed procedure; returns field -> message for each problem found."""
    errors = dict(errors or {})
    tenant_id = options.tenant.tenant_id
    if "pbx_location" not in errors and form.pbx_location not in options.pbx_locations:
        errors["pbx_location"] = "Choose one of the tenant's PBX locations."
    if "voice_route" not in errors and form.voice_route not in {r.name for r in options.voice_routes}:
        names = " or ".join(r.name for r in options.voice_routes)
        errors["voice_route"] = f"Choose a voice route ({names})."
    if "teams_user" not in errors:
        if not form.teams_user:
            errors["teams_user"] = "Choose the Teams user to add."
        else:
            user = await service.teams_user(tenant_id, form.teams_user)
            if user is None:
                errors["teams_user"] = f"{form.teams_user} is not a user of {options.tenant.name}."
            elif not user.licensed:
                errors["teams_user"] = f"{user.upn} has no Teams Phone licence."
            else:
                state = await service.user_state(tenant_id, user.upn)
                if state and state.provisioned and state.extension != form.extension:
                    errors["teams_user"] = (
                        f"{user.upn} is already a phone user with extension {state.extension}."
                    )
    if "extension" not in errors:
        if not re.fullmatch(EXTENSION_PATTERN, form.extension):
            errors["extension"] = "Enter the user's PBX extension (digits only)."
        elif "pbx_location" not in errors:
            ext = await service.extension(tenant_id, form.pbx_location, form.extension)
            if ext is None:
                errors["extension"] = f"Extension {form.extension} does not exist on {form.pbx_location}."
            elif ext.assigned_to and ext.assigned_to.lower() != form.teams_user.lower():
                errors["extension"] = f"Extension {form.extension} is already assigned to {ext.assigned_to}."
    if "phone_number" not in errors and "extension" not in errors:
        if form.phone_number and form.phone_number != form.extension:
            errors["phone_number"] = (
                f"The phone number must be the extension ({form.extension}), not the PBX caller ID."
            )
    if "sip_auth_id" not in errors and not re.fullmatch(SIP_AUTH_ID_PATTERN, form.sip_auth_id):
        errors["sip_auth_id"] = "Use 1-64 letters, digits, dots, dashes or underscores."
    return errors


def needs_voicemail_confirmation(form: AddUserInput) -> bool:
    return not form.disable_voicemail and not form.voicemail_confirmed


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
