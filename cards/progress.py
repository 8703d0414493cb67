"""The progress card: one card, updated in place, with each step's outcome and a summary."""

from __future__ import annotations

from microsoft_teams.cards import AdaptiveCard, CardElement

from cards.common import (
    VERB_CANCEL,
    VERB_EDIT,
    VERB_RETRY,
    banner,
    card,
    decision_line,
    execute,
    facts,
    heading,
    paragraph,
    request_data,
    sign_in_block,
)
from cards.review import request_facts
from services.models import ProvisioningRequest, RequestKind, RequestState, StepOutcome

ICONS = {
    StepOutcome.pending: "⏳",
    StepOutcome.done: "✅",
    StepOutcome.skipped: "☑️",
    StepOutcome.failed: "❌",
}

STATE_LABELS = {
    RequestState.draft: "Draft",
    RequestState.submitted: "Adding the user",
    RequestState.user_added: "User added",
    RequestState.awaiting_approval: "Waiting for a global admin",
    RequestState.approved: "Approved",
    RequestState.synced: "Synced",
    RequestState.awaiting_admin_sign_in: "Waiting for a Global Admin sign-in",
    RequestState.admin_signed_in: "Finishing after the Global Admin's sign-in",
    RequestState.calling_enabled: "Calling enabled",
    RequestState.done: "Done",
    RequestState.failed: "Failed",
    RequestState.rejected: "Rejected",
    RequestState.cancelled: "Cancelled",
}


NOT_RUN = "➖"


def step_lines(request: ProvisioningRequest) -> list[str]:
    s = request.steps
    # Once a request has stopped (failed, rejected, waiting for approval), a step that has not run
    # is "not run", not "running".
    stopped = request.state in (
        RequestState.failed,
        RequestState.rejected,
        RequestState.awaiting_approval,
        RequestState.cancelled,
    )

    def icon(outcome: StepOutcome) -> str:
        return NOT_RUN if stopped and outcome is StepOutcome.pending else ICONS[outcome]

    upn = str(request.values.get("teams_user", ""))
    lines = [
        f"{icon(s.add_user)} Add {upn} at the provisioning service"
        + (f": {s.add_user_note}" if s.add_user_note and s.add_user is StepOutcome.failed else ""),
        f"{icon(s.sync)} Sync Teams users" + (f": {s.sync_note}" if s.sync_note else ""),
        f"{icon(s.calling)} Enable calling" + (f": {s.calling_note}" if s.calling_note else ""),
    ]
    return lines


def progress_card(request: ProvisioningRequest) -> AdaptiveCard:
    upn = str(request.values.get("teams_user", ""))
    extension = str(request.values.get("extension", ""))
    state = request.state
    body: list[CardElement] = [heading(f"Adding {upn} (extension {extension})")]
    body.append(paragraph(f"Request {request.short_id} · {STATE_LABELS[state]}", subtle=True))
    if request.kind is RequestKind.partner and request.decided_by:
        body.append(
            banner(f"**{decision_line(request)}**", "attention" if state is RequestState.rejected else "good")
        )
    body.append(paragraph("\n\n".join(step_lines(request))))
    actions = []
    data = request_data(request.request_id, request.version)
    if state is RequestState.done:
        body.append(
            banner(f"**Done.** {upn} can make and receive Teams calls on extension {extension}.", "good")
        )
    elif state is RequestState.failed:
        body.append(banner(f"**That did not work.** {request.error or ''}", "attention"))
        if request.resume_state is not None:
            body.append(paragraph("Nothing you entered is lost: try again when ready.", subtle=True))
            actions.append(execute("Try again", VERB_RETRY, data, style="positive"))
        if request.resume_state is RequestState.submitted:
            actions.append(execute("Edit", VERB_EDIT, data))
            actions.append(execute("Cancel", VERB_CANCEL, data))
    elif state is RequestState.awaiting_admin_sign_in:
        # The requester of an admin's own add is an admin of the tenant; a partner only waits.
        block, actions = sign_in_block(request, can_sign_in=request.kind is RequestKind.admin)
        body += block
    elif state is RequestState.awaiting_approval and request.kind is RequestKind.partner:
        body.append(
            paragraph(
                f"User added. Waiting for a global admin of {request.tenant_name} to enable calling.",
            )
        )
    elif state is RequestState.rejected:
        body.append(
            paragraph(
                "The user was added at the provisioning service, but calling was not enabled.",
                color="Attention",
            )
        )
    elif state is RequestState.cancelled:
        body.append(paragraph(cancelled_text(request)))
    else:
        body.append(paragraph("Working... this card updates when each step ends.", subtle=True))
    body.append(facts(request_facts(request)))
    return card(body, actions)


def cancelled_text(request: ProvisioningRequest) -> str:
    if request.steps.add_user is StepOutcome.done:
        upn = str(request.values.get("teams_user", ""))
        return (
            f"{request.decision_note or 'Stopped'}. {upn} stays added at the provisioning service; "
            "calling was not enabled."
        )
    return "Cancelled. Nothing was sent to the provisioning service."


def cancelled_card(request: ProvisioningRequest) -> AdaptiveCard:
    if request.steps.add_user is StepOutcome.done:
        return progress_card(request)
    return card(
        [
            heading("Add user cancelled"),
            paragraph("Nothing was sent to the provisioning service.", subtle=True),
        ]
    )
