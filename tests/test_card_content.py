"""A card's JSON is made once (issue 22): the SDK's copy of an outgoing activity shares it, and the
connector sends the same JSON as a full serialisation would."""

from __future__ import annotations

import copy
import json

from microsoft_agents.activity import Activity, ActivityTypes, Attachment

from bot.cards import CardContent, card_activity, card_invoke_response
from bot.connector import _json_of
from cards.common import to_dict
from cards.welcome import welcome_card
from i18n import Words
from services.models import Role


def test_the_copy_shares_the_card_and_the_json_is_a_full_serialisation_s():
    activity = card_activity(welcome_card("Ada Admin", Role.tenant_admin, words=Words("fr")))
    content = activity.attachments[0].content
    assert isinstance(content, CardContent)
    copied = copy.deepcopy(activity)
    assert copied.attachments[0].content is content and copied.attachments is not activity.attachments
    full = activity.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert _json_of(activity) == full
    assert _json_of(activity)["attachments"][0]["content"]["type"] == "AdaptiveCard"


def test_other_attachments_and_plain_activities_are_serialised_as_before():
    mixed = Activity(
        type=ActivityTypes.message,
        text="rows",
        attachments=[
            Attachment(content_type="text/csv", content={"rows": [1, 2]}, name="results.csv"),
            card_activity(welcome_card("Pat", Role.partner, words=Words("en"))).attachments[0],
        ],
    )
    assert _json_of(mixed) == mixed.model_dump(mode="json", by_alias=True, exclude_none=True)
    plain = Activity(type=ActivityTypes.message, text="hello")
    assert _json_of(plain) == plain.model_dump(mode="json", by_alias=True, exclude_none=True)


def test_an_invoke_answer_s_card_is_shared_by_the_sdk_s_copy_and_answers_the_same_json():
    """The SDK sends an invoke's answer as an activity too (ActivityHandler: `invokeResponse`),
    deep-copying it on the way; the card in it is made once and shared, and the body Teams gets is
    the JSON of the card."""
    card = welcome_card("Ada Admin", Role.tenant_admin, words=Words("fr"))
    answer = card_invoke_response(card)
    value = answer.body["value"]
    assert isinstance(value, CardContent)
    copied = copy.deepcopy(Activity(type=ActivityTypes.invoke_response, value=answer))
    assert copied.value.body["value"] is value
    assert json.loads(json.dumps(copied.value.body)) == {
        "statusCode": 200,
        "type": "application/vnd.microsoft.card.adaptive",
        "value": to_dict(card),
    }
