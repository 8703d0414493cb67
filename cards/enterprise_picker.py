"""The partner's first step: which of the enterprises it manages gets the new phone user."""

from __future__ import annotations

from microsoft_teams.cards import AdaptiveCard, Choice, ChoiceSetInput

from cards.common import VERB_DISMISS, VERB_START_FOR, card, execute, field_error, heading, paragraph
from services.models import Tenant


def enterprise_picker_card(enterprises: list[Tenant], error: str | None = None) -> AdaptiveCard:
    if not enterprises:
        return card(
            [
                heading("Add a phone user"),
                paragraph("Your partner account manages no enterprises yet. Ask your provider to link them."),
            ]
        )
    body = [
        heading("Add a phone user"),
        paragraph("Which enterprise is the user in? You can type to search.", subtle=True),
        ChoiceSetInput(
            id="enterpriseId",
            label="Enterprise",
            style="filtered",
            is_required=True,
            error_message="Choose an enterprise.",
            placeholder="Type a name",
            choices=[Choice(title=t.name, value=t.tenant_id) for t in enterprises],
            value=enterprises[0].tenant_id if len(enterprises) == 1 else None,
        ),
    ]
    if error:
        body.append(field_error(error))
    return card(
        body,
        [
            execute("Next", VERB_START_FOR, {}, style="positive"),
            execute("Cancel", VERB_DISMISS, {}, validate_inputs=False),
        ],
    )


def dismissed_card() -> AdaptiveCard:
    return card([heading("Add user cancelled"), paragraph("Nothing was sent.", subtle=True)])
