"""A one-line add ("add user isaiah@contoso.example ext 108 route CA Central"): the typed values
matched to the tenant's own options, then saved into the draft by the form's own save (the rules
check them as if they had been typed in the form), so the person gets the form filled in and still
reviews it before anything is sent."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dialogs.commands import AddUserLine
from i18n import T, fold
from services.models import Actor, FormOptions, ProvisioningRequest
from services.provisioning.protocol import ProvisioningService
from services.requests.form import EXISTING_PHONE_USER, FieldErrors
from services.requests.service import RequestService

__all__ = ["AddUserLine", "carried", "carried_line", "prefill_draft"]


async def prefill_draft(
    requests: RequestService,
    provisioning: ProvisioningService,
    actor: Actor,
    request: ProvisioningRequest,
    line: AddUserLine | None,
) -> tuple[ProvisioningRequest, FieldErrors]:
    """The draft with the line's values saved (through `save_form`, so every rule checks them), and
    what is wrong with the values the line gave; a field the line did not fill shows no error yet
    (a fresh form says nothing of what the person has not typed). No line: the draft as it is."""
    if line is None:
        return request, {}
    options = await requests.form_options(request)
    values: dict[str, object] = dict(request.values)
    given: set[str] = set()
    errors: FieldErrors = {}
    if line.voice_route:
        values["voice_route"] = _offered(line.voice_route, [r.name for r in options.voice_routes])
        given.add("voice_route")
    if line.pbx_location:
        values["pbx_location"] = _offered(line.pbx_location, options.pbx_locations)
        given.add("pbx_location")
    if line.extension:
        values["extension"] = line.extension
        given.add("extension")
        if not values.get("pbx_location"):
            values["pbx_location"] = await _location_of(provisioning, options, line.extension)
    if line.teams_user:
        values["teams_user"] = line.teams_user
        given.add("teams_user")
    elif line.name:
        found = await provisioning.search_licensed_users(request.tenant_id, line.name, 2)
        if len(found) == 1:
            values["teams_user"] = found[0].upn
            given.add("teams_user")
        else:
            errors["teams_user"] = (
                T("Several licensed users match **{name}**: choose one in the list.", name=line.name)
                if found
                else T("No licensed Teams user matches **{name}**: choose one in the list.", name=line.name)
            )
    result = await requests.save_form(actor, request.request_id, request.version, values)
    shown = given | ({EXISTING_PHONE_USER} if "teams_user" in given else set())
    errors |= {field: text for field, text in result.errors.items() if field in shown}
    return result.request, errors


# Under this key of a partner's enterprise picker's data, the line waits for the enterprise.
PREFILL = "prefill"


def carried(line: AddUserLine | None) -> dict[str, Any] | None:
    """The picker's data that brings the line to the form of the enterprise the partner picks."""
    return {PREFILL: line.as_data()} if line is not None else None


def carried_line(data: Mapping[str, Any]) -> AddUserLine | None:
    """The line a picker's click brought back (checked like anything a card sends)."""
    return AddUserLine.from_data(data.get(PREFILL))


def _offered(typed: str, names: list[str]) -> str:
    """The tenant's own spelling of a route or location typed loosely ("ca central", "CA"): the one
    that equals it, else the one it starts; as typed when none or several do (the form says so)."""
    key = " ".join(fold(typed).split())
    same = [n for n in names if " ".join(fold(n).split()) == key]
    starting = [n for n in names if " ".join(fold(n).split()).startswith(key)]
    return same[0] if same else starting[0] if len(starting) == 1 else typed


async def _location_of(provisioning: ProvisioningService, options: FormOptions, extension: str) -> str:
    """The one PBX location that has this extension (Fabrikam has two), or "" for the form to ask."""
    tenant_id = options.tenant.tenant_id
    having = [
        location
        for location in options.pbx_locations
        if await provisioning.extension(tenant_id, location, extension) is not None
    ]
    return having[0] if len(having) == 1 else ""
