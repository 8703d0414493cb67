"""The "My requests" card: the user's requests, newest first, with where each one stands."""

from __future__ import annotations

from microsoft_teams.cards import AdaptiveCard

from cards.actions import action_title
from cards.common import card, command, decision_line, heading, label_line, paragraph
from cards.progress import STATE_LABELS
from i18n import ENGLISH_WORDS, Words
from services.models import ProvisioningRequest, RequestAction, RequestState


def my_requests_card(requests: list[ProvisioningRequest], words: Words = ENGLISH_WORDS) -> AdaptiveCard:
    # The button sends the English command: dialogs/ understand it whatever the reader's language.
    add = command(words("Add a phone user"), "add user")
    if not requests:
        return card([heading(words("My requests")), paragraph(words("You have no requests yet."))], [add])
    lines = []
    for r in requests:
        who = r.person or words("(not chosen yet)")
        if r.action is not RequestAction.add:
            who = action_title(r, words)
        ext = r.values.get("extension")
        label = words(STATE_LABELS[r.state])
        if r.error_text and r.state is RequestState.failed:
            label = label_line(label, words(r.error_text), words)
        decided = f", {decision_line(r, words)}" if r.decided_by else ""
        lines.append(
            f"- **{who}**"
            + (", " + words("ext. {extension}", extension=ext) if ext else "")
            + f" · {r.tenant_name} · **{label}**{decided}"
            + " · "
            + words("request {request}, {time}", request=r.short_id, time=words.when(r.updated_at))
        )
    return card([heading(words("My requests")), paragraph("\n".join(lines))], [add])
