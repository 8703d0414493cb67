"""A card's updates in place, coalesced: the latest state within a window is the one sent.

A progress card is updated after each step of its request; steps often finish within a fraction
of a second of each other, and every update is a call to the Bot Connector (the most expensive
thing a turn does here, and one Teams counts against the chat's rate limit). A step's update waits
up to WINDOW_SECONDS, replaced by any newer one meanwhile; an update where the work stops (done,
failed, waiting for someone) goes at once and replaces what was waiting. An add whose steps all
finish within the window costs one send; the card always ends on the latest state it was given,
and its end state is shown as soon as it is known.

In memory only: after a restart the request's pipeline resumes and updates its card again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from microsoft_teams.cards import AdaptiveCard

from dialogs.ports import Background, Messenger

log = logging.getLogger(__name__)

WINDOW_SECONDS = 1.0


@dataclass
class _Window:
    waiting: tuple[dict[str, Any], Callable[[], AdaptiveCard]] | None


class CoalescedCards:
    """Updates cards in place through `messenger`: a step's update at most once per window per
    card, the last one given; a lost update is logged (the request's state is saved, and the next
    click shows it)."""

    def __init__(self, messenger: Messenger, background: Background, window: float = WINDOW_SECONDS) -> None:
        self._messenger = messenger
        self._background = background
        self._window = window
        self._open: dict[tuple[str, str], _Window] = {}

    async def update(
        self, card_ref: dict[str, Any], card: Callable[[], AdaptiveCard], *, settled: bool
    ) -> None:
        """Shows the card `card()` makes in place of the card `card_ref` points to (made only if
        it is sent). `settled`: the work stops at this state (sent now, and an update still
        waiting is dropped), else it goes on (sent when the window ends, unless a newer update
        replaces it)."""
        key = _key(card_ref)
        window = self._open.get(key)
        if settled:
            if window is not None:
                window.waiting = None  # older than this one: never sent
                del self._open[key]
            await self._send(card_ref, card)
            return
        if window is not None:
            window.waiting = (card_ref, card)  # replaces what was waiting: it is never sent
            return
        window = self._open[key] = _Window((card_ref, card))
        self._background.spawn(self._flush(key, window), name="card-update")

    async def _flush(self, key: tuple[str, str], window: _Window) -> None:
        await asyncio.sleep(self._window)
        if self._open.get(key) is window:
            del self._open[key]  # an update from here on opens a window of its own
        if window.waiting is not None:
            await self._send(*window.waiting)

    async def _send(self, card_ref: dict[str, Any], card: Callable[[], AdaptiveCard]) -> None:
        try:
            await self._messenger.update(card_ref, card())
        except Exception:
            # The request's state is already saved; a lost card update is shown on the next click.
            log.warning("could not update a card in place", exc_info=True)

    def __len__(self) -> int:
        return len(self._open)


def _key(card_ref: dict[str, Any]) -> tuple[str, str]:
    conversation = card_ref.get("conversation")
    conversation_id = ""
    if isinstance(conversation, dict) and isinstance(conversation.get("conversation"), dict):
        conversation_id = str(conversation["conversation"].get("id", ""))
    return conversation_id, str(card_ref.get("activity_id") or "")
