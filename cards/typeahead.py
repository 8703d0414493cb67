"""Teams' dynamic typeahead: a choice set too long to carry in a card asks the bot for its choices
as the person types.

The contract, from "Typeahead search in Adaptive Cards" (Microsoft Teams platform documentation,
learn.microsoft.com/microsoftteams/platform/task-modules-and-cards/cards/dynamic-search):
`Input.ChoiceSet` with `style: filtered` and `choices.data: {type: Data.Query, dataset}`; Teams
sends an `application/search` invoke with `queryText`, `dataset` and `queryOptions.top` (it shows
at most 15 options), answered by bot/teams_bot.py `_search` with
`{type: application/vnd.microsoft.search.searchResponse, value: {results: [{title, value}]}}`.
"""

from __future__ import annotations

from microsoft_teams.cards import Choice, ChoiceSetInput, QueryData

# Teams shows at most this many options in a typeahead's dropdown.
TYPEAHEAD_SHOWN = 15


def searched_as_typed(field: ChoiceSetInput, dataset: str, shown: int = TYPEAHEAD_SHOWN) -> ChoiceSetInput:
    """`field`, its choices asked of the bot under `dataset`. Of its static choices the first
    `shown` stay, for the dropdown before anything is typed (and a choice set needs one, says the
    Adaptive Cards renderer), with the chosen one among them so the card shows what was picked (a
    value not among the choices shows as itself)."""
    choices = list(field.choices or [])
    current = field.value
    first = choices[: max(1, shown)]
    if current and all(c.value != current for c in first):
        chosen = next((c for c in choices if c.value == current), Choice(title=current, value=current))
        first = [chosen, *first[: max(1, shown) - 1]]
    field.choices = first
    field.choices_data = QueryData(dataset=dataset)
    return field
