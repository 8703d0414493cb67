"""English and French (Canada) over HTTP: each person reads the bot in their own language, in their
turns and in what is sent to them later (approval cards, their updates, notices), also when two
approvers of one request read different languages; `langue` chooses a language that sticks."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.web import browser_language
from cards.common import VERB_APPROVAL_REFRESH, VERB_APPROVE, VERB_CONFIRM, VERB_SUBMIT_FORM, to_dict
from cards.progress import progress_card
from i18n import ENGLISH, FRENCH, Words, time_zone
from services.models import RequestState
from tests.conftest import RunningBot
from tests.doubles import (
    CONTOSO,
    CONTOSO_ADMIN,
    CONTOSO_ADMIN2,
    NORTHWIND,
    NORTHWIND_PARTNER,
    ConnectorDouble,
    Sent,
    TeamsUser,
    card_actions,
    card_inputs,
    card_text,
)
from tests.test_catalog import PLACEHOLDER, french
from tests.test_partner_flow_e2e import APPROVAL_HEADING, World, partner_requests

TORONTO = "America/Toronto"
FR = Words(FRENCH, time_zone(TORONTO))
ADELE = {"teamsUser": "adele@contoso.example", "voiceRoute": "CA Central", "extension": "105"}


def phrases_only_in(language: str) -> list[str]:
    """What only `language` shows: each run of 3+ words between the placeholders of a catalog text
    whose French differs from its English, which no text of the other language contains (as a
    product name)."""
    pairs = [(en, fr) for en, fr in french().items() if en != fr]
    if language == FRENCH:
        pairs = [(fr, en) for en, fr in pairs]
    others = "\n".join(other for _, other in pairs)
    phrases = set()
    for text, _ in pairs:
        for part in PLACEHOLDER.split(text):
            part = part.strip(" .,:;()*\u00a0")
            if len(part.split()) >= 3 and part not in others:
                phrases.add(part)
    return sorted(phrases)


def english_phrases() -> list[str]:
    return phrases_only_in(ENGLISH)


def french_phrases() -> list[str]:
    return phrases_only_in(FRENCH)


def shown(item: Sent | dict[str, Any]) -> str:
    """What a person sees of a sent activity or of a card."""
    if isinstance(item, Sent):
        return card_text(item.card) if item.card else item.text
    return card_text(item)


def in_the_wrong_language(seen: Iterable[Sent | dict[str, Any]], phrases: list[str]) -> list[tuple[str, str]]:
    return [(phrase, shown(item)) for item in seen for phrase in phrases if phrase in shown(item)]


def action_of(card: dict[str, Any], verb: str) -> dict[str, Any]:
    """A button by what it does, whatever its title says in the reader's language."""
    found = [a for a in card_actions(card).values() if a.get("verb") == verb]
    assert found, (verb, card_text(card))
    return found[0]


