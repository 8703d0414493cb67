"""The audit card over HTTP (issue 19, point 5), in English and French: each entry says who did what
to whom, at the reader's time; drafts and cancels are hidden unless asked (`audit all`, or the
card's button); Older and Newer page through the trail with the page in the button's data; a
page is always the clicking admin's own tenant's."""

from __future__ import annotations

import re

import aiohttp
import pytest

from cards.audit import VERB_AUDIT_PAGE
from i18n import T
from services.directory import EmbeddedDirectory
from services.models import AUDIT_PAGE_SIZE
from tests.conftest import RunningBot
from tests.doubles import (
    CONTOSO,
    CONTOSO_ADMIN,
    CONTOSO_ADMIN2,
    FABRIKAM,
    FABRIKAM_ADMIN,
    NORTHWIND,
    NORTHWIND_PARTNER,
    ConnectorDouble,
    Sent,
    TeamsUser,
    card_actions,
    card_text,
)
from tests.test_french_e2e import english_phrases, in_the_wrong_language
from tests.test_partner_flow_e2e import APPROVAL_HEADING, World, admins_installed, partner_requests

TORONTO = "America/Toronto"


async def audit_of(user: TeamsUser, connector: ConnectorDouble, command: str, marker: str) -> Sent:
    before = len(connector.sent)
    assert await user.say(command) == 201
    return await connector.wait_for(
        lambda s: (
            s.conversation_id == user.conversation_id
            and connector.sent.index(s) >= before
            and marker in card_text(s.card)
        )
    )


def lines(card: dict) -> list[str]:
    """The entries of an audit card, newest first, as "time: sentence"."""
    facts = next(e for e in card["body"] if e.get("type") == "FactSet")["facts"]
    return [f"{f['title']}: {f['value']}" for f in facts]


async def partner_add_approved(w: World) -> None:
    """Pat asks for Isaiah Langer on extension 108; Ada approves; it finishes."""
    await admins_installed(w)
    await partner_requests(w)
    ada_card = await w.latest_card(w.ada, APPROVAL_HEADING)
    await w.ada.click(ada_card.activity_id, ada_card.card, "Approve")
    await w.text_to(w.pat, "Done:")


@pytest.fixture
def world(http: aiohttp.ClientSession, bot: RunningBot, connector: ConnectorDouble) -> World:
    """Pat Partner of Northwind, and Contoso's two global admins, as in tests/test_partner_flow_e2e.py."""
    return World(
        bot,
        connector,
        TeamsUser(http, bot.url, connector.url, NORTHWIND, NORTHWIND_PARTNER, "Pat Partner"),
        TeamsUser(http, bot.url, connector.url, CONTOSO, CONTOSO_ADMIN, "Ada Admin"),
        TeamsUser(http, bot.url, connector.url, CONTOSO, CONTOSO_ADMIN2, "Avery Admin"),
        http,
    )


async def test_the_audit_says_who_did_what_to_whom_and_hides_drafts_and_cancels(world: World):
    w = world
    await partner_add_approved(w)
    # A draft Ada started and dropped: noise, hidden unless asked.
    await w.ada.say("add user")
    await w.latest_card(w.ada, "Add a phone user to Contoso")
    await w.ada.say("cancel")
    await w.text_to(w.ada, "Cancelled.")

    audit = await audit_of(w.ada, w.connector, "audit", "Audit: Contoso")
    text = card_text(audit.card)
    assert "Ada Admin approved adding Isaiah Langer, extension 108" in text
    assert "Pat Partner requested adding Isaiah Langer, extension 108" in text
    assert "Adding Isaiah Langer, extension 108: Calling enabled (Ada Admin)" in text
    assert "Adding Isaiah Langer, extension 108: request done (Ada Admin)" in text
    for developer_words in ("enable_calling", "->", "→", "(Synced", "create", "(- ", "request 3"):
        assert developer_words not in text, developer_words
    assert "draft" not in text.lower().replace("drafts and cancels are hidden", "")
    assert "cancelled" not in text
    assert "Newest first. Drafts and cancels are hidden." in text
    newest = lines(audit.card)[0]
    assert newest.endswith("Adding Isaiah Langer, extension 108: request done (Ada Admin)"), newest
    assert " UTC: " in newest, "a client that gave no time zone reads UTC, and is told so"

    # "Show everything": the same card, now with the draft and its cancel; and back.
    everything = (await w.ada.click(audit.activity_id, audit.card, "Show everything"))["value"]
    text = card_text(everything)
    assert "Ada Admin started a draft: adding a phone user" in text
    assert "Ada Admin cancelled adding a phone user" in text
    assert "Pat Partner started a draft: adding Isaiah Langer, extension 108" in text
    assert "Hide drafts and cancels" in card_actions(everything)
    hidden = (await w.ada.click(audit.activity_id, everything, "Hide drafts and cancels"))["value"]
    assert lines(hidden) == lines(audit.card)
    # `audit all` is the same as the button.
    typed = await audit_of(w.ada, w.connector, "audit all", "Audit: Contoso")
    assert lines(typed.card) == lines(everything)


