"""The `Chat` and `CardUpdates` ports of dialogs/, over botbuilder's TurnContext and adapter."""

from __future__ import annotations

from typing import Any

from botbuilder.core import BotAdapter, TurnContext
from botbuilder.schema import Activity, ActivityTypes, ConversationReference
from microsoft_teams.cards import AdaptiveCard

from bot.cards import attachment, card_activity


def card_ref(turn: TurnContext, activity_id: str | None) -> dict[str, Any]:
    reference = TurnContext.get_conversation_reference(turn.activity)
    return {"conversation": reference.serialize(), "activity_id": activity_id}


class TurnChat:
    """The conversation of the current turn."""

    def __init__(self, turn: TurnContext) -> None:
        self._turn = turn

    async def send_card(self, card: AdaptiveCard) -> dict[str, Any]:
        response = await self._turn.send_activity(card_activity(card))
        return card_ref(self._turn, response.id if response else None)

    async def send_text(self, text: str) -> None:
        await self._turn.send_activity(
            Activity(type=ActivityTypes.message, text=text, text_format="markdown")
        )

    def clicked_card_ref(self) -> dict[str, Any] | None:
        reply_to = self._turn.activity.reply_to_id
        return card_ref(self._turn, reply_to) if reply_to else None


class ProactiveCardUpdates:
    """Updates a card in place after the turn that showed it has ended."""

    def __init__(self, adapter: BotAdapter, app_id: str) -> None:
        self._adapter = adapter
        self._app_id = app_id

    async def update(self, card_ref: dict[str, Any], card: AdaptiveCard) -> None:
        reference = ConversationReference().deserialize(card_ref["conversation"])
        activity_id = card_ref.get("activity_id")

        async def callback(turn: TurnContext) -> None:
            if activity_id:
                await turn.update_activity(
                    Activity(type=ActivityTypes.message, id=activity_id, attachments=[attachment(card)])
                )
            else:
                await turn.send_activity(card_activity(card))

        await self._adapter.continue_conversation(reference, callback, self._app_id)
