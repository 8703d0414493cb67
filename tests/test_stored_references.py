"""Data written by the botbuilder 4.17.1 release keeps working on the Agents SDK, with no manual
step: a conversation reference and a card reference in botbuilder's JSON shape (its conversation
names the tenant `tenantID`), as that release stored them (tests/fixtures/botbuilder_4_17_references.json,
written by that code), still deliver an approval card and update a card in place."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bot.chat import ProactiveMessenger, load_reference
from bot.web import RUNTIME
from cards.notice import notice_card
from services.notify.conversations import ConversationBook
from tests.conftest import RunningBot
from tests.doubles import CONTOSO, CONTOSO_ADMIN, ConnectorDouble, card_text
from tests.test_partner_flow_e2e import APPROVAL_HEADING, World, partner_requests, world  # noqa: F401

STORED = Path(__file__).resolve().parent / "fixtures" / "botbuilder_4_17_references.json"


def stored(service_url: str) -> dict[str, Any]:
    return json.loads(STORED.read_text(encoding="utf-8").replace("SERVICE_URL", service_url))


def test_a_botbuilder_reference_keeps_its_tenant():
    reference = load_reference(stored("https://smba.trafficmanager.net/amer/")["reference"])
    assert reference.conversation.tenant_id == CONTOSO
    assert reference.conversation.id == "a:1xyz"
    assert reference.agent is not None and reference.agent.id == "28:bot-app-id"


async def test_a_stored_card_reference_sends_and_updates_through_the_new_edge(
    bot: RunningBot, connector: ConnectorDouble
):
    old = stored(connector.url)
    assert bot.app is not None
    messenger = ProactiveMessenger(bot.app[RUNTIME].adapter, "", authenticated=False)
    sent = await messenger.send_card(old["reference"], notice_card("Hello again", "From the old reference"))
    assert sent["activity_id"] and sent["conversation"]["conversation"]["id"] == "a:1xyz"
    await messenger.update(old["card_ref"], notice_card("Updated", "In place"))
    post, put = connector.sent[-2:]
    assert (post.method, post.conversation_id) == ("POST", "a:1xyz")
    assert "Hello again" in card_text(post.card)
    assert (put.method, put.conversation_id, put.activity_id) == ("PUT", "a:1xyz", "msg-7")
    assert "Updated" in card_text(put.card)
    assert put.activity["conversation"]["tenantId"] == CONTOSO
    # Nothing is kept per conversation once its sends are done (a long-running bot's memory).
    assert messenger._locks == {}


async def test_an_approval_card_reaches_a_global_admin_known_only_from_the_old_release(world: World):  # noqa: F811
    """Ada's reference was stored by the old release (she has not written to the bot since)."""
    old = stored(world.connector.url)
    await ConversationBook(world.bot.runtime.database).remember(
        CONTOSO, CONTOSO_ADMIN, "29:1abc", "Ada Admin", old["reference"]
    )
    await partner_requests(world)
    approval = await world.connector.wait_for(
        lambda s: s.conversation_id == "a:1xyz" and APPROVAL_HEADING in card_text(s.card)
    )
    assert approval.method == "POST"
    # Ada clicks Approve on that card: it is updated in place in the same conversation.
    world.ada.conversation_id = "a:1xyz"
    answer = await world.ada.click(approval.activity_id, approval.card, "Approve")
    assert "approved" in card_text(answer["value"]).lower()
    await world.connector.wait_for(lambda s: s.method == "PUT" and s.conversation_id == "a:1xyz")