async def test_older_and_newer_page_through_the_trail_by_entry_id(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble
):
    ada = await EmbeddedDirectory(bot.runtime.database).actor(CONTOSO, CONTOSO_ADMIN, "Ada Admin")
    for i in range(1, 121):  # 120 bulk add checks, told apart by their counts
        await bot.runtime.requests.audit(
            ada,
            CONTOSO,
            None,
            "bulk_check",
            None,
            None,
            T(
                "bulk add {batch}: {ready} row(s) ready, {problems} problem(s)",
                batch="b",
                ready=i,
                problems=1,
            ),
        )
    checked = re.compile(r"Ada Admin checked a bulk add: (\d+) rows? ready, 1 problem$")

    def counts(card: dict) -> list[int]:
        return [int(checked.search(line).group(1)) for line in lines(card)]  # type: ignore[union-attr]

    first = await audit_of(admin, connector, "audit", "Audit: Contoso")
    assert counts(first.card) == list(range(120, 120 - AUDIT_PAGE_SIZE, -1))
    assert set(card_actions(first.card)) == {"Older", "Show everything"}, "the newest page has no Newer"
    # An entry written meanwhile does not shift the pages: they go by entry id.
    await bot.runtime.requests.audit(ada, CONTOSO, None, "bulk_check", None, None, T("{x}", x="meanwhile"))
    older = (await admin.click(first.activity_id, first.card, "Older"))["value"]
    assert counts(older) == list(range(70, 20, -1))
    oldest = (await admin.click(first.activity_id, older, "Older"))["value"]
    assert counts(oldest) == list(range(20, 0, -1))
    assert "Older" not in card_actions(oldest) and "Newer" in card_actions(oldest)
    back = (await admin.click(first.activity_id, oldest, "Newer"))["value"]
    assert counts(back) == counts(older)
    newest = (await admin.click(first.activity_id, back, "Newer"))["value"]
    assert counts(newest) == counts(first.card)
    assert "Newer" in card_actions(newest), "the entry written meanwhile is newer still"
    # The buttons carry an entry id and a flag only, as every card's data does.
    data = card_actions(older)["Older"]["data"]
    trail = await bot.runtime.requests.audit_of_tenant(CONTOSO, 200)
    last_shown = next(e for e in trail if e.outcome.startswith("bulk add b: 21 "))
    assert data == {"olderThan": last_shown.entry_id, "all": False}


async def test_a_page_is_always_the_clicking_admins_own_tenants(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble, http: aiohttp.ClientSession
):
    first = await audit_of(admin, connector, "audit all", "Audit: Contoso")
    await admin.say("add user")  # an entry of Contoso's
    fabrikam = TeamsUser(http, bot.url, connector.url, FABRIKAM, FABRIKAM_ADMIN, "Fabian Admin")
    answer = await fabrikam.invoke_action("card", VERB_AUDIT_PAGE, {"olderThan": 10**9, "all": True})
    assert "Audit: Fabrikam" in card_text(answer["value"])
    assert "Ada Admin" not in card_text(answer["value"])
    # A partner, or anyone without the role, gets no page at all, and the try is in the trail.
    pat = TeamsUser(http, bot.url, connector.url, NORTHWIND, NORTHWIND_PARTNER, "Pat Partner")
    answer = await pat.invoke_action(first.activity_id, VERB_AUDIT_PAGE, {"all": True})
    assert "Only a tenant's global admins can read its audit trail." in card_text(answer["value"])
    await pat.say("audit")
    await connector.wait_for(
        lambda s: s.conversation_id == pat.conversation_id and "Only a tenant's global admins" in s.text
    )


async def test_a_french_admin_reads_the_audit_in_french_at_her_time(
    world: World, http: aiohttp.ClientSession
):
    w = world
    await partner_add_approved(w)
    ada = TeamsUser(
        http,
        w.bot.url,
        w.connector.url,
        CONTOSO,
        CONTOSO_ADMIN,
        "Ada Admin",
        locale="fr-CA",
        time_zone=TORONTO,
    )
    audit = await audit_of(ada, w.connector, "journal", "Journal d'audit\u00a0: Contoso")
    text = card_text(audit.card)
    assert "Ada Admin a approuvé l'ajout de l'utilisateur Isaiah Langer, poste 108" in text
    assert "Pat Partner a demandé l'ajout de l'utilisateur Isaiah Langer, poste 108" in text
    assert "L'ajout de l'utilisateur Isaiah Langer, poste 108\u00a0: Appels activés (Ada Admin)" in text
    assert "Les entrées les plus récentes d'abord. Les brouillons et les annulations sont masqués." in text
    assert set(card_actions(audit.card)) == {"Tout afficher"}
    newest = lines(audit.card)[0]
    assert re.match(r"\d{4}-\d\d-\d\d \d\d h \d\d: ", newest) and "UTC" not in newest, newest
    everything = (await ada.click(audit.activity_id, audit.card, "Tout afficher"))["value"]
    assert "Pat Partner a commencé un brouillon\u00a0: l'ajout de l'utilisateur Isaiah Langer" in card_text(
        everything
    )
    assert "Masquer les brouillons et les annulations" in card_actions(everything)
    seen = [audit, everything]
    assert in_the_wrong_language(seen, english_phrases()) == []
