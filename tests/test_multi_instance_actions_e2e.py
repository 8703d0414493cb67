"""A partner's removal of a phone user on two `python app.py` processes sharing PostgreSQL (issue 16):
20 concurrent Approve clicks over both instances decide once and disable and delete once; the
instance running the removal dies (SIGKILL) between its two steps and the other finishes it."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from services import db
from tests import test_multi_instance_e2e as multi_instance
from tests.doubles import (
    CONTOSO,
    CONTOSO_ADMIN,
    CONTOSO_ADMIN2,
    NORTHWIND,
    NORTHWIND_PARTNER,
    TeamsUser,
    card_text,
)
from tests.pg import pg_server, pg_url  # noqa: F401  (fixtures)
from tests.test_multi_instance_e2e import Cluster, _all_sent

pytestmark = pytest.mark.postgres

MEGAN = "megan@contoso.example"
APPROVAL = "Remove Megan Bowen (Contoso)"


# The two-process clusters of the add's tests, as fixtures of this module.
cluster = multi_instance.cluster
slow_cluster = multi_instance.slow_cluster


async def pat_asks_to_remove_megan(c: Cluster, pat: TeamsUser) -> str:
    """Pat's turns alternate between the instances; returns the id of Pat's card."""
    pat.bot_url = c.a.url
    assert await pat.say("phone users megan") == 201
    picker = await c.card_to(pat, "Whose phone users?")
    pat.bot_url = c.b.url
    listing = (await pat.click(picker.activity_id, picker.card, "Next", {"enterpriseId": CONTOSO}))["value"]
    pat.bot_url = c.a.url
    megan = (await pat.click(picker.activity_id, listing, "Open"))["value"]
    pat.bot_url = c.b.url
    confirm = (await pat.click(picker.activity_id, megan, "Remove"))["value"]
    pat.bot_url = c.a.url
    await pat.click(picker.activity_id, confirm, "Remove")
    return picker.activity_id


async def users_of_contoso(c: Cluster) -> dict[str, bool]:
    async with c.database.engine.connect() as conn:
        rows = await conn.execute(
            select(db.teams_users.c.upn, db.teams_users.c.provisioned).where(
                db.teams_users.c.tenant_id == CONTOSO
            )
        )
        return {row.upn: row.provisioned for row in rows}


async def test_twenty_approvals_on_two_instances_remove_once(cluster: Cluster):
    c = cluster
    pat = c.user(c.a, NORTHWIND, NORTHWIND_PARTNER, "Pat Partner")
    ada = c.user(c.a, CONTOSO, CONTOSO_ADMIN, "Ada Admin")
    avery = c.user(c.b, CONTOSO, CONTOSO_ADMIN2, "Avery Admin")
    for user in (pat, ada, avery):
        assert await user.install() == 201
    pat_card = await pat_asks_to_remove_megan(c, pat)
    ada_card = await c.card_to(ada, APPROVAL)
    avery_card = await c.card_to(avery, APPROVAL)
    assert (await users_of_contoso(c))[MEGAN], "nothing done before the approval"

    clicks = []
    for i in range(20):
        admin, card = (ada, ada_card) if i % 2 else (avery, avery_card)
        clicker = c.user(c.a if i % 4 < 2 else c.b, admin.tenant_id, admin.aad_object_id, admin.name)
        clicker.conversation_id = admin.conversation_id
        clicks.append(clicker.click(card.activity_id, card.card, "Approve"))
    answers = await asyncio.gather(*clicks)
    assert all("Approved by" in card_text(a["value"]) for a in answers)

    await c.wait_for(lambda s: s.activity_id == pat_card and "Megan Bowen is removed" in card_text(s.card))
    await c.text_to(pat, "Done: your request")
    actions = await c.audit_actions()
    assert actions.count("approve") == 1
    assert actions.count("disable_calling") == 1 and actions.count("delete_user") == 1, actions
    assert sorted(name for _, name in c.calls()) == ["delete_user", "disable_calling"], c.calls()
    assert not (await users_of_contoso(c))[MEGAN]
    await c.until(lambda: _all_sent(c), "every outbox row sent")


async def test_killing_the_instance_between_disable_and_delete_loses_nothing(slow_cluster: Cluster):
    c = slow_cluster
    pat = c.user(c.b, NORTHWIND, NORTHWIND_PARTNER, "Pat Partner")
    ada = c.user(c.a, CONTOSO, CONTOSO_ADMIN, "Ada Admin")
    avery = c.user(c.b, CONTOSO, CONTOSO_ADMIN2, "Avery Admin")  # every approver has the bot
    for user in (pat, ada, avery):
        assert await user.install() == 201
    pat_card = await pat_asks_to_remove_megan(c, pat)
    ada_card = await c.card_to(ada, APPROVAL)
    ada.bot_url = c.a.url
    answer = await ada.click(ada_card.activity_id, ada_card.card, "Approve")
    assert "Approved by Ada Admin" in card_text(answer["value"])

    async def between_the_steps() -> bool:
        async with c.database.engine.connect() as conn:
            state = (
                await conn.execute(select(db.requests.c.state).where(db.requests.c.action == "remove"))
            ).scalar_one()
        return state == "calling_disabled"

    await c.until(between_the_steps, "calling disabled, the delete step not done")
    c.a.kill()  # instance a dies while its delete call runs (each call takes a second)

    await c.wait_for(lambda s: s.activity_id == pat_card and "Megan Bowen is removed" in card_text(s.card))
    await c.until(lambda: _all_sent(c), "every outbox row sent")
    actions = await c.audit_actions()
    assert actions.count("disable_calling") == 1 and actions.count("delete_user") == 1, actions
    assert (c.b.pid, "delete_user") in c.calls(), "instance b finished the removal"
    assert not (await users_of_contoso(c))[MEGAN]
