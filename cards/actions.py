"""The cards of the actions on one phone user (issue 16): the confirmation before anything is sent,
the progress card that updates in place, what waits for steps in the portal, and the words each
action needs on the cards an add shares with them (the approval card, the partner's notices)."""

from __future__ import annotations

from typing import Any

from microsoft_teams.cards import ActionSet, AdaptiveCard, CardElement, OpenUrlAction

from cards.common import (
    VERB_CANCEL,
    VERB_CONFIRM,
    VERB_PORTAL_DONE,
    VERB_RETRY,
    banner,
    card,
    command,
    decision_line,
    execute,
    facts,
    heading,
    label_line,
    paragraph,
    request_data,
    sign_in_block,
)
from cards.request_state import (
    ICONS,
    NOT_RUN,
    NOTHING_SENT,
    STATE_LABELS,
    TURNED_DOWN,
    WORKING,
    approved_before,
    did_not_work,
    undone_text,
)
from i18n import ENGLISH_WORDS, N_, Text, Words, as_text
from services.models import (
    APPROVED_FIRST,
    ProvisioningRequest,
    RequestAction,
    RequestKind,
    RequestState,
    StepOutcome,
)
from services.requests.action_steps import PORTAL_STEPS, PORTAL_URL
from services.requests.form import DISPLAY_NAME, FROM_EXTENSION

# A lone "-" is a list item to Teams' markdown: an em dash is not.
NONE = "—"


def _names(request: ProvisioningRequest) -> dict[str, str]:
    v = request.values
    upn = str(v.get("teams_user") or "")
    return {
        "name": str(v.get(DISPLAY_NAME) or upn),
        "upn": upn,
        "extension": str(v.get("extension") or NONE),
        "old": str(v.get(FROM_EXTENSION) or NONE),
        "tenant": request.tenant_name,
    }


def action_title(request: ProvisioningRequest, words: Words = ENGLISH_WORDS) -> str:
    """What the request does, as a card's heading ("Remove Megan Bowen")."""
    n = _names(request)
    titles = {
        RequestAction.change: N_("Change {name}"),
        RequestAction.reset_password: N_("New device password for {name}"),
        RequestAction.disable_calling: N_("Disable calling for {name}"),
        RequestAction.enable_calling: N_("Enable calling for {name}"),
        RequestAction.remove: N_("Remove {name}"),
    }
    return words(titles[request.action], name=n["name"])


def action_what(request: ProvisioningRequest, words: Words = ENGLISH_WORDS) -> str:
    """What happens when the action is confirmed, in full (the confirmation and approval cards)."""
    n = _names(request)
    action = request.action
    if action is RequestAction.change:
        return words(
            "{name} moves from extension {old} to {extension} with the values below; the old "
            "extension becomes free. Teams users are synced afterwards.",
            **n,
        )
    if action is RequestAction.reset_password:
        return words(
            "A new device password (8 letters and digits) is generated and sent straight to the PBX "
            "side for {name}'s SIP device. Nobody sees it and the bot does not keep it.",
            **n,
        )
    if action is RequestAction.disable_calling:
        return words(
            "{name} can no longer make or receive Teams calls through the PBX until calling is enabled "
            "again. Extension {extension} stays theirs.",
            **n,
        )
    if action is RequestAction.enable_calling:
        return words("{name} can make and receive Teams calls on extension {extension} again.", **n)
    return words(
        # Not "1. ... 2. ...": Teams' markdown makes a list of a leading "1." and cuts it short.
        "First, calling is disabled for {name}; then {name} is deleted from the Teams Phone Connector "
        "and extension {extension} becomes free. Afterwards, remove their Teams Phone licence in the "
        "Microsoft 365 admin center if they no longer need it.",
        **n,
    )


def action_facts(request: ProvisioningRequest, words: Words = ENGLISH_WORDS) -> list[tuple[str, str]]:
    n = _names(request)
    v = request.values
    return [
        (words("Tenant"), request.tenant_name),
        (words("Teams user"), n["upn"]),
        (words("PBX location"), str(v.get("pbx_location") or NONE)),
        (words("Extension"), n["extension"]),
        (words("Phone number"), str(v.get("phone_number") or NONE)),
        (words("Voice route"), str(v.get("voice_route") or NONE)),
    ]


CONFIRM_LABELS = {
    RequestAction.reset_password: N_("Reset the device password"),
    RequestAction.disable_calling: N_("Disable calling"),
    RequestAction.enable_calling: N_("Enable calling"),
    RequestAction.remove: N_("Remove"),
}


def action_confirm_card(request: ProvisioningRequest, words: Words = ENGLISH_WORDS) -> AdaptiveCard:
    """The confirmation of a new device password, a disable, an enable or a removal: what happens,
    and who decides, before anything is sent."""
    body: list[CardElement] = [
        heading(action_title(request, words) + "?"),
        paragraph(action_what(request, words)),
        facts(action_facts(request, words)),
    ]
    if request.kind is RequestKind.partner and request.action in APPROVED_FIRST:
        body.append(approved_before(request.tenant_name, words))
    data = request_data(request.request_id, request.version)
    destructive = request.action in (RequestAction.remove, RequestAction.disable_calling)
    return card(
        body,
        [
            execute(
                words(CONFIRM_LABELS[request.action]),
                VERB_CONFIRM,
                data,
                style="destructive" if destructive else "positive",
                validate_inputs=False,
            ),
            execute(words("Cancel"), VERB_CANCEL, data, validate_inputs=False),
        ],
    )


