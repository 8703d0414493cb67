"""The partner's first step: which of the enterprises it manages gets the new phone user (or, for
`phone users`, whose phone users to list; for `bulk add`, whose rows). Past a few dozen enterprises
the picker searches as the partner types (Teams' typeahead, cards/typeahead.py): a provider with
300 enterprises would otherwise carry them all in every picker (53 KB as Teams counts, with
names of 25 characters)."""

from __future__ import annotations

from typing import Any

from microsoft_teams.cards import AdaptiveCard, Choice, ChoiceSetInput

from cards.common import VERB_DISMISS, VERB_START_FOR, card, execute, field_error, heading, paragraph
from cards.typeahead import searched_as_typed
from i18n import ENGLISH_WORDS, Text, Words
from services.models import TYPEAHEAD_THRESHOLD, Tenant

# Teams' typeahead names what it searches; the bot answers it with the partner's own enterprises
# (bot/teams_bot.py `_search`), so the dataset names no one.
ENTERPRISE_DATASET = "enterprises"


def enterprise_picker_card(
    enterprises: list[Tenant],
    error: str | Text | None = None,
    words: Words = ENGLISH_WORDS,
    *,
    next_verb: str = VERB_START_FOR,
    next_data: dict[str, Any] | None = None,
    title: str | None = None,
    question: str | None = None,
) -> AdaptiveCard:
    """`next_verb`: what "Next" does with the enterprise (add a user there by default), with
    `next_data` (e.g. the search typed with `phone users`); `title`: the card's, when it is for
    something else (a bulk add)."""
    adding = next_verb == VERB_START_FOR or title is not None
    title = title or (words("Add a phone user") if adding else words("Phone users"))
    if not enterprises:
        return card(
            [
                heading(title),
                paragraph(
                    words("Your partner account manages no enterprises yet. Ask your provider to link them.")
                ),
            ]
        )
    question = question or (
        words("Which enterprise is the user in? You can type to search.")
        if adding
        else words("Whose phone users? You can type to search.")
    )
    field = ChoiceSetInput(
        id="enterpriseId",
        label=words("Enterprise"),
        style="filtered",
        is_required=True,
        error_message=words("Choose an enterprise."),
        placeholder=words("Type a name"),
        choices=[Choice(title=t.name, value=t.tenant_id) for t in enterprises],
        value=enterprises[0].tenant_id if len(enterprises) == 1 else None,
    )
    if len(enterprises) > TYPEAHEAD_THRESHOLD:
        # The same bound as the add-user form's list of users; below it, the static list works in
        # every client (the local Teams client has no typeahead).
        field = searched_as_typed(field, ENTERPRISE_DATASET)
    body = [heading(title), paragraph(question, subtle=True), field]
    if error:
        # A domain error from services/ (a Text) or a text of the dialog: words() shows either.
        body.append(field_error(words(error)))
    actions = [execute(words("Next"), next_verb, dict(next_data or {}), style="positive")]
    if adding:
        actions.append(execute(words("Cancel"), VERB_DISMISS, {}, validate_inputs=False))
    return card(body, actions)


def dismissed_card(words: Words = ENGLISH_WORDS) -> AdaptiveCard:
    return card([heading(words("Add user cancelled")), paragraph(words("Nothing was sent."), subtle=True)])
