"""bot/schema_json.py gives msrest's JSON for the Bot Framework schema, without msrest's serializer.

(tests/conftest.py also compares the two for everything the bot sends in every test.)"""

from __future__ import annotations

import datetime
import enum

import pytest
from botbuilder.core import MessageFactory, TurnContext
from botbuilder.schema import (
    Activity,
    ActivityTypes,
    AdaptiveCardInvokeResponse,
    Attachment,
    CardAction,
    ChannelAccount,
    ConversationAccount,
    Entity,
    SuggestedActions,
)
from botbuilder.schema.teams import TeamsChannelAccount, TeamsChannelData, TenantInfo

from bot import schema_json

CARD = {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": "Hi", "wrap": True}]}


def incoming() -> Activity:
    return Activity(
        type=ActivityTypes.message,
        id="1",
        timestamp=datetime.datetime(2026, 11, 24, 21, 0, 5, 120000, tzinfo=datetime.UTC),
        service_url="https://smba.trafficmanager.net/amer/",
        channel_id="msteams",
        from_property=TeamsChannelAccount(
            id="29:1", name="Ada", aad_object_id="a1", user_principal_name="ada@x"
        ),
        recipient=ChannelAccount(id="28:bot", name="Bot", role="bot"),
        conversation=ConversationAccount(
            id="a:1", conversation_type="personal", tenant_id="t1", is_group=False
        ),
        text="add user",
        value={"action": {"type": "Action.Execute", "verb": "v", "data": {"n": [1, 2.5, None, True]}}},
        channel_data=TeamsChannelData(tenant=TenantInfo(id="t1")),
        entities=[Entity(type="clientInfo")],
        attachments=[],
    )


OBJECTS = [
    pytest.param(incoming(), id="incoming activity"),
    pytest.param(MessageFactory.text("Done."), id="text reply"),
    pytest.param(
        Activity(
            type="message",
            attachments=[Attachment(content_type="application/vnd.microsoft.card.adaptive", content=CARD)],
            suggested_actions=SuggestedActions(actions=[CardAction(type="imBack", title="Yes", value="yes")]),
            channel_data={
                "notification": {"alert": True},
                "when": datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
            },
        ),
        id="card with suggested actions and channel data",
    ),
    pytest.param(TurnContext.get_conversation_reference(incoming()), id="conversation reference"),
    pytest.param(
        AdaptiveCardInvokeResponse(
            status_code=200, type="application/vnd.microsoft.card.adaptive", value=CARD
        ),
        id="invoke response",
    ),
]


@pytest.mark.parametrize("model", OBJECTS)
def test_the_same_json_as_msrest(model):
    assert schema_json._model(model) == model.serialize()  # the fast path itself, no fallback


class Colour(enum.Enum):
    red = "red"


@pytest.mark.parametrize(
    "model",
    [
        pytest.param(Activity(type="message", text=5), id="a number where a string is declared"),
        pytest.param(Activity(type="message", value={1: "non-string key"}), id="a non-string key"),
        pytest.param(Activity(type="message", value={"x": Colour.red}), id="an enum inside plain JSON"),
        pytest.param(Activity(type="message", attachments=[None]), id="None in a list"),
    ],
)
def test_what_it_does_not_convert_itself_is_left_to_msrest(model):
    with pytest.raises(schema_json._Unusual):
        schema_json._model(model)
    assert schema_json.to_json(model) == model.serialize()