def action_step_lines(request: ProvisioningRequest, words: Words = ENGLISH_WORDS) -> list[str]:
    s = request.steps
    stopped = request.state in (
        RequestState.failed,
        RequestState.rejected,
        RequestState.expired,
        RequestState.awaiting_approval,
        RequestState.cancelled,
    )
    n = _names(request)

    def line(outcome: StepOutcome, step: str, note: str | Text) -> str:
        icon = NOT_RUN if stopped and outcome is StepOutcome.pending else ICONS[outcome]
        return f"{icon} " + (label_line(step, words(note), words) if note else step)

    action = request.action
    if action is RequestAction.change:
        return [
            line(
                s.add_user,
                words("Change {user} at the provisioning service", user=n["upn"]),
                s.text_of("add_user") if s.add_user is StepOutcome.failed else "",
            ),
            line(s.sync, words("Sync Teams users"), s.text_of("sync")),
        ]
    if action is RequestAction.reset_password:
        return [line(s.add_user, words("Send a new device password"), s.text_of("add_user"))]
    if action is RequestAction.enable_calling:
        return [line(s.calling, words("Enable calling"), s.text_of("calling"))]
    lines = [line(s.calling, words("Disable calling"), s.text_of("calling"))]
    if action is RequestAction.remove:
        step = words("Delete {user} and free extension {extension}", user=n["upn"], extension=n["extension"])
        lines.append(line(s.delete, step, s.text_of("delete")))
    return lines


def action_done(request: ProvisioningRequest, words: Words = ENGLISH_WORDS) -> str:
    """The banner of a finished action."""
    n = _names(request)
    action = request.action
    if action is RequestAction.change:
        return words("**Done.** {name} now has extension {extension}.", **n)
    if action is RequestAction.reset_password:
        return words(
            "**Done.** {name}'s SIP device has a new password; nobody has seen it. Their device "
            "registers with it from now on.",
            **n,
        )
    if action is RequestAction.disable_calling:
        return words("**Done.** Calling is disabled for {name}.", **n)
    if action is RequestAction.enable_calling:
        return words("**Done.** Calling is enabled for {name}.", **n)
    return words(
        "**Done.** {name} is removed and extension {extension} is free. Remove their Teams Phone "
        "licence in the Microsoft 365 admin center if they no longer need it.",
        **n,
    )


def portal_block(
    request: ProvisioningRequest, *, can_confirm: bool, words: Words = ENGLISH_WORDS
) -> tuple[list[CardElement], list[Any]]:
    """While the request waits for steps in the portal: what to do there, the portal's page, and
    "Done in the portal" for those who may say so."""
    steps = as_text(str(request.values.get(PORTAL_STEPS) or ""))
    text = words("**To do in the portal.** {steps}", steps=words(steps) if steps else "")
    if not can_confirm:
        text += " " + words(
            "A global admin of {tenant} does this; this card updates when it is done.", **_names(request)
        )
        return [banner(text, "warning")], []
    body: list[CardElement] = [banner(text, "warning")]
    url = str(request.values.get(PORTAL_URL) or "")
    if url:
        body.append(
            ActionSet(actions=[OpenUrlAction(title=words("Open the portal"), url=url)], spacing="Medium")
        )
    data = request_data(request.request_id, request.version)
    return body, [execute(words("Done in the portal"), VERB_PORTAL_DONE, data, style="positive")]


def _label(state: RequestState) -> str:
    """The state's name on an action's card: "submitted" is an add's "Adding the user"."""
    return IN_PROGRESS if state is RequestState.submitted else STATE_LABELS[state]


IN_PROGRESS = N_("In progress")


def action_progress_card(request: ProvisioningRequest, words: Words = ENGLISH_WORDS) -> AdaptiveCard:
    """The card of an action once confirmed, as its requester sees it; updated after every step."""
    state = request.state
    body: list[CardElement] = [
        heading(action_title(request, words)),
        paragraph(
            words("Request {request} · {state}", request=request.short_id, state=words(_label(state))),
            subtle=True,
        ),
    ]
    if request.kind is RequestKind.partner and (request.decided_by or state in TURNED_DOWN):
        line = decision_line(request, words)
        body.append(banner(f"**{line}**", "attention" if state in TURNED_DOWN else "good"))
    body.append(paragraph("\n\n".join(action_step_lines(request, words))))
    actions: list[Any] = []
    data = request_data(request.request_id, request.version)
    approvers_wait = request.kind is RequestKind.partner
    if state is RequestState.done:
        body.append(banner(action_done(request, words), "good"))
        # The button sends the English command: dialogs/ understand it whatever the reader's language.
        actions.append(command(words("Phone users"), "phone users"))
    elif state is RequestState.failed:
        body.append(banner(did_not_work(request, words), "attention"))
        if request.resume_state is not None and not (approvers_wait and request.decided_by):
            actions.append(execute(words("Try again"), VERB_RETRY, data, style="positive"))
        if request.resume_state is RequestState.submitted:
            actions.append(execute(words("Cancel"), VERB_CANCEL, data))
    elif state is RequestState.awaiting_admin_sign_in:
        block, actions = sign_in_block(request, can_sign_in=not approvers_wait, words=words)
        body += block
    elif state is RequestState.awaiting_portal:
        block, actions = portal_block(
            request, can_confirm=not (approvers_wait and request.decided_by), words=words
        )
        body += block
    elif state is RequestState.awaiting_approval:
        body.append(
            paragraph(
                words(
                    "Waiting for a global admin of {tenant} to approve it. Nothing is done before that.",
                    tenant=request.tenant_name,
                )
            )
        )
    elif state in TURNED_DOWN:
        body.append(paragraph(undone_text(request, words), color="Attention"))
    elif state is RequestState.cancelled:
        body.append(paragraph(words(NOTHING_SENT)))
    else:
        body.append(paragraph(words(WORKING), subtle=True))
    body.append(facts(action_facts(request, words)))
    return card(body, actions)
