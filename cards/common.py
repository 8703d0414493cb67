"""Building blocks shared by the cards: headings, facts, field errors and actions with fallbacks, and
the lines several cards show (a decision, a Global Admin's sign-in), in the reader's language."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from microsoft_teams.cards import (
    ActionSet,
    AdaptiveCard,
    CardElement,
    Container,
    ExecuteAction,
    Fact,
    FactSet,
    OpenUrlAction,
    SubmitAction,
    TextBlock,
)

from i18n import ENGLISH_WORDS, Words
from services.models import ProvisioningRequest, RequestState

CARD_VERSION = "1.5"

# Verbs of the Action.Execute buttons; the card's data carries ids only (request id, version).
VERB_SUBMIT_FORM = "addUser.submitForm"
VERB_CONFIRM = "addUser.confirm"
VERB_EDIT = "addUser.edit"
VERB_CANCEL = "addUser.cancel"
VERB_RETRY = "addUser.retry"
VERB_REFRESH = "addUser.refresh"
VERB_START_FOR = "addUser.startFor"
VERB_DISMISS = "addUser.dismiss"
VERB_APPROVE = "approval.approve"
VERB_REJECT = "approval.reject"
VERB_APPROVAL_REFRESH = "approval.refresh"
VERB_PORTAL_DONE = "request.portalDone"

COMMAND_KEY = "command"


def card(body: list[CardElement], actions: list[Any] | None = None) -> AdaptiveCard:
    return AdaptiveCard(version=CARD_VERSION, body=body, actions=actions or None)


def to_dict(adaptive_card: AdaptiveCard) -> dict[str, Any]:
    """The card as JSON for an attachment or an invoke answer."""
    # Plain JSON types only: the reply path sends this dict as is (bot/connector.py).
    data = adaptive_card.model_dump(mode="json", by_alias=True, exclude_none=True)
    data.setdefault("$schema", "http://adaptivecards.io/schemas/adaptive-card.json")
    return data


def heading(text: str) -> TextBlock:
    return TextBlock(text=text, size="Medium", weight="Bolder", wrap=True)


def paragraph(text: str, *, subtle: bool = False, color: str | None = None) -> TextBlock:
    return TextBlock(text=text, wrap=True, is_subtle=subtle or None, color=color, spacing="Small")


def banner(text: str, style: str) -> Container:
    """A state line people must not miss: default-colour text on a good/warning/attention
    background (coloured text alone is too faint in Teams' light theme)."""
    return Container(style=style, items=[TextBlock(text=text, wrap=True)], spacing="Medium")


def field_error(message: str) -> TextBlock:
    return TextBlock(text=message, wrap=True, color="Attention", spacing="None", size="Small")


def facts(pairs: list[tuple[str, str]]) -> FactSet:
    return FactSet(facts=[Fact(title=title, value=value) for title, value in pairs])


def execute(
    title: str,
    verb: str,
    data: dict[str, Any] | None = None,
    *,
    style: str | None = None,
    validate_inputs: bool = True,
) -> ExecuteAction:
    """An Action.Execute button, with an Action.Submit fallback for clients without Universal Actions."""
    payload = dict(data or {})
    associated = None if validate_inputs else "none"
    return ExecuteAction(
        title=title,
        verb=verb,
        data=payload,
        style=style,
        associated_inputs=associated,
        fallback=SubmitAction(title=title, data=payload | {"verb": verb}, associated_inputs=associated),
    )


def command(title: str, command_text: str) -> SubmitAction:
    """A navigation button: sends the command as if the user had typed it."""
    return SubmitAction(title=title, data={COMMAND_KEY: command_text})


def request_data(request_id: str, version: int) -> dict[str, Any]:
    return {"requestId": request_id, "version": version}


def label_line(label: str, detail: str, words: Words = ENGLISH_WORDS) -> str:
    """A label and what follows it ("Sync Teams users: done"), punctuated as the reader's language
    wants (French puts a non-breaking space before the colon)."""
    return words("{label}: {detail}", label=label, detail=detail)


def decision_line(request: ProvisioningRequest, words: Words = ENGLISH_WORDS) -> str | None:
    moment = words.when(request.decided_at) if request.decided_at else ""
    if request.state is RequestState.rejected:
        return words(
            "Rejected by {name} at {time}. Reason: {reason}",
            name=request.decided_by,
            time=moment,
            # What the admin typed: data, shown as it is (a reason "No" stays "No").
            reason=request.decision_note or "",
        )
    if request.state is RequestState.expired:
        return words("Expired at {time}: no global admin approved or rejected it in time.", time=moment)
    if request.decided_by:
        return words("Approved by {name} at {time}", name=request.decided_by, time=moment)
    return None


def sign_in_block(
    request: ProvisioningRequest, *, can_sign_in: bool, words: Words = ENGLISH_WORDS
) -> tuple[list[CardElement], list[Any]]:
    """What a card shows while a Global Admin's sign-in is awaited: for those who can act, the
    platform's sign-in link (while it is valid) and a button for a new one; for the partner, who
    waits."""
    name = request.tenant_name
    if not can_sign_in:
        return [
            banner(
                words(
                    "**Waiting for a Global Admin of {tenant} to sign in.** {tenant} has not allowed "
                    "management by the service provider, so one of its Global Admins finishes enabling "
                    "calling. This card updates when they have.",
                    tenant=name,
                ),
                "warning",
            )
        ], []
    data = request_data(request.request_id, request.version)
    renew = execute(words("Get a new sign-in link"), VERB_RETRY, data)
    stop = execute(words("Stop without calling"), VERB_CANCEL, data)
    expires = request.sign_in_expires_at
    if request.sign_in_url and expires and expires > datetime.now(UTC):
        text = words(
            "**Sign in as Global Admin to finish.** {tenant} has not allowed management by the service "
            "provider, so calling is enabled with a Global Admin's Microsoft sign-in. The link works "
            "once, until {time}; this card updates when the sign-in is done.",
            tenant=name,
            time=words.when(expires),
        )
        sign_in = OpenUrlAction(
            title=words("Sign in as Global Admin to finish"), url=request.sign_in_url, style="positive"
        )
        # A row of its own: next to another button, Teams cuts the title short.
        return [banner(text, "warning"), ActionSet(actions=[sign_in], spacing="Medium")], [renew, stop]
    text = words(
        "**Sign in as Global Admin to finish.** The sign-in link expired at {time}: get a new one.",
        time=words.when(expires) if expires else "",
    )
    return [banner(text, "warning")], [renew, stop]
