"""A short card for answers that are not part of a form: errors, refusals, "out of date"."""

from __future__ import annotations

from microsoft_teams.cards import AdaptiveCard

from cards.common import card, heading, paragraph


def notice_card(title: str, text: str, *, attention: bool = False) -> AdaptiveCard:
    return card([heading(title), paragraph(text, color="Attention" if attention else None)])
