"""The one place that turns a card into a botbuilder attachment or an invoke answer."""

from __future__ import annotations

from botbuilder.core import CardFactory, InvokeResponse
from botbuilder.schema import Activity, ActivityTypes, AdaptiveCardInvokeResponse, Attachment
from microsoft_teams.cards import AdaptiveCard

from cards.common import to_dict

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"


def attachment(card: AdaptiveCard) -> Attachment:
    return CardFactory.adaptive_card(to_dict(card))


def card_activity(card: AdaptiveCard, activity_id: str | None = None) -> Activity:
    return Activity(type=ActivityTypes.message, id=activity_id, attachments=[attachment(card)])


def card_invoke_response(card: AdaptiveCard) -> InvokeResponse:
    # The body must be the model, not a dict: botbuilder 4.17.1 serializes it itself.
    return InvokeResponse(
        status=200,
        body=AdaptiveCardInvokeResponse(status_code=200, type=CARD_CONTENT_TYPE, value=to_dict(card)),
    )


def message_invoke_response(text: str) -> InvokeResponse:
    return InvokeResponse(
        status=200,
        body=AdaptiveCardInvokeResponse(
            status_code=200, type="application/vnd.microsoft.activity.message", value=text
        ),
    )
