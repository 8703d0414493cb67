"""What travels to and from the ConnecttoTeams platform: its answers, in the shapes its documents show
where they show one (lists: a bare array, or the v3 answer of the "Generating reports guide") and read
defensively where they do not (error bodies, enterprise records, the action URL); what the client does
not recognise is named by its keys for the log (`answer_keys`), never by its values. And what is sent:
the configureUser body and the body of disableUsers / restoreUsers."""

from __future__ import annotations

import re
import unicodedata
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from i18n import T
from services.errors import ExtensionTaken, NotLicensed, ProvisioningError
from services.outbound_http import Reply
from services.provisioning.connecttoteams.config import ConnectToTeamsConfig, Enterprise
from services.provisioning.connecttoteams.records import PhoneUserRecord
from services.provisioning.pbx_directory import PbxLocation

_MESSAGE_KEYS = ("message", "errorMessage", "error_description", "detail", "description", "title")
# The v3 list answer: "draw", "recordsTotal", "recordsFiltered" and "data": {"_embedded": {"<x>List": [...]}}.
_V3_KEYS = frozenset({"draw", "recordsTotal", "recordsFiltered", "data"})


class PBXIdMissing(ProvisioningError):
    """The provider's PBX directory gives no PBX id for the location: configureUser's `pbxLocation`
    is "PBX ID - cannot be empty" (kb.connecttoteams.com, "enterprise/configureUser")."""

    def __init__(self, location: str) -> None:
        super().__init__(
            T(
                "PBX location {pbx_location} has no PBX id in the provider's PBX directory (column "
                "{column}), which the provisioning platform needs; the provider must add it.",
                pbx_location=location,
                column="pbx_location_id",
            ),
            retryable=False,
        )


