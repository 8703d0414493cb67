"""The partner's first step: which of the enterprises it manages gets the new phone user."""

from __future__ import annotations

from microsoft_teams.cards import AdaptiveCard, Choice, ChoiceSetInput

from cards.common import VERB_DISMISS, VERB_START_FOR, card, execute, field_error, heading, paragraph
from i18n import ENGLISH_WORDS, Text, Words
from services.models import Tenant


def enterprise_picker_card(
    enterprises: list[Tenant], error: str | Text | None = None, words: Words = ENGLISH_WORDS
) -> AdaptiveCard:
    if not enterprises:
        return card(
            [
                heading(words("Add a phone user")),
                paragraph(
                    words("Your partner account manages no enterprises yet. Ask your provider to link them.")
                ),
            ]
        )
    body = [
        heading(words("Add a phone user")),
        paragraph(words("Which enterprise is the user in? You can type to search."), subtle=True),
        ChoiceSetInput(
            id="enterpriseId",
            label=words("Enterprise"),
            style="filtered",
            is_required=True,
            error_message=words("Choose an enterprise."),
            placeholder=words("Type a name"),
            choices=[Choice(title=t.name, value=t.tenant_id) for t in enterprises],
            value=enterprises[0].tenant_id if len(enterprises) == 1 else None,
        ),
    ]
    if error:
        # A domain error from services/ (a Text) or a text of the dialog: words() shows either.
        body.append(field_error(words(error)))
    return card(
        body,
        [
            execute(words("Next"), VERB_START_FOR, {}, style="positive"),
            execute(words("Cancel"), VERB_DISMISS, {}, validate_inputs=False),
        ],
    )


def dismissed_card(words: Words = ENGLISH_WORDS) -> AdaptiveCard:
    return card([heading(words("Add user cancelled")), paragraph(words("Nothing was sent."), subtle=True)])
