"""Building blocks shared by the cards: headings, facts, field errors and actions with fallbacks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from microsoft_teams.cards import (
    AdaptiveCard,
    CardElement,
    Container,
    ExecuteAction,
    Fact,
    FactSet,
    SubmitAction,
    TextBlock,
)

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

COMMAND_KEY = "command"


def card(body: list[CardElement], actions: list[Any] | None = None) -> AdaptiveCard:
    return AdaptiveCard(version=CARD_VERSION, body=body, actions=actions or None)


def to_dict(adaptive_card: AdaptiveCard) -> dict[str, Any]:
    """The card as JSON for an attachment or an invoke answer."""
    data = adaptive_card.model_dump(by_alias=True, exclude_none=True)
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


def when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else ""


def decision_line(request: ProvisioningRequest) -> str | None:
    if request.state is RequestState.rejected:
        return (
            f"Rejected by {request.decided_by} at {when(request.decided_at)}. Reason: {request.decision_note}"
        )
    if request.decided_by:
        return f"Approved by {request.decided_by} at {when(request.decided_at)}"
    return None
