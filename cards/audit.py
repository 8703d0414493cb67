"""The audit card: the last entries of a tenant's audit trail."""

from __future__ import annotations

from microsoft_teams.cards import AdaptiveCard

from cards.common import card, facts, heading, paragraph
from services.models import AuditEntry


def audit_card(tenant_name: str, entries: list[AuditEntry]) -> AdaptiveCard:
    if not entries:
        return card([heading(f"Audit: {tenant_name}"), paragraph("Nothing recorded yet.")])
    rows = []
    for e in entries:
        change = f"{e.from_state or '-'} → {e.to_state or '-'}" if (e.from_state or e.to_state) else ""
        request = f" · request {e.request_id[:8]}" if e.request_id else ""
        rows.append(
            (
                f"{e.at:%Y-%m-%d %H:%M}",
                f"{e.actor_name or e.actor_id}: {e.action} {change}{request} · {e.outcome}",
            )
        )
    return card([heading(f"Audit: {tenant_name}, last {len(entries)} entries"), facts(rows)])
