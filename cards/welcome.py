"""The welcome and help card: what the bot does and where to start, in the reader's language; and the
card that answers a typo with the command it was likely meant to be."""

from __future__ import annotations

from microsoft_teams.cards import AdaptiveCard

from cards.common import card, command, heading, paragraph
from i18n import ENGLISH_WORDS, Words
from services.models import AUDIT_PAGE_SIZE, Role

# The commands only a tenant's global admins use (a partner's help leaves them out).
ADMINS_ONLY = ("pending", "audit", "consent")


def commands(words: Words, role: Role | None = None) -> list[tuple[str, str]]:
    """Each command as the reader types it, and what it does (dialogs/commands.py knows both
    spellings); for a partner, without the global admins' own."""
    hidden = {words(c) for c in ADMINS_ONLY} if role is Role.partner else set()
    return [c for c in _commands(words) if c[0] not in hidden]


def _commands(words: Words) -> list[tuple[str, str]]:
    return [
        (words("add user"), words("add a Teams phone user to the Phone Connector")),
        (
            words("phone users"),
            words(
                "see your phone users and their state (add a name, an address or an extension to "
                "search); open one to change it, reset its device password, disable or enable its "
                "calling, or remove it"
            ),
        ),
        (
            words("bulk add"),
            words("many phone users at once: the rows on the next lines, a report, then add them"),
        ),
        (words("my requests"), words("see the requests you made and where they stand")),
        (words("pending"), words("global admins: partner requests waiting for your approval")),
        (
            words("audit"),
            words(
                "global admins: your tenant's audit trail, newest first, {count} entries a page "
                "(**audit all** also shows drafts and cancels)",
                count=AUDIT_PAGE_SIZE,
            ),
        ),
        (
            words("consent"),
            words(
                "global admins: what your provider may do for your tenant at the platform, and the pages "
                "to allow it (so calling is enabled without your sign-in each time)"
            ),
        ),
        (words("language"), words("English or French: choose the language I write to you in")),
        (words("help"), words("show this card")),
        (words("cancel"), words("stop what you are doing, at any step")),
    ]


def welcome_card(name: str, role: Role, words: Words = ENGLISH_WORDS) -> AdaptiveCard:
    greeting = words("Hi {name}!", name=name) if name else words("Hi!")
    if role is Role.tenant_admin:
        who = words(
            "You are a global administrator of your tenant: you can add phone users "
            "to the Teams Phone Connector here, without the provisioning portal."
        )
    elif role is Role.partner:
        who = words(
            "You are a partner: pick one of the enterprises you manage and add phone users "
            "there; a global admin of that tenant approves the last steps."
        )
    else:
        who = words(
            "Only a tenant's global administrators and the partners who manage the tenant "
            "can add phone users. Ask your administrator if you need one."
        )
    lines = "\n".join(
        "- " + words("**{command}**: {meaning}", command=c, meaning=d) for c, d in commands(words, role)
    )
    return card(
        [
            heading(words("Teams Phone Connector")),
            paragraph(greeting),
            paragraph(who),
            paragraph(words("You can also type:") + f"\n\n{lines}", subtle=True),
        ],
        [
            command(words("Add a phone user"), "add user"),
            command(words("Phone users"), "phone users"),
            command(words("My requests"), "my requests"),
            command(words("Help"), "help"),
        ],
    )


def did_you_mean_card(shown: str, command_text: str, words: Words = ENGLISH_WORDS) -> AdaptiveCard:
    """A typo's answer: the command it likely meant (`shown` as the reader types it), a button that
    sends it (`command_text`), and where to see them all."""
    return card(
        [
            paragraph(words("Did you mean **{command}**?", command=shown)),
            paragraph(words("Type **help** to see every command."), subtle=True),
        ],
        [command(shown[:1].upper() + shown[1:], command_text), command(words("Help"), "help")],
    )
