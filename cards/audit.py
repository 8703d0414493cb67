"""The audit card: the last entries of a tenant's audit trail."""

from __future__ import annotations

from microsoft_teams.cards import AdaptiveCard

from cards.common import card, facts, heading, label_line, paragraph
from cards.progress import STATE_LABELS
from i18n import ENGLISH_WORDS, N_, Text, Words, as_text
from services.models import AuditEntry, RequestState

# The actions services/ record in the trail, by their names there. The English shows the name as
# the trail keeps it (what an admin compares with an export); other languages say what it means.
ACTIONS = {
    "create": N_("create"),
    "edit": N_("edit"),
    "submit": N_("submit"),
    "cancel": N_("cancel"),
    "add_user": N_("add_user"),
    "sync": N_("sync"),
    "approve": N_("approve"),
    "reject": N_("reject"),
    "retry": N_("retry"),
    "remind": N_("remind"),
    "admin_sign_in_asked": N_("admin_sign_in_asked"),
    "admin_signed_in": N_("admin_signed_in"),
    "enable_calling": N_("enable_calling"),
    "finish": N_("finish"),
    "fail": N_("fail"),
    "refused": N_("refused"),
}


def _state(name: str | None, words: Words) -> str:
    return words(STATE_LABELS[RequestState(name)]) if name else "\u2014"  # a lone "-" is a bullet in Teams


def _actor(entry: AuditEntry, words: Words) -> str:
    """A person's name as the directory gave it; the bot's own words (e.g. "the bot") translated."""
    name = as_text(entry.actor_name_text)
    if isinstance(name, Text):
        return words(name)
    return name or entry.actor_id


def audit_card(tenant_name: str, entries: list[AuditEntry], words: Words = ENGLISH_WORDS) -> AdaptiveCard:
    title = heading(words("Audit: {tenant}", tenant=tenant_name))
    if not entries:
        return card([title, paragraph(words("Nothing recorded yet."))])
    rows = []
    for e in entries:
        change = (
            f"({_state(e.from_state, words)} → {_state(e.to_state, words)})"
            if (e.from_state or e.to_state)
            else ""
        )
        request = " · " + words("request {request}", request=e.request_id[:8]) if e.request_id else ""
        # An action this card does not know yet is shown by its name rather than hidden.
        action = words(ACTIONS[e.action]) if e.action in ACTIONS else e.action
        detail = " ".join(part for part in (action, change) if part) + f"{request} · {words(e.outcome_text)}"
        rows.append((words.when(e.at), label_line(_actor(e, words), detail, words)))
    count = (
        words("Newest first, the last entry.")
        if len(entries) == 1
        else words("Newest first, the last {count} entries.", count=len(entries))
    )
    return card([title, paragraph(count, subtle=True), facts(rows)])
