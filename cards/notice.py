"""A short card for answers that are not part of a form: errors, refusals, "out of date"."""

from __future__ import annotations

from microsoft_teams.cards import AdaptiveCard

from cards.common import card, heading, paragraph
from i18n import ENGLISH_WORDS, Text, Words


def notice_card(
    title: str | Text, text: str | Text, *, attention: bool = False, words: Words = ENGLISH_WORDS
) -> AdaptiveCard:
    # Both often come from services/ (a domain error's message, a Text): words() shows every form,
    # and leaves a text the caller already translated as it is.
    return card([heading(words(title)), paragraph(words(text), color="Attention" if attention else None)])