async def press(
    user: TeamsUser, card_id: str, card: dict[str, Any], verb: str, inputs: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Click the button with `verb` as Teams does; returns the card that replaces the clicked one."""
    action = action_of(card, verb)
    data = {**card_inputs(card), **(inputs or {}), **action.get("data", {})}
    answer = await user.invoke_action(card_id, verb, data)
    return answer["value"]


def to(user: TeamsUser, connector: ConnectorDouble) -> list[Sent]:
    return connector.for_conversation(user.conversation_id)


# -- an administrator in French, end to end -----------------------------------------------------


async def test_a_french_speaking_admin_adds_a_phone_user_and_reads_no_english(
    bot: RunningBot, http: aiohttp.ClientSession, connector: ConnectorDouble
):
    ada = TeamsUser(
        http, bot.url, connector.url, CONTOSO, CONTOSO_ADMIN, "Ada Admin", locale="fr-CA", time_zone=TORONTO
    )
    answers: list[dict[str, Any]] = []
    assert await ada.install() == 201
    welcome = await connector.wait_for(lambda s: s.conversation_id == ada.conversation_id and bool(s.card))
    assert "Bonjour Ada Admin!" in shown(welcome)
    assert await ada.say("ajouter un utilisateur") == 201
    form = await connector.wait_for(
        lambda s: s.conversation_id == ada.conversation_id and "teamsUser" in card_inputs(s.card or {})
    )
    # A mistake first: the field's message comes back in French, next to its field.
    answers.append(
        await press(ada, form.activity_id, form.card, VERB_SUBMIT_FORM, ADELE | {"extension": "101"})
    )
    assert "teamsUser" in card_inputs(answers[-1])
    corrected = ADELE | {"phoneNumber": "105", "sipAuthId": "105t"}
    answers.append(await press(ada, form.activity_id, answers[-1], VERB_SUBMIT_FORM, corrected))
    review = answers[-1]
    answers.append(await press(ada, form.activity_id, review, VERB_CONFIRM))
    actor = await _actor(bot, CONTOSO, CONTOSO_ADMIN)
    done = await _finished(bot, actor)
    # The last update of her card is the finished request, drawn in her language and time zone.
    expected = to_dict(progress_card(done, words=FR))
    await connector.wait_for(lambda s: s.activity_id == form.activity_id and s.card == expected)
    assert await ada.say("mes demandes") == 201
    await connector.wait_for(lambda s: s.conversation_id == ada.conversation_id and "adele@" in shown(s))
    assert await ada.say("ANNULER") == 201
    assert await ada.say("quoi?") == 201
    await connector.wait_for(lambda s: s.conversation_id == ada.conversation_id and "Désolé" in s.text)

    seen = [*to(ada, connector), *answers]
    assert len(seen) >= 8
    assert in_the_wrong_language(seen, english_phrases()) == []
    state = await bot.runtime.provisioning.user_state(CONTOSO, "adele@contoso.example")
    assert state is not None and state.calling_enabled


async def _actor(bot: RunningBot, tenant_id: str, aad_object_id: str):
    from services.directory import EmbeddedDirectory

    return await EmbeddedDirectory(bot.runtime.database).actor(tenant_id, aad_object_id)


async def _finished(bot: RunningBot, actor: Any) -> Any:
    for _ in range(200):
        requests = await bot.runtime.requests.requests_of(actor)
        if requests and requests[0].state is RequestState.done:
            return requests[0]
        await asyncio.sleep(0.05)
    raise AssertionError("the request did not finish")


# -- a partner in English, Global Admins in French and English ----------------------------------


@pytest.fixture
def languages(http: aiohttp.ClientSession, bot: RunningBot, connector: ConnectorDouble) -> World:
    """Pat (a partner) in English, Ada (a Global Admin of Contoso) in French, Avery (another) in English."""
    return World(
        bot,
        connector,
        TeamsUser(http, bot.url, connector.url, NORTHWIND, NORTHWIND_PARTNER, "Pat Partner"),
        TeamsUser(
            http,
            bot.url,
            connector.url,
            CONTOSO,
            CONTOSO_ADMIN,
            "Ada Admin",
            locale="fr-CA",
            time_zone=TORONTO,
        ),
        TeamsUser(http, bot.url, connector.url, CONTOSO, CONTOSO_ADMIN2, "Avery Admin", locale="en-US"),
        http,
    )


async def test_each_approver_reads_the_same_request_in_their_own_language(languages: World):
    w = languages
    for user in (w.pat, w.ada, w.avery):
        assert await user.install() == 201
    pat_card = await partner_requests(w)
    french_heading = FR("Approve a new phone user for {tenant}?", tenant="Contoso")
    ada_card = await w.latest_card(w.ada, french_heading)
    avery_card = await w.latest_card(w.avery, APPROVAL_HEADING)
    assert APPROVAL_HEADING not in shown(ada_card) and french_heading not in shown(avery_card)
    request = (await w.bot.runtime.requests.awaiting_approval(CONTOSO))[0]
    assert FR.when(request.created_at) in shown(ada_card), "Ada's time zone, stored with her conversation"
    told = await w.text_to(w.pat, "Waiting for a global admin of Contoso")
    assert "Ada Admin" in told.text and "Avery Admin" in told.text

    # Teams refreshes each viewer's copy with their own invoke: each gets it in their language.
    ada_refresh = await w.ada.invoke_action(
        ada_card.activity_id, VERB_APPROVAL_REFRESH, action_of(ada_card.card, VERB_APPROVE)["data"]
    )
    avery_refresh = await w.avery.invoke_action(
        avery_card.activity_id, VERB_APPROVAL_REFRESH, action_of(avery_card.card, VERB_APPROVE)["data"]
    )
    assert french_heading in shown(ada_refresh["value"])
    assert APPROVAL_HEADING in shown(avery_refresh["value"])

    approved = await press(w.ada, ada_card.activity_id, ada_card.card, VERB_APPROVE)
    # Both copies are updated in place, each in its owner's language.
    ada_done = await w.connector.wait_for(
        lambda s: (
            s.method == "PUT"
            and s.activity_id == ada_card.activity_id
            and FR("Approved and done: new phone user for {tenant}", tenant="Contoso") in shown(s)
        )
    )
    avery_done = await w.connector.wait_for(
        lambda s: (
            s.method == "PUT"
            and s.activity_id == avery_card.activity_id
            and "Approved and done: new phone user for Contoso" in shown(s)
        )
    )
    assert "Approved by Ada Admin at" in shown(avery_done)
    await w.text_to(w.pat, "approved your request")
    await w.text_to(
        w.pat, "Done: Isaiah Langer, isaiah@contoso.example in Contoso can now make and receive Teams calls"
    )
    await w.connector.wait_for(lambda s: s.activity_id == pat_card and "Done." in shown(s))

    ada_saw = [*to(w.ada, w.connector), approved, ada_refresh["value"], ada_done]
    assert in_the_wrong_language(ada_saw, english_phrases()) == []
    for english_reader in (w.pat, w.avery):
        assert in_the_wrong_language(to(english_reader, w.connector), french_phrases()) == []
    assert in_the_wrong_language([avery_refresh["value"]], french_phrases()) == []


# -- a person's own choice ----------------------------------------------------------------------


async def test_langue_chooses_french_over_an_english_client_and_it_sticks(languages: World):
    w = languages
    ada = w.ada
    ada.locale, ada.time_zone = "en-US", None  # her Teams client is in English
    assert await ada.say("langue") == 201
    asked = await w.text_to(ada, "Which language")
    assert "**français**" in asked.text
    assert await ada.say("Français") == 201
    await w.text_to(ada, "Désormais, je vous écrirai en français.")
    await w.bot.restart()  # kept in the database, not only in this process
    assert await ada.say("help") == 201
    welcome = await w.latest_card(ada, "Bonjour Ada Admin!")
    assert in_the_wrong_language([welcome], english_phrases()) == []
    # Also what is sent to her later: a partner's request reaches her in French.
    assert await w.pat.install() == 201
    await partner_requests(w)
    approval = await w.latest_card(ada, FR("Approve a new phone user for {tenant}?", tenant="Contoso"))
    assert in_the_wrong_language([approval], english_phrases()) == []
    # And back to English.
    assert await ada.say("english") == 201
    await w.text_to(ada, "From now on I will write to you in English.")
    assert await ada.say("aide") == 201
    await w.latest_card(ada, "Hi Ada Admin!")


async def test_choosing_english_wins_over_a_french_client(languages: World):
    w = languages
    assert await w.ada.say("language english") == 201
    await w.text_to(w.ada, "From now on I will write to you in English.")
    assert await w.ada.say("aide") == 201
    await w.latest_card(w.ada, "Hi Ada Admin!")


async def test_a_choice_and_a_time_zone_outlive_the_turns_that_do_not_give_them(tmp_path: Path):
    from dialogs.recipients import recipient_words
    from services.db import Database
    from services.notify.conversations import SEEN_SECONDS, ConversationBook
    from tests.test_turn_costs import Clock, statements

    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}")
    await database.migrate()
    try:
        clock = Clock()
        book = ConversationBook(database, clock)
        reference = {"conversation": {"id": "a:1"}, "locale": "en-US"}
        assert await book.remember(CONTOSO, CONTOSO_ADMIN, "29:ada", "Ada", reference, TORONTO)
        assert await book.chosen_language(CONTOSO, CONTOSO_ADMIN) is None
        assert await book.choose_language(CONTOSO, CONTOSO_ADMIN, FRENCH)
        seen = statements(database)
        # A turn without a time zone (an invoke without clientInfo): nothing to write, nothing to read.
        assert not await book.remember(CONTOSO, CONTOSO_ADMIN, "29:ada", "Ada", reference)
        assert await book.chosen_language(CONTOSO, CONTOSO_ADMIN) == FRENCH
        assert seen == []
        clock.now += SEEN_SECONDS
        await book.remember(CONTOSO, CONTOSO_ADMIN, "29:ada", "Ada", reference)  # rewritten, choice kept
        contact = await book.contact(CONTOSO, CONTOSO_ADMIN)
        assert contact is not None and (contact.language, contact.time_zone) == (FRENCH, TORONTO)
        assert await ConversationBook(database).chosen_language(CONTOSO, CONTOSO_ADMIN) == FRENCH
        assert not await book.choose_language(CONTOSO, "nobody", FRENCH), "no conversation to keep it with"
    finally:
        await database.close()
    words = recipient_words(contact)
    assert words.language == FRENCH and words.zone is not None and words.zone.key == TORONTO
    english_client = recipient_words(contact.model_copy(update={"language": None}))
    assert english_client.language == ENGLISH, "without a choice, the client's locale"
    assert recipient_words(None, {"conversation": {"locale": "fr-CA"}}).language == FRENCH
    assert recipient_words(None).language == ENGLISH


# -- the Global Admin sign-in pages, read in a browser ------------------------------------------


def test_the_browser_language_is_its_most_wanted_one():
    assert browser_language("fr-CA,fr;q=0.9,en;q=0.8") == FRENCH
    assert browser_language("en-US,en;q=0.9,fr-CA;q=0.8") == ENGLISH
    assert browser_language("en;q=0.5, fr-CA") == FRENCH
    assert browser_language(None) == browser_language("") == browser_language("*") == ENGLISH
    assert browser_language("fr;q=abc, en") == ENGLISH


async def test_a_sign_in_page_for_an_unknown_request_speaks_the_browsers_language(
    bot: RunningBot, http: aiohttp.ClientSession
):
    callback = f"{bot.url}/api/ctt/callback"
    french_browser = {"Accept-Language": "fr-CA,fr;q=0.9,en;q=0.8"}
    guessed = {"params": {"state": "guessed"}, "json": {"accessToken": "x"}}
    async with http.post(callback, headers=french_browser, **guessed) as answer:
        page = await answer.text()
    assert answer.status == 404 and '<html lang="fr-CA">' in page
    assert "Ce lien de connexion ne peut pas être utilisé" in page
    async with http.get(callback, headers=french_browser) as answer:
        page = await answer.text()
    assert answer.status == 400 and "Résultat de connexion non compris" in page
    async with http.post(callback, **guessed) as answer:
        page = await answer.text()
    assert answer.status == 404 and '<html lang="en">' in page
    assert "This sign-in link cannot be used" in page


async def test_a_sign_in_page_speaks_the_tenant_admins_language(tmp_path: Path):
    """Contoso's Global Admin the bot knows reads French: the page after the sign-in is French,
    whatever the browser (here it sends no Accept-Language)."""
    from tests.test_connecttoteams_app import platform

    async with platform(tmp_path, consented=set()) as p:
        ada = p.user(CONTOSO, CONTOSO_ADMIN, "Ada Admin")
        ada.locale = "fr-CA"
        card_id = await admin_adds_adele_in_french(p, ada)
        waiting = await p.connector.wait_for(
            lambda s: (
                s.activity_id == card_id and any(a.get("type") == "Action.OpenUrl" for a in _all_actions(s))
            )
        )
        link = next(a for a in _all_actions(waiting) if a.get("type") == "Action.OpenUrl")["url"]
        status, page = await p.ctt.global_admin_signs_in(link, CONTOSO, "ga@contoso.example")
        assert status == 200 and '<html lang="fr-CA">' in page
        assert "Les appels sont activés pour adele@contoso.example dans Contoso" in page


async def admin_adds_adele_in_french(p: Any, admin: TeamsUser) -> str:
    assert await admin.say("ajouter un utilisateur") == 201
    form = await p.connector.wait_for(
        lambda s: s.conversation_id == admin.conversation_id and "teamsUser" in card_inputs(s.card or {})
    )
    review = await press(admin, form.activity_id, form.card, VERB_SUBMIT_FORM, ADELE)
    await press(admin, form.activity_id, review, VERB_CONFIRM)
    return form.activity_id


def _all_actions(sent: Sent) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if str(node.get("type", "")).startswith("Action."):
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(sent.card or {})
    return found


async def test_the_audit_shows_each_reader_their_local_time(
    bot: RunningBot, http: aiohttp.ClientSession, connector: ConnectorDouble
):
    """`journal complet` in Toronto shows Toronto's time in French; `audit all` from a client that
    sent no time zone shows UTC, and says so."""
    ada = TeamsUser(
        http, bot.url, connector.url, CONTOSO, CONTOSO_ADMIN, "Ada Admin", locale="fr-CA", time_zone=TORONTO
    )
    assert await ada.say("ajouter un utilisateur") == 201  # makes an audit entry (a draft)
    await connector.wait_for(lambda s: s.conversation_id == ada.conversation_id and bool(s.card))
    assert await ada.say("Journal complet") == 201  # a draft is shown only with everything
    audit = await connector.wait_for(
        lambda s: s.conversation_id == ada.conversation_id and "journal" in card_text(s.card).lower()
    )
    now = datetime.now(UTC)
    toronto = FR.when(now)[: len("2026-12-01 10 h")]  # to the hour: the entry is seconds old
    assert toronto in card_text(audit.card) or FR.when(now - timedelta(minutes=1))[:13] in card_text(
        audit.card
    )
    assert "UTC" not in card_text(audit.card)

    avery = TeamsUser(http, bot.url, connector.url, CONTOSO, CONTOSO_ADMIN2, "Avery Admin", locale="en-US")
    assert await avery.say("audit all") == 201
    english = await connector.wait_for(
        lambda s: s.conversation_id == avery.conversation_id and "audit" in card_text(s.card).lower()
    )
    assert " UTC" in card_text(english.card)
