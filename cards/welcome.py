"""The welcome and help card: what the bot does and where to start."""

from __future__ import annotations

from microsoft_teams.cards import AdaptiveCard

from cards.common import card, command, heading, paragraph
from services.models import Role

COMMANDS = [
    ("add user", "add a Teams phone user to the Phone Connector"),
    ("my requests", "see the requests you made and where they stand"),
    ("pending", "global admins: partner requests waiting for your approval"),
    ("audit", "global admins: the last 50 entries of your tenant's audit trail"),
    ("help", "show this card"),
    ("cancel", "stop what you are doing, at any step"),
]


def welcome_card(name: str, role: Role) -> AdaptiveCard:
    greeting = f"Hi {name}!" if name else "Hi!"
    if role is Role.tenant_admin:
        who = (
            "You are a global administrator of your tenant: you can add phone users "
            "to the Teams Phone Connector here, without the provisioning portal."
        )
    elif role is Role.partner:
        who = (
            "You are a partner: pick one of the enterprises you manage and add phone users "
            "there; a global admin of that tenant approves the last steps."
        )
    else:
        who = (
            "Only a tenant's global administrators and the partners who manage the tenant "
            "can add phone users. Ask your administrator if you need one."
        )
    lines = "\n".join(f"- **{c}**: {d}" for c, d in COMMANDS)
    return card(
        [
            heading("Teams Phone Connector"),
            paragraph(greeting),
            paragraph(who),
            paragraph(f"You can also type:\n\n{lines}", subtle=True),
        ],
        [
            command("Add a phone user", "add user"),
            command("My requests", "my requests"),
            command("Help", "help"),
        ],
    )
