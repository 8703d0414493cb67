"""The "My requests" card: the user's requests, newest first, with where each one stands."""

from __future__ import annotations

from microsoft_teams.cards import AdaptiveCard

from cards.common import card, command, facts, heading, paragraph
from cards.progress import STATE_LABELS
from services.models import ProvisioningRequest


def my_requests_card(requests: list[ProvisioningRequest]) -> AdaptiveCard:
    if not requests:
        return card(
            [heading("My requests"), paragraph("You have no requests yet.")],
            [command("Add a phone user", "add user")],
        )
    rows = []
    for r in requests:
        who = str(r.values.get("teams_user") or "(not chosen yet)")
        ext = r.values.get("extension")
        detail = f"{who}" + (f", ext. {ext}" if ext else "")
        label = STATE_LABELS[r.state]
        if r.error and r.state.value == "failed":
            label += f": {r.error}"
        rows.append(
            (f"{r.short_id} · {r.tenant_name}", f"{detail} · {label} · {r.updated_at:%Y-%m-%d %H:%M} UTC")
        )
    return card(
        [heading("My requests"), facts(rows)],
        [command("Add a phone user", "add user")],
    )
