"""The one place that turns a card into an Agents SDK attachment, message or invoke answer."""

from __future__ import annotations

from typing import Any

from microsoft_agents.activity import Activity, ActivityTypes, Attachment, InvokeResponse
from microsoft_teams.cards import AdaptiveCard

from cards.common import to_dict

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"


class CardContent(dict[str, Any]):
    """A card's JSON as `to_dict` made it: plain JSON types, and never changed once made. The SDK
    deep-copies every activity it sends (TurnContext.send_activities); a card's JSON is the
    largest part of one, and nothing changes it, so the copy shares it (issue 22: the copy was
    a sixth of a card reply's cost). The connector sends it as it is (bot/connector.py); an
    invoke's answer, which the SDK sends through the same copy, goes out through json.dumps."""

    def __deepcopy__(self, memo: dict[int, Any]) -> CardContent:
        return self


def attachment(card: AdaptiveCard) -> Attachment:
    return Attachment(content_type=CARD_CONTENT_TYPE, content=CardContent(to_dict(card)))


def card_activity(card: AdaptiveCard, activity_id: str | None = None) -> Activity:
    return Activity(type=ActivityTypes.message, id=activity_id, attachments=[attachment(card)])


def text_activity(text: str) -> Activity:
    return Activity(type=ActivityTypes.message, text=text, text_format="markdown")


def card_invoke_response(card: AdaptiveCard) -> InvokeResponse:
    """The `adaptiveCard/action` answer Teams expects: `{statusCode, type, value}` with HTTP 200."""
    return InvokeResponse(
        status=200,
        body={"statusCode": 200, "type": CARD_CONTENT_TYPE, "value": CardContent(to_dict(card))},
    )
