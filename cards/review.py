"""The review card: every value once more before anything is sent to the provisioning service."""

from __future__ import annotations

from microsoft_teams.cards import AdaptiveCard

from cards.add_user_form import VOICEMAIL_WARNING
from cards.common import (
    VERB_CANCEL,
    VERB_CONFIRM,
    VERB_EDIT,
    banner,
    card,
    execute,
    facts,
    heading,
    paragraph,
    request_data,
)
from services.models import ProvisioningRequest, RequestKind


def yes_no(value: object) -> str:
    return "Yes" if value in (True, "true") else "No"


def request_facts(request: ProvisioningRequest) -> list[tuple[str, str]]:
    v = request.values
    extension = str(v.get("extension", ""))
    return [
        ("Tenant", request.tenant_name),
        ("PBX location", str(v.get("pbx_location", ""))),
        ("Voice route", str(v.get("voice_route", ""))),
        ("Teams user", str(v.get("teams_user", ""))),
        ("SIP user", extension),
        ("Phone number", str(v.get("phone_number") or extension)),
        ("Disable voicemail in Teams", yes_no(v.get("disable_voicemail", True))),
        ("Default dial plan policy", yes_no(v.get("default_dial_plan", True))),
        ("SIP authentication ID", str(v.get("sip_auth_id", ""))),
        ("Device password", "generated: 8 characters"),
    ]


def review_card(request: ProvisioningRequest) -> AdaptiveCard:
    body = [heading("Check and add"), facts(request_facts(request))]
    if request.values.get("disable_voicemail") in (False, "false"):
        body.append(banner(f"**Teams voicemail stays on.** {VOICEMAIL_WARNING}", "warning"))
    if request.kind is RequestKind.partner:
        body.append(
            paragraph(
                f"After the user is added, a global admin of {request.tenant_name} is asked "
                "to approve syncing and enabling calling.",
                subtle=True,
            )
        )
    data = request_data(request.request_id, request.version)
    return card(
        body,
        [
            execute("Add user", VERB_CONFIRM, data, style="positive", validate_inputs=False),
            execute("Edit", VERB_EDIT, data, validate_inputs=False),
            execute("Cancel", VERB_CANCEL, data, validate_inputs=False),
        ],
    )
