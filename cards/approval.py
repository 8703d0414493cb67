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

from cards.actions import (
    action_done,
    action_facts,
    action_step_lines,
    action_title,
    action_what,
    portal_block,
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
    label_line,
    paragraph,
    request_data,
    sign_in_block,
)
from cards.progress import WORKING, cancelled_text, did_not_work, step_lines
from cards.request_state import TURNED_DOWN, undone_text
from cards.review import request_facts
from i18n import ENGLISH_WORDS, Text, Words
from services.models import ProvisioningRequest, RequestAction, RequestState

MAX_REFRESH_USERS = 60


def reject_action(title: str, verb: str, data: dict[str, object], words: Words) -> ShowCardAction:
    """ "Reject": a reason the partner will read (required), then `title` sends it with `verb`."""
    reason = TextInput(
        id="reason",
        label=words("Why? The partner sees this."),
        is_multiline=True,
        is_required=True,
        error_message=words("Please give a reason."),
        max_length=500,
    )
    return ShowCardAction(
        title=words("Reject"), card=card([reason], [execute(title, verb, data, style="destructive")])
    )


def approval_card(
    request: ProvisioningRequest,
    requester_org: str,
    approver_user_ids: list[str] | None = None,
    error: str | Text | None = None,
    words: Words = ENGLISH_WORDS,
) -> AdaptiveCard:
    upn = request.person
    state = request.state
    tenant = request.tenant_name
    titles = {
        RequestState.awaiting_approval: words("Approve a new phone user for {tenant}?", tenant=tenant),
        RequestState.rejected: words("Rejected: new phone user for {tenant}", tenant=tenant),
        RequestState.expired: words("Expired: new phone user for {tenant}", tenant=tenant),
        RequestState.done: words("Approved and done: new phone user for {tenant}", tenant=tenant),
        RequestState.failed: words("Approved, but a step failed: new phone user for {tenant}", tenant=tenant),
        RequestState.cancelled: words("Approved, then stopped: new phone user for {tenant}", tenant=tenant),
        RequestState.awaiting_admin_sign_in: words(
            "Approved: a Global Admin must sign in to finish (new phone user for {tenant})", tenant=tenant
        ),
    }
    title = titles.get(state) or words("Approved: new phone user for {tenant}", tenant=tenant)
    adding = request.action is RequestAction.add
    if not adding:
        title = words("{action} ({tenant})", action=action_title(request, words), tenant=tenant)
        outcome = {
            RequestState.done: words("Done"),
            RequestState.rejected: words("Rejected"),
            RequestState.expired: words("Expired"),
            RequestState.failed: words("Failed"),
        }.get(state)
        if outcome:
            title = label_line(outcome, title, words)
    body: list[CardElement] = [heading(title)]
    line = decision_line(request, words)
    if line and state is not RequestState.awaiting_approval:
        body.append(banner(f"**{line}**", "attention" if state in TURNED_DOWN else "good"))
    added = words(
        "{requester} ({organization}) added {user} ({time}).",
        requester=request.requester_name,
        organization=requester_org,
        user=upn,
        time=words.when(request.created_at),
    )
    if state is RequestState.awaiting_approval:
        added += " " + words("Approving syncs Teams users and enables calling for this user.")
    details = request_facts(request, words)
    if not adding:
        added = words(
            "{requester} ({organization}) asked for this ({time}).",
            requester=request.requester_name,
            organization=requester_org,
            time=words.when(request.created_at),
        )
        added += " " + action_what(request, words)
        if request.action is not RequestAction.change:
            details = action_facts(request, words)
    body += [paragraph(added), facts([(words("Request"), request.short_id), *details])]
    data = request_data(request.request_id, request.version)
    actions = []
    if state is RequestState.awaiting_approval:
        if error:
            body.append(field_error(words(error)))
        actions = [
            execute(words("Approve"), VERB_APPROVE, data, style="positive", validate_inputs=False),
            reject_action(words("Reject request"), VERB_REJECT, data, words),
        ]
    else:
        if state in TURNED_DOWN:
            body.append(paragraph(undone_text(request, words)))
        else:
            lines = step_lines(request, words) if adding else action_step_lines(request, words)
            body.append(paragraph("\n\n".join(lines)))
        if state is RequestState.done:
            done = (
                words("**Done.** Calling is enabled for {user}.", user=upn)
                if adding
                else action_done(request, words)
            )
            body.append(banner(done, "good"))
        elif state is RequestState.failed:
            body.append(banner(did_not_work(request, words), "attention"))
            if request.resume_state is not None:
                actions.append(execute(words("Try again"), VERB_RETRY, data, style="positive"))
        elif state is RequestState.awaiting_admin_sign_in:
            block, actions = sign_in_block(request, can_sign_in=True, words=words)
            body += block
        elif state is RequestState.awaiting_portal:
            block, actions = portal_block(request, can_confirm=True, words=words)
            body += block
        elif state is RequestState.cancelled:
            body.append(banner(f"**{cancelled_text(request, words)}**", "attention"))
        elif state not in TURNED_DOWN:
            body.append(paragraph(words(WORKING), subtle=True))
    refresh = None
    if approver_user_ids:
        refresh = RefreshDefinition(
            action=ExecuteAction(
                title=words("Refresh"), verb=VERB_APPROVAL_REFRESH, data={"requestId": request.request_id}
            ),
            user_ids=approver_user_ids[:MAX_REFRESH_USERS],
        )
    result = card(body, actions)
    result.refresh = refresh
    return result
