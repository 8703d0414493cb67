"""A partner's change, disable or removal of a customer's phone user goes to the tenant's global admins
as an approval card, exactly like a partner's add (issue 16): nothing is done before one approves,
every approver's copy follows, the partner is told; a rejection changes nothing; a partner who does
not manage the tenant cannot start one; concurrent Approve clicks decide once."""

from __future__ import annotations

import asyncio

from services.models import RequestState
from tests import test_partner_flow_e2e as partner_flow
from tests.doubles import CONTOSO, TAILSPIN, TAILSPIN_PARTNER, card_actions, card_text
from tests.test_partner_flow_e2e import World, admins_installed
from tests.test_phone_user_actions_e2e import audit_actions

# The partner flow's world (Pat of Northwind, Ada and Avery of Contoso), as a fixture of this module.
world = partner_flow.world

MEGAN = "megan@contoso.example"
ALEX = "alex@contoso.example"


async def pat_opens(w: World, search: str) -> tuple[str, dict]:
    """Pat types `phone users <search>`, picks Contoso, opens the first user found."""
    await w.pat.say(f"phone users {search}")
    picker = await w.latest_card(w.pat, "Whose phone users?")
    listing = (await w.pat.click(picker.activity_id, picker.card, "Next", {"enterpriseId": CONTOSO}))["value"]
    assert "Phone users of Contoso" in card_text(listing)
    opened = (await w.pat.click(picker.activity_id, listing, "Open"))["value"]
    return picker.activity_id, opened


async def test_pat_asks_to_remove_megan_and_ada_approves(world: World):
    w = world
    await admins_installed(w)
    card_id, megan = await pat_opens(w, "megan")
    confirm = (await w.pat.click(card_id, megan, "Remove"))["value"]
    assert "A global admin of Contoso approves this before anything is done." in card_text(confirm)
    asked = (await w.pat.click(card_id, confirm, "Remove"))["value"]
    assert "Remove Megan Bowen" in card_text(asked)
    await w.connector.wait_for(
        lambda s: s.activity_id == card_id and "Waiting for a global admin of Contoso" in card_text(s.card)
    )
    told = await w.text_to(w.pat, "an approval card went to")
    assert "Ada Admin" in told.text and "Nothing is done before one of them approves it." in told.text
    state = await w.bot.runtime.provisioning.user_state(CONTOSO, MEGAN)
    assert state.provisioned and state.calling_enabled, "nothing done before the approval"

    ada_card = await w.latest_card(w.ada, "Remove Megan Bowen (Contoso)")
    avery_card = await w.latest_card(w.avery, "Remove Megan Bowen (Contoso)")
    text = card_text(ada_card.card)
    assert "Pat Partner (Northwind Voice) asked for this" in text and "extension 100 becomes free" in text
    # Both admins click Approve at once: one decision, one removal.
    first, second = await asyncio.gather(
        w.ada.click(ada_card.activity_id, ada_card.card, "Approve"),
        w.avery.click(avery_card.activity_id, avery_card.card, "Approve"),
    )
    texts = [card_text(first["value"]), card_text(second["value"])]
    winner = "Ada Admin" if "Approved by Ada Admin" in texts[0] else "Avery Admin"
    assert all(f"Approved by {winner}" in t for t in texts), texts
    await w.connector.wait_for(
        lambda s: s.activity_id == avery_card.activity_id and "Megan Bowen is removed" in card_text(s.card)
    )
    await w.connector.wait_for(
        lambda s: s.activity_id == ada_card.activity_id and "Megan Bowen is removed" in card_text(s.card)
    )
    await w.connector.wait_for(
        lambda s: s.activity_id == card_id and "Megan Bowen is removed" in card_text(s.card)
    )
    await w.text_to(w.pat, "approved your request")
    await w.text_to(w.pat, "Done: your request")
    state = await w.bot.runtime.provisioning.user_state(CONTOSO, MEGAN)
    assert not state.provisioned
    audit = await w.bot.runtime.requests.audit_of_tenant(CONTOSO)
    removal = {a.request_id for a in audit if a.action == "delete_user"}
    assert len(removal) == 1
    request_id = removal.pop()
    actions = await audit_actions(w.bot, request_id)
    assert actions.count("approve") == 1 and actions.count("delete_user") == 1, actions
    assert (await w.bot.runtime.requests.get(request_id)).state is RequestState.done


async def test_a_rejected_change_changes_nothing(world: World):
    w = world
    await admins_installed(w)
    card_id, alex = await pat_opens(w, "alex")
    form = (await w.pat.click(card_id, alex, "Change"))["value"]
    assert "A global admin of Contoso approves this before anything is done." in card_text(form)
    review = (await w.pat.click(card_id, form, "Review", {"extension": "107"}))["value"]
    await w.pat.click(card_id, review, "Change user")
    ada_card = await w.latest_card(w.ada, "Change Alex Wilber (Contoso)")
    reject = ada_card.card["actions"][1]["card"]["actions"][0]
    answer = await w.ada.invoke_action(
        ada_card.activity_id, reject["verb"], {**reject["data"], "reason": "Alex keeps 101"}
    )
    assert "Rejected by Ada Admin" in card_text(answer["value"])
    told = await w.text_to(w.pat, "rejected your request")
    assert "Alex keeps 101" in told.text and "Nothing was changed." in told.text
    state = await w.bot.runtime.provisioning.user_state(CONTOSO, ALEX)
    assert state.extension == "101"
    assert (await w.bot.runtime.provisioning.extension(CONTOSO, "PBX", "107")).assigned_to is None


async def test_a_partner_who_does_not_manage_contoso_cannot_start_an_action(world: World):
    w = world
    await admins_installed(w)
    card_id, alex = await pat_opens(w, "alex")
    sam = w.user(TAILSPIN, TAILSPIN_PARTNER, "Sam Partner")
    answer = await sam.click(card_id, alex, "Remove")
    assert "Not allowed" in card_text(answer["value"])
    # A Contoso admin's click on Pat's confirmation: not theirs to confirm.
    confirm = (await w.pat.click(card_id, alex, "Disable calling"))["value"]
    answer = await w.ada.click(card_id, confirm, "Disable calling")
    assert "Only the person who started this request can change it." in card_text(answer["value"])
    assert "Approve" not in card_actions(answer["value"])
    assert (await w.bot.runtime.provisioning.user_state(CONTOSO, ALEX)).calling_enabled
