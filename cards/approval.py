"""The approval card a tenant's global admins get for a partner's request; every copy shows the
current state (who decided, when, and how provisioning went)."""

from __future__ import annotations

from microsoft_teams.cards import (
    AdaptiveCard,
    CardElement,
    ExecuteAction,
    RefreshDefinition,
    ShowCardAction,
    TextInput,
)

from cards.common import (
    VERB_APPROVAL_REFRESH,
    VERB_APPROVE,
    VERB_REJECT,
    VERB_RETRY,
    banner,
    card,
    decision_line,
    execute,
    facts,
    field_error,
    heading,
    paragraph,
    request_data,
    sign_in_block,
    when,
)
from cards.progress import cancelled_text, step_lines
from cards.review import request_facts
from services.models import ProvisioningRequest, RequestState

MAX_REFRESH_USERS = 60


def approval_card(
    request: ProvisioningRequest,
    requester_org: str,
    approver_user_ids: list[str] | None = None,
    error: str | None = None,
) -> AdaptiveCard:
    upn = str(request.values.get("teams_user", ""))
    state = request.state
    title = {
        RequestState.awaiting_approval: f"Approve a new phone user for {request.tenant_name}?",
        RequestState.rejected: f"Rejected: new phone user for {request.tenant_name}",
        RequestState.done: f"Approved and done: new phone user for {request.tenant_name}",
        RequestState.failed: f"Approved, but a step failed: new phone user for {request.tenant_name}",
        RequestState.cancelled: f"Approved, then stopped: new phone user for {request.tenant_name}",
        RequestState.awaiting_admin_sign_in: (
            f"Approved: a Global Admin must sign in to finish (new phone user for {request.tenant_name})"
        ),
    }.get(state, f"Approved: new phone user for {request.tenant_name}")
    body: list[CardElement] = [heading(title)]
    line = decision_line(request)
    if line and state is not RequestState.awaiting_approval:
        body.append(banner(f"**{line}**", "attention" if state is RequestState.rejected else "good"))
    body += [
        paragraph(
            f"{request.requester_name} ({requester_org}) added {upn} at {when(request.created_at)}."
            + (
                " Approving syncs Teams users and enables calling for this user."
                if state is RequestState.awaiting_approval
                else ""
            ),
        ),
        facts([("Request", request.short_id), *request_facts(request)]),
    ]
    data = request_data(request.request_id, request.version)
    actions = []
    if state is RequestState.awaiting_approval:
        if error:
            body.append(field_error(error))
        actions = [
            execute("Approve", VERB_APPROVE, data, style="positive", validate_inputs=False),
            ShowCardAction(
                title="Reject",
                card=card(
                    [
                        TextInput(
                            id="reason",
                            label="Why? The partner sees this.",
                            is_multiline=True,
                            is_required=True,
                            error_message="Please give a reason.",
                            max_length=500,
                        )
                    ],
                    [execute("Reject request", VERB_REJECT, data, style="destructive")],
                ),
            ),
        ]
    else:
        if state is not RequestState.rejected:
            body.append(paragraph("\n\n".join(step_lines(request))))
        if state is RequestState.done:
            body.append(banner("**Done.** Calling is enabled for this user.", "good"))
        elif state is RequestState.failed:
            body.append(banner(f"**That did not work.** {request.error or ''}", "attention"))
            if request.resume_state is not None:
                actions.append(execute("Try again", VERB_RETRY, data, style="positive"))
        elif state is RequestState.awaiting_admin_sign_in:
            block, actions = sign_in_block(request, can_sign_in=True)
            body += block
        elif state is RequestState.cancelled:
            body.append(banner(f"**{cancelled_text(request)}**", "attention"))
        elif state is not RequestState.rejected:
            body.append(paragraph("Working... this card updates when each step ends.", subtle=True))
    refresh = None
    if approver_user_ids:
        refresh = RefreshDefinition(
            action=ExecuteAction(
                title="Refresh", verb=VERB_APPROVAL_REFRESH, data={"requestId": request.request_id}
            ),
            user_ids=approver_user_ids[:MAX_REFRESH_USERS],
        )
    result = card(body, actions)
    result.refresh = refresh
    return result
