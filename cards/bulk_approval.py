"""The one approval card a tenant's global admins get for a partner's bulk add (issue 18): who asks,
how many users, the first rows, "Approve all" and "Reject" with a reason; once decided, every copy
shows who decided, when, and how the rows went."""

from __future__ import annotations

from microsoft_teams.cards import AdaptiveCard, CardElement

from cards.approval import reject_action
from cards.common import banner, card, command, execute, facts, field_error, heading, paragraph
from cards.request_state import STATE_LABELS
from i18n import ENGLISH_WORDS, N_, Text, Words
from services.models import RequestState
from services.requests.batch_approvals import APPROVED, AWAITING, EXPIRED, REJECTED, BatchApproval

VERB_BULK_APPROVE = "bulk.approve"
VERB_BULK_REJECT = "bulk.reject"

# States a row is still being worked on in (after the approval: sync, enable calling).
_WORKING = frozenset(
    {RequestState.approved, RequestState.synced, RequestState.admin_signed_in, RequestState.calling_enabled}
)


def batch_approval_card(
    approval: BatchApproval,
    requester_org: str,
    error: str | Text | None = None,
    words: Words = ENGLISH_WORDS,
) -> AdaptiveCard:
    tenant, state, c = approval.tenant_name, approval.state, approval.counts
    titles = {
        AWAITING: words(
            "Approve {count} new phone user(s) for {tenant}?", count=approval.waiting_count, tenant=tenant
        ),
        APPROVED: words("Approved: bulk add for {tenant}", tenant=tenant),
        REJECTED: words("Rejected: bulk add for {tenant}", tenant=tenant),
        EXPIRED: words("Expired: bulk add for {tenant}", tenant=tenant),
    }
    body: list[CardElement] = [heading(titles.get(state) or words("Bulk add for {tenant}", tenant=tenant))]
    when = words.when(approval.decided_at) if approval.decided_at else ""
    # The same decision lines as a single request's card (cards/common.py, decision_line).
    if state == APPROVED:
        line = words("Approved by {name} at {time}", name=approval.decided_by, time=when)
        body.append(banner(f"**{line}**", "good"))
    elif state == REJECTED:
        line = words(
            "Rejected by {name} at {time}. Reason: {reason}",
            name=approval.decided_by,
            time=when,
            reason=approval.decision_note or "",
        )
        body.append(banner(f"**{line}**", "attention"))
    elif state == EXPIRED:
        line = words("Expired at {time}: no global admin approved or rejected it in time.", time=when)
        body.append(banner(f"**{line}**", "attention"))
    body.append(
        paragraph(
            words(
                "{requester} ({organization}) added these users at the service with a bulk add ({time}).",
                requester=approval.requester_name,
                organization=requester_org,
                time=words.when(approval.asked_at) if approval.asked_at else "",
            )
        )
    )
    actions: list[object] = []
    if state == AWAITING:
        body.append(
            paragraph(
                words("Approving syncs Teams users once and enables calling for each of them."), subtle=True
            )
        )
        rows = [
            (
                words("Line {line}", line=line),
                " · ".join(
                    part for part in (user, words("ext. {extension}", extension=ext), location, route) if part
                ),
            )
            for line, user, ext, location, route in approval.waiting
        ]
        body.append(facts(rows))
        if approval.waiting_count > len(approval.waiting):
            more = approval.waiting_count - len(approval.waiting)
            body.append(paragraph(words("…and {count} more user(s).", count=more), subtle=True))
        if error:
            body.append(field_error(words(error)))
        data = {"batchId": approval.batch_id, "version": approval.version}
        actions = [
            execute(
                words("Approve all {count}", count=approval.waiting_count),
                VERB_BULK_APPROVE,
                data,
                style="positive",
                validate_inputs=False,
            ),
            reject_action(words("Reject all"), VERB_BULK_REJECT, data, words),
        ]
    else:
        # Each count once it is not zero (Done always), as on the partner's card.
        counts = [
            (N_("Done: {count}"), c[RequestState.done]),
            (N_("Working: {count}"), sum(n for s, n in c.items() if s in _WORKING)),
            (N_("Failed: {count}"), c[RequestState.failed]),
            (N_("Rejected: {count}"), c[RequestState.rejected]),
            (N_("Expired: {count}"), c[RequestState.expired]),
        ]
        shown = [words(text, count=n) for i, (text, n) in enumerate(counts) if n or i == 0]
        body.append(paragraph(" · ".join(shown)))
        # Whom the decision was about, and where each stands.
        rows = [
            (
                words("Line {line}", line=line),
                " · ".join((user, words("ext. {extension}", extension=ext), words(STATE_LABELS[row_state]))),
            )
            for line, user, ext, row_state in approval.decided
        ]
        if rows:
            body.append(facts(rows))
        asked = sum(c.values()) - c[RequestState.draft] - c[RequestState.queued] - c[RequestState.cancelled]
        if len(approval.decided) < asked:
            more = asked - len(approval.decided)
            body.append(paragraph(words("…and {count} more user(s).", count=more), subtle=True))
        if c[RequestState.awaiting_admin_sign_in]:
            body.append(
                banner(
                    words(
                        "{count} user(s) wait for a Global Admin to sign in: type **pending** to see them.",
                        count=c[RequestState.awaiting_admin_sign_in],
                    ),
                    "warning",
                )
            )
            actions.append(command(words("Pending"), "pending"))
    return card(body, actions)
