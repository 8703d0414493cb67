"""The `consent` card (issue 20): what the tenant's Global Admin gave the provider at the platform
(the Teams users' sync, management by the service provider, the first sync) and a button to each
consent page not given yet. Without them, enabling calling needs a Global Admin's sign-in each time."""

from __future__ import annotations

from microsoft_teams.cards import AdaptiveCard, CardElement, OpenUrlAction

from cards.common import banner, card, command, facts, heading, paragraph
from i18n import ENGLISH_WORDS, N_, Words
from services.models import ConsentState

SYNC = N_("Sync of the Teams users")
MANAGEMENT = N_("Management by your service provider")
CONSENT_TITLES = {"user_sync": SYNC, "management": MANAGEMENT}


def consent_card(
    tenant: str, state: ConsentState, links: dict[str, str], words: Words = ENGLISH_WORDS
) -> AdaptiveCard:
    """`links`: the consent page of each kind not given yet (they work once, for an hour)."""
    given, missing, unknown = words("Given"), words("Not given yet"), words("Not known yet")
    management = unknown if state.management is None else given if state.management else missing
    body: list[CardElement] = [
        heading(words("Consents of {tenant}", tenant=tenant)),
        facts(
            [
                (words(SYNC), given if state.user_sync else missing),
                (words(MANAGEMENT), management),
                (
                    words("First sync of the Teams users"),
                    words("Done") if state.first_sync_done else words("Not done yet"),
                ),
            ]
        ),
    ]
    if state.complete:
        body.append(
            banner(words("**All set.** Calling is enabled without a Global Admin's sign-in."), "good")
        )
    else:
        body.append(
            paragraph(
                words(
                    "Until these are given and the first sync is done, enabling calling for a new phone "
                    "user asks a Global Admin to sign in each time. Each button opens the platform's page "
                    "for one consent (the link works once, for an hour); sign in there as a Global Admin "
                    "of {tenant}.",
                    tenant=tenant,
                )
            )
        )
    actions: list[object] = [
        OpenUrlAction(title=words("Give: {consent}", consent=words(CONSENT_TITLES[kind])), url=url)
        for kind, url in links.items()
    ]
    actions.append(command(words("Check again"), "consent"))
    return card(body, actions)


def no_consent_card(words: Words = ENGLISH_WORDS) -> AdaptiveCard:
    return card(
        [
            heading(words("Consents")),
            paragraph(
                words("This provisioning service needs no consent: your provider manages its tenants.")
            ),
        ]
    )
