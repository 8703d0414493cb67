"""The audit card: the last entries of a tenant's audit trail."""

from __future__ import annotations

from microsoft_teams.cards import AdaptiveCard

from cards.common import card, facts, heading, paragraph
from cards.progress import STATE_LABELS
from services.models import AuditEntry, RequestState


def audit_card(tenant_name: str, entries: list[AuditEntry]) -> AdaptiveCard:
    if not entries:
        return card([heading(f"Audit: {tenant_name}"), paragraph("Nothing recorded yet.")])
    rows = []
    for e in entries:
        states = (
            STATE_LABELS.get(RequestState(e.from_state)) if e.from_state else "-",
            STATE_LABELS.get(RequestState(e.to_state)) if e.to_state else "-",
        )
        change = f"({states[0]} → {states[1]})" if (e.from_state or e.to_state) else ""
        request = f" · request {e.request_id[:8]}" if e.request_id else ""
        rows.append(
            (
                f"{e.at:%Y-%m-%d %H:%M}",
                f"{e.actor_name or e.actor_id}: {e.action} {change}{request} · {e.outcome}",
            )
        )
    count = "the last entry" if len(entries) == 1 else f"the last {len(entries)} entries"
    return card(
        [heading(f"Audit: {tenant_name}"), paragraph(f"Newest first, {count}.", subtle=True), facts(rows)]
    )
