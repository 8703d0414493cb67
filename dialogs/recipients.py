"""Writing to someone outside of their turn (an approver, a partner): their words, and the update of
every approver's copy of a card; one home for the notices of single requests and of bulk adds."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from microsoft_teams.cards import AdaptiveCard

from dialogs.ports import DeliveryRetry, Messenger
from i18n import ENGLISH_WORDS, Words, language_of, time_zone
from services.notify.conversations import Contact, ConversationBook


def recipient_words(contact: Contact | None, card_ref: dict[str, Any] | None = None) -> Words:
    """The words of someone who is not the one talking: the language they chose, else their Teams
    client's (the locale of their last turn), and the time zone their client gave. Without a
    conversation, the locale of the turn that made their card, else English."""
    if contact is not None:
        language = contact.language or language_of(contact.reference.get("locale"))
        return Words(language, time_zone(contact.time_zone))
    conversation = (card_ref or {}).get("conversation")
    if isinstance(conversation, dict) and conversation.get("locale"):
        return Words(language_of(conversation["locale"]))
    return ENGLISH_WORDS


async def update_copies(
    messenger: Messenger,
    conversations: ConversationBook,
    copies: list[tuple[str, str, dict[str, Any]]],
    draw: Callable[[Words], Awaitable[AdaptiveCard]],
) -> None:
    """Every approver's copy (tenant, person, card reference) of a card, each drawn by `draw` in its
    owner's words (once per language and time zone)."""
    contacts = await conversations.contacts([(t, a) for t, a, _ in copies])
    by_person = {(c.tenant_id, c.aad_object_id): c for c in contacts}
    drawn: dict[tuple[str, str], AdaptiveCard] = {}
    updates: list[tuple[dict[str, Any], AdaptiveCard]] = []
    for tenant_id, aad_object_id, card_ref in copies:
        words = recipient_words(by_person.get((tenant_id, aad_object_id)), card_ref)
        key = (words.language, words.zone.key if words.zone else "")
        if key not in drawn:
            drawn[key] = await draw(words)
        updates.append((card_ref, drawn[key]))
    # All at once: one approver's chat that does not answer holds up no other's copy. If one
    # fails, the row is tried again and every copy is put again (a PUT is safe to repeat).
    outcomes = await asyncio.gather(
        *(messenger.update(card_ref, card) for card_ref, card in updates), return_exceptions=True
    )
    failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    if failures:
        raise next((f for f in failures if isinstance(f, DeliveryRetry)), failures[0])
