"""A partner's bulk add on two `python app.py` processes sharing PostgreSQL (issue 18): Pat's turns
alternate between the instances, "Add 3 user(s)" is clicked on both at once, then 20 "Approve all"
clicks over both instances decide the batch once; each user is added, synced and enabled once, and
Pat is told once."""

from __future__ import annotations

import asyncio

import pytest

from tests import test_multi_instance_e2e as multi_instance
from tests.doubles import (
    CONTOSO,
    CONTOSO_ADMIN,
    CONTOSO_ADMIN2,
    NORTHWIND,
    NORTHWIND_PARTNER,
    card_text,
)
from tests.pg import pg_server, pg_url  # noqa: F401  (fixtures)
from tests.test_bulk_add_e2e import FIVE
from tests.test_multi_instance_e2e import Cluster, _all_sent

pytestmark = pytest.mark.postgres

cluster = multi_instance.cluster
BATCH = "Approve 3 new phone user(s) for Contoso?"


async def test_a_partner_batch_on_two_instances_is_approved_once(cluster: Cluster):
    c = cluster
    pat = c.user(c.a, NORTHWIND, NORTHWIND_PARTNER, "Pat Partner")
    ada = c.user(c.a, CONTOSO, CONTOSO_ADMIN, "Ada Admin")
    avery = c.user(c.b, CONTOSO, CONTOSO_ADMIN2, "Avery Admin")
    for user in (pat, ada, avery):
        assert await user.install() == 201

    assert await pat.say("bulk add") == 201
    picker = await c.card_to(pat, "Which enterprise are the users in?")
    pat.bot_url = c.b.url
    await pat.click(picker.activity_id, picker.card, "Next", {"enterpriseId": CONTOSO})
    pat.bot_url = c.a.url
    assert await pat.say(FIVE) == 201  # the pick made on b holds on a
    report = await c.card_to(pat, "3 user(s) ready to add")
    on_b = c.user(c.b, NORTHWIND, NORTHWIND_PARTNER, "Pat Partner")
    on_b.conversation_id = pat.conversation_id
    await asyncio.gather(
        pat.click(report.activity_id, report.card, "Add 3 user(s)"),
        on_b.click(report.activity_id, report.card, "Add 3 user(s)"),
    )
    await c.wait_for(
        lambda s: s.activity_id == report.activity_id and "**Sent for approval.**" in card_text(s.card)
    )

    ada_card = await c.card_to(ada, BATCH)
    avery_card = await c.card_to(avery, BATCH)
    clicks = []
    for i in range(20):
        admin, card = (ada, ada_card) if i % 2 else (avery, avery_card)
        clicker = c.user(c.a if i % 4 < 2 else c.b, admin.tenant_id, admin.aad_object_id, admin.name)
        clicker.conversation_id = admin.conversation_id
        clicks.append(clicker.click(card.activity_id, card.card, "Approve all 3"))
    answers = await asyncio.gather(*clicks)
    assert all("Approved by" in card_text(a["value"]) for a in answers)

    await c.wait_for(
        lambda s: s.activity_id == report.activity_id and "3 of 3 user(s) added" in card_text(s.card)
    )
    await c.text_to(pat, "approved your bulk add for Contoso")
    await c.until(lambda: _all_sent(c), "every outbox row sent")
    actions = await c.audit_actions()
    assert actions.count("queue") == 3 and actions.count("add_user") == 3, actions
    assert actions.count("approve") == 3 and actions.count("batch_ask") == 1, actions
    assert actions.count("enable_calling") == 3 and actions.count("finish") == 3, actions
    names = [name for _, name in c.calls()]
    assert names.count("add_user") == 3 and names.count("enable_calling") == 3, names
    told = [
        s for s in c.connector.for_conversation(pat.conversation_id) if "approved your bulk add" in s.text
    ]
    assert len(told) == 1, "Pat is told once per batch"
