"""What the conversations need from the Teams edge, as small interfaces the edge implements."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, Protocol

from microsoft_teams.cards import AdaptiveCard


class Chat(Protocol):
    """The conversation the current turn belongs to."""

    async def send_card(self, card: AdaptiveCard) -> dict[str, Any]:
        """Send a card; returns a card reference that `CardUpdates.update` can use later."""

    async def send_text(self, text: str) -> None: ...

    def clicked_card_ref(self) -> dict[str, Any] | None:
        """The reference of the card whose button started this turn, if any."""


class CardUpdates(Protocol):
    """Updates a card in place outside of a turn (after slow work), from its stored reference."""

    async def update(self, card_ref: dict[str, Any], card: AdaptiveCard) -> None: ...


class Background(Protocol):
    def spawn(self, work: Coroutine[Any, Any, Any], name: str) -> None: ...