def configure_user_body(
    config: ConnectToTeamsConfig,
    record: PhoneUserRecord,
    location: PbxLocation,
    device_password: str | None = None,
    authentication_result: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The documented body. Without a password (a later edit) the device keeps the one it has."""
    if not location.platform_id:
        raise PBXIdMissing(location.name)
    body: dict[str, Any] = {
        "loginID": config.api_username,
        "pbxLocation": location.platform_id,
        "pbxUserId": f"{record.extension}@{location.domain}",
        "sbcGatewayId": record.sbc_gateway_id,
        "teamsUserId": record.upn,
        "tenantId": record.tenant_id,
        "phoneNumber": record.phone_number,
        "useTeamsVoicemail": not record.voicemail_disabled,
        "useEnterpriseDialPlan": record.default_dial_plan,
        "pbxAuthUserId": record.sip_auth_id,
        "pbxCallPolicyInfo": {
            "callPolicyCNAM": config.call_policy_cnam,
            "callPolicyName": config.call_policy_name,
            "forwardedCallsCallerId": config.forwarded_calls_caller_id,
        },
    }
    if device_password is not None:
        body["password"] = device_password
        body["rePassword"] = device_password
    if authentication_result is not None:
        body["authenticationResult"] = authentication_result
    return body


def users_body(enterprise: Enterprise, upns: list[str]) -> dict[str, Any]:
    """disableUsers / restoreUsers for exactly `upns` of one enterprise: the documented fields that
    say which users (docs/connecttoteams.md, "Actions on one phone user"). `updateAllUsers` is sent
    as false so that a platform defaulting it otherwise can never act on the whole enterprise."""
    return {
        "resellerId": platform_id(enterprise.reseller_id),
        "tenantId": enterprise.tenant_id,
        "users": list(upns),
        "updateAllUsers": False,
    }


class DeviceHasOtherPassword(ProvisioningError):
    """configureUser refused the password sent: the PBX device exists with another one. The platform
    sets a device's password only when it creates the device (docs/connecttoteams.md)."""

    def __init__(self, extension: str) -> None:
        super().__init__(
            T(
                "The PBX device of extension {extension} already exists with another password; the "
                "provider must reset it before this user can be added.",
                extension=extension,
            ),
            retryable=False,
        )
        self.extension = extension


def configure_refusal(status: int, message: str, record: PhoneUserRecord) -> ProvisioningError | None:
    """What a refused configureUser means for the person, when its (scrubbed) message says it."""
    low = message.casefold()
    if status in (400, 409, 422):
        if "password" in low:
            return DeviceHasOtherPassword(record.extension)
        if re.search(r"licen[cs]", low):
            return NotLicensed(record.upn)
        if re.search(r"already|in use|taken|exists|assigned|duplicate", low):
            return ExtensionTaken(record.extension, holder_named(message, record))
    return None


def platform_message(reply: Reply, limit: int = 300) -> str:
    """A one-line message from an error body in any of the usual shapes (Spring, OAuth, plain text)."""
    data = reply.json()
    parts: list[str] = []
    if isinstance(data, dict):
        parts += [data[k] for k in _MESSAGE_KEYS if isinstance(data.get(k), str) and data[k].strip()]
        errors = data.get("errors") or data.get("fieldErrors") or data.get("violations")
        if isinstance(errors, dict):
            parts += [f"{k}: {v}" for k, v in errors.items() if isinstance(v, str | int)]
        elif isinstance(errors, list):
            for item in errors:
                if isinstance(item, str):
                    parts.append(item)
                elif isinstance(item, dict):
                    text = item.get("defaultMessage") or item.get("message") or item.get("description")
                    field = item.get("field") or item.get("propertyPath")
                    if isinstance(text, str):
                        parts.append(f"{field}: {text}" if isinstance(field, str) else text)
        if not parts and isinstance(data.get("error"), str):
            parts.append(data["error"])
    elif isinstance(data, str):
        parts.append(data)
    elif isinstance(data, list):
        parts += [x for x in data if isinstance(x, str)]
    elif data is None and reply.body.strip() and not reply.text.lstrip().startswith("<"):
        parts.append(reply.text)
    unique = list(dict.fromkeys(_one_line(p) for p in parts if p))
    text = "; ".join(p for p in unique if p)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_action_url(reply: Reply) -> str | None:
    """getActionItemUrl's URL, whether sent as a JSON string, an object, or plain text."""
    data = reply.json()
    candidates: list[Any] = []
    if isinstance(data, str):
        candidates.append(data)
    elif isinstance(data, dict):
        candidates += [data.get(k) for k in ("url", "actionItemUrl", "actionUrl", "link", "redirectUrl")]
    elif data is None:
        candidates.append(reply.text.strip())
    for value in candidates:
        if isinstance(value, str) and urlsplit(value.strip()).scheme in ("https", "http"):
            if urlsplit(value.strip()).netloc:
                return value.strip()
    return None


class ListAnswer(NamedTuple):
    items: list[Any]
    # The v3 answer's recordsFiltered: how many records there are in all (None for a bare array).
    total: int | None


def list_answer(data: Any) -> ListAnswer | None:
    """A list answer in a documented shape, or None for any other (the caller refuses it):
    a bare array (getAvailableSBCGatewayRegionsByResellerId, "Creating enterprise with restricted
    access"), or the v3 answer (getBillingSummaryReport, "Generating reports guide"), whose one
    `..List` under `data._embedded` holds the records; an empty v3 answer has no `_embedded`
    (HAL leaves an empty collection out)."""
    if isinstance(data, list):
        return ListAnswer(data, None)
    if not isinstance(data, dict) or not _V3_KEYS <= data.keys() or not isinstance(data["data"], dict):
        return None
    total = as_int(data["recordsFiltered"])
    if total is None or total < 0:
        return None
    embedded = data["data"].get("_embedded")
    if embedded is None:
        return ListAnswer([], 0) if total == 0 else None
    lists = [v for k, v in embedded.items() if k.endswith("List")] if isinstance(embedded, dict) else []
    if len(lists) != 1 or not isinstance(lists[0], list):
        return None
    return ListAnswer(lists[0], total)


def answer_keys(data: Any) -> str:
    """What an answer looks like, for a log line: its keys (and those of a `data` object), never
    its values, which may name people."""
    if isinstance(data, dict):
        keys = [str(k)[:40] for k in list(data)[:20]]
        inner = data.get("data")
        if isinstance(inner, dict):
            keys.append("data{" + ", ".join(str(k)[:40] for k in list(inner)[:20]) + "}")
        return "keys " + ", ".join(keys) if keys else "an empty object"
    if isinstance(data, list):
        return f"an array of {len(data)} item(s)"
    if data is None:
        return "no JSON"
    return f"a JSON {type(data).__name__}"


def enterprise_from(raw: Any, listed_under: str) -> Enterprise | None:
    """One item of getEnterprisesForReseller, or None without a tenant id or an enterprise id."""
    if not isinstance(raw, dict):
        return None
    tenant_id = _first_str(raw, ("tenantId", "tenantID", "msTenantId", "o365TenantId", "azureTenantId"))
    enterprise_id = _first_str(raw, ("enterpriseId", "id"))
    if not tenant_id or not enterprise_id:
        return None
    name = _first_str(raw, ("enterpriseName", "name", "companyName")) or tenant_id
    reseller = _first_str(raw, ("resellerId",)) or listed_under
    gateways = raw.get("sbcGateways")
    gateway_ids: frozenset[int] | None = None
    if isinstance(gateways, list) and gateways:
        ids = [as_int(g.get("sbcGatewayId") if isinstance(g, dict) else g) for g in gateways]
        gateway_ids = frozenset(i for i in ids if i)
    return Enterprise(
        enterprise_id=enterprise_id,
        name=name,
        tenant_id=tenant_id,
        reseller_id=reseller,
        sbc_gateway_ids=gateway_ids,
    )


def _first_str(raw: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = raw.get(key)
        if isinstance(value, bool):
            continue
        if isinstance(value, int | str) and str(value).strip():
            return str(value).strip()
    return None


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def as_positive_float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def platform_id(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *params.items()]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _one_line(text: str) -> str:
    cleaned = "".join(" " if unicodedata.category(c) in ("Cc", "Cf") else c for c in str(text))
    return " ".join(cleaned.split())


_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")


def holder_named(message: str, record: PhoneUserRecord) -> str | None:
    """The other user a "taken" message names, if it names one (not the SIP user, not ourselves)."""
    for candidate in _EMAIL.findall(message):
        if candidate.casefold() == record.upn.casefold() or candidate.startswith(f"{record.extension}@"):
            continue
        return candidate
    return None


def strings_in(value: Any) -> list[str]:
    """The long strings inside a (nested) value: the tokens of an MSAL result, to scrub from messages."""
    if isinstance(value, str):
        return [value] if len(value) >= 16 else []
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings_in(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return []
