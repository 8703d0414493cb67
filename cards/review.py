"""The review card: every value once more before anything is sent to the provisioning service."""

from __future__ import annotations

from microsoft_teams.cards import AdaptiveCard

from cards.add_user_form import dial_plan_warning, voicemail_warning
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
from cards.request_state import approved_before
from i18n import ENGLISH_WORDS, Words
from services.models import ProvisioningRequest, RequestAction, RequestKind
from services.requests.form import FROM_EXTENSION


def yes_no(value: object, words: Words = ENGLISH_WORDS) -> str:
    return words("Yes") if value in (True, "true") else words("No")


def request_facts(request: ProvisioningRequest, words: Words = ENGLISH_WORDS) -> list[tuple[str, str]]:
    v = request.values
    extension = str(v.get("extension", ""))
    sip_user = extension
    old = str(v.get(FROM_EXTENSION) or "")
    if request.action is RequestAction.change and old and old != extension:
        sip_user = words("{old} → {extension}", old=old, extension=extension)
    return [
        (words("Tenant"), request.tenant_name),
        (words("PBX location"), str(v.get("pbx_location", ""))),
        (words("Voice route"), str(v.get("voice_route", ""))),
        (words("Teams user"), request.person),
        (words("SIP user"), sip_user),
        (words("Phone number"), str(v.get("phone_number") or extension)),
        (words("Disable voicemail in Teams"), yes_no(v.get("disable_voicemail", True), words)),
        (words("Default dial plan policy"), yes_no(v.get("default_dial_plan", True), words)),
        (words("SIP authentication ID"), str(v.get("sip_auth_id", ""))),
        (
            words("Device password"),
            words("unchanged")
            if request.action is RequestAction.change
            else words("generated: 8 characters"),
        ),
    ]


def review_card(request: ProvisioningRequest, words: Words = ENGLISH_WORDS) -> AdaptiveCard:
    changing = request.action is RequestAction.change
    title = words("Check and change") if changing else words("Check and add")
    body = [heading(title), facts(request_facts(request, words))]
    if request.values.get("disable_voicemail") in (False, "false"):
        body.append(banner(voicemail_warning(words), "warning"))
    if request.values.get("default_dial_plan") in (False, "false"):
        body.append(banner(dial_plan_warning(words), "warning"))
    if request.kind is RequestKind.partner and changing:
        body.append(approved_before(request.tenant_name, words))
    elif request.kind is RequestKind.partner:
        body.append(
            paragraph(
                words(
                    "After the user is added, a global admin of {tenant} is asked "
                    "to approve syncing and enabling calling.",
                    tenant=request.tenant_name,
                ),
                subtle=True,
            )
        )
    data = request_data(request.request_id, request.version)
    return card(
        body,
        [
            execute(
                words("Change user") if changing else words("Add user"),
                VERB_CONFIRM,
                data,
                style="positive",
                validate_inputs=False,
            ),
            execute(words("Edit"), VERB_EDIT, data, validate_inputs=False),
            execute(words("Cancel"), VERB_CANCEL, data, validate_inputs=False),
        ],
    )
