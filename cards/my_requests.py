"""The "My requests" card: the user's requests, newest first, with where each one stands."""

from __future__ import annotations

from microsoft_teams.cards import AdaptiveCard

from cards.common import card, command, decision_line, heading, paragraph
from cards.progress import STATE_LABELS
from services.models import ProvisioningRequest


def my_requests_card(requests: list[ProvisioningRequest]) -> AdaptiveCard:
    if not requests:
        return card(
            [heading("My requests"), paragraph("You have no requests yet.")],
            [command("Add a phone user", "add user")],
        )
    lines = []
    for r in requests:
        who = str(r.values.get("teams_user") or "(not chosen yet)")
        ext = r.values.get("extension")
        label = STATE_LABELS[r.state]
        if r.error and r.state.value == "failed":
            label += f": {r.error}"
        decided = f", {decision_line(r)}" if r.decided_by else ""
        lines.append(
            f"- **{who}**"
            + (f", ext. {ext}" if ext else "")
            + f" · {r.tenant_name} · **{label}**{decided}"
            + f" · request {r.short_id}, {r.updated_at:%Y-%m-%d %H:%M} UTC"
        )
    return card(
        [heading("My requests"), paragraph("\n".join(lines))],
        [command("Add a phone user", "add user")],
    )
