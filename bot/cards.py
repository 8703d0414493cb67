"""The one place that turns a card into an Agents SDK attachment, message or invoke answer."""

from __future__ import annotations

from microsoft_agents.activity import Activity, ActivityTypes, Attachment, InvokeResponse
from microsoft_teams.cards import AdaptiveCard

from cards.common import to_dict

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"


def attachment(card: AdaptiveCard) -> Attachment:
    return Attachment(content_type=CARD_CONTENT_TYPE, content=to_dict(card))


def card_activity(card: AdaptiveCard, activity_id: str | None = None) -> Activity:
    return Activity(type=ActivityTypes.message, id=activity_id, attachments=[attachment(card)])


def text_activity(text: str) -> Activity:
    return Activity(type=ActivityTypes.message, text=text, text_format="markdown")


def card_invoke_response(card: AdaptiveCard) -> InvokeResponse:
    """The `adaptiveCard/action` answer Teams expects: `{statusCode, type, value}` with HTTP 200."""
    return InvokeResponse(
        status=200, body={"statusCode": 200, "type": CARD_CONTENT_TYPE, "value": to_dict(card)}
    )
