"""What the conversations need from the Teams edge, as small interfaces the edge implements."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Protocol

from microsoft_teams.cards import AdaptiveCard

from i18n import Words
from services.models import AdminSignInResult


class Chat(Protocol):
    """The conversation the current turn belongs to."""

    # The texts of the person of this turn: their language and time zone (i18n/).
    words: Words

    async def send_card(self, card: AdaptiveCard) -> dict[str, Any]:
        """Send a card; returns a card reference that `Messenger.update` can use later. A card the
        channel refused waits in the outbox (bot/chat.py, RefusedReplies): until it is delivered,
        `Messenger.update` of its reference says "try again later"."""

    async def send_text(self, text: str) -> None: ...

    def clicked_card_ref(self) -> dict[str, Any] | None:
        """The reference of the card whose button started this turn, if any."""

    def files(self) -> list[tuple[str, str]]:
        """(name, download link) of each file sent with this message (bulk add)."""

    def reference(self) -> dict[str, Any]:
        """This conversation's reference, for proactive messages later."""


class DeliveryRetry(Exception):
    """The channel said "not now" (429, 5xx, connection error): try again after `seconds`."""

    def __init__(self, reason: str, seconds: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.seconds = seconds


class DeliveryFailed(Exception):
    """The channel refused for good (e.g. the user removed the bot): do not retry."""


class ChatRefused(DeliveryFailed):
    """The person's chat refuses the bot (403/404: they removed or blocked the app): the stored
    conversation no longer reaches them."""


class Downloads(Protocol):
    """Fetches a file a person sent in the chat; raises a DomainError saying what to do when it
    cannot (a link not from Teams, gone, too slow)."""

    async def fetch(self, url: str) -> bytes: ...


class Messenger(Protocol):
    """Proactive messages and in-place card updates, outside of a turn."""

    async def send_card(self, conversation: dict[str, Any], card: AdaptiveCard) -> dict[str, Any]:
        """Send a card to a stored conversation reference; returns the new card's reference."""

    async def send_text(self, conversation: dict[str, Any], text: str) -> None: ...

    async def update(self, card_ref: dict[str, Any], card: AdaptiveCard) -> None: ...

    async def send_stored(
        self, conversation: dict[str, Any], activity: dict[str, Any], update_of: str | None = None
    ) -> dict[str, Any]:
        """Send a reply the channel refused during its turn, kept in the outbox as activity JSON (or
        put it in place of activity `update_of`); returns the reference of what arrived."""


class Background(Protocol):
    """Work that runs after the turn has answered (provisioning steps), tracked for shutdown."""

    def spawn(self, work: Coroutine[Any, Any, Any], name: str) -> None: ...


# The provisioning platform's sign-in callback (query, body) read into a result; the backend's
# own parser is given by app.py, so a conversation depends on no backend.
SignInParser = Callable[[Mapping[str, str], Any], AdminSignInResult]
