"""Free text over HTTP (issue 19, point 6), in English and French: a typo gets the command it was
meant to be, with a button; a one-line add opens the form filled in, which is still reviewed before
anything is sent; text typed while a form is open says where to put it; `help` and the reply to an
unknown text name every command."""

from __future__ import annotations

from typing import Any

import aiohttp

from services.models import RequestState
from tests.conftest import RunningBot
from tests.doubles import (
    CONTOSO,
    CONTOSO_ADMIN,
    FABRIKAM,
    FABRIKAM_ADMIN,
    NORTHWIND,
    NORTHWIND_PARTNER,
    ConnectorDouble,
    Sent,
    TeamsUser,
    card_actions,
    card_inputs,
    card_text,
)
from tests.test_french_e2e import english_phrases, in_the_wrong_language

EVERY_COMMAND = (
    "add user",
    "phone users",
    "bulk add",
    "my requests",
    "pending",
    "audit",
    "language",
    "help",
    "cancel",
)
EVERY_COMMAND_FR = (
    "ajouter un utilisateur",
    "utilisateurs téléphoniques",
    "ajout en bloc",
    "mes demandes",
    "en attente",
    "journal",
    "langue",
    "aide",
    "annuler",
)


def french_admin(http: aiohttp.ClientSession, bot: RunningBot, connector: ConnectorDouble) -> TeamsUser:
    return TeamsUser(
        http,
        bot.url,
        connector.url,
        CONTOSO,
        CONTOSO_ADMIN,
        "Ada Admin",
        locale="fr-CA",
        time_zone="America/Toronto",
    )


async def reply_to(user: TeamsUser, connector: ConnectorDouble, text: str) -> Sent:
    """What the bot answers `text` with (a message or a card)."""
    before = len(connector.sent)
    assert await user.say(text) == 201
    return await connector.wait_for(
        lambda s: s.conversation_id == user.conversation_id and connector.sent.index(s) >= before
    )


def shown(sent: Sent) -> str:
    return card_text(sent.card) if sent.card else sent.text


async def open_draft(bot: RunningBot) -> Any:
    from services.directory import EmbeddedDirectory

    actor = await EmbeddedDirectory(bot.runtime.database).actor(CONTOSO, CONTOSO_ADMIN)
    return await bot.runtime.requests.open_draft_of(actor)


# -- a typo --------------------------------------------------------------------------------------


async def test_a_typo_gets_the_nearest_command_and_its_button_runs_it(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble
):
    # Nothing close: the list of commands, not a guess ("quoi" is not "quit").
    assert "Sorry, I did not understand that." in shown(await reply_to(admin, connector, "quoi"))
    answer = await reply_to(admin, connector, "add usr")
    assert "Did you mean **add user**?" in shown(answer)
    assert "Type **help** to see every command." in shown(answer)
    button = card_actions(answer.card)["Add user"]
    assert button["type"] == "Action.Submit" and button["data"] == {"command": "add user"}
    assert await admin.submit(button["data"], reply_to=answer.activity_id) == 201
    await connector.wait_for(lambda s: "Add a phone user to Contoso" in card_text(s.card))

    assert "Did you mean **pending**?" in shown(await reply_to(admin, connector, "pendng"))
    assert "Did you mean **help**?" in shown(await reply_to(admin, connector, "hlep"))
    assert "Did you mean **phone users**?" in shown(await reply_to(admin, connector, "lsit users"))


async def test_a_typo_in_french_gets_the_command_in_french(
    bot: RunningBot, http: aiohttp.ClientSession, connector: ConnectorDouble
):
    ada = french_admin(http, bot, connector)
    answer = await reply_to(ada, connector, "aide moi")
    assert "Vouliez-vous dire **aide**?" in shown(answer)
    assert set(card_actions(answer.card)) == {"Aide"}, "one button: the command is Help itself"
    answer = await reply_to(ada, connector, "ajoutr un utilisateur")
    assert "Vouliez-vous dire **ajouter un utilisateur**?" in shown(answer)
    assert card_actions(answer.card)["Ajouter un utilisateur"]["data"] == {"command": "add user"}
    assert "Vouliez-vous dire **journal**?" in shown(await reply_to(ada, connector, "journl"))
    assert in_the_wrong_language(connector.for_conversation(ada.conversation_id), english_phrases()) == []


# -- a one-line add ------------------------------------------------------------------------------


async def test_a_one_line_add_opens_the_form_filled_in_and_nothing_is_sent_before_the_review(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble
):
    form = await reply_to(admin, connector, "add user isaiah@contoso.example ext 108 route ca central")
    assert "Add a phone user to Contoso" in card_text(form.card)
    inputs = card_inputs(form.card)
    assert inputs["teamsUser"] == "isaiah@contoso.example"
    assert inputs["extension"] == "108"
    assert inputs["voiceRoute"] == "CA Central", "the route as the tenant spells it"
    assert inputs["pbxLocation"] == "PBX"
    draft = await open_draft(bot)
    assert draft is not None and draft.state is RequestState.draft, "a draft: nothing is sent yet"
    assert draft.values["extension"] == "108" and draft.values["voice_route"] == "CA Central"
    state = await bot.runtime.provisioning.user_state(CONTOSO, "isaiah@contoso.example")
    assert state is None or not state.provisioned

    review = (await admin.click(form.activity_id, form.card, "Review"))["value"]
    text = card_text(review)
    assert "Check and add" in text and "108" in text and "Isaiah Langer" in text
    await admin.click(form.activity_id, review, "Add user")
    await connector.wait_for(
        lambda s: s.method == "PUT" and s.activity_id == form.activity_id and "Done." in card_text(s.card)
    )
    state = await bot.runtime.provisioning.user_state(CONTOSO, "isaiah@contoso.example")
    assert state is not None and state.provisioned and state.extension == "108"


async def test_a_one_line_add_in_french_with_a_name_and_a_taken_extension(
    bot: RunningBot, http: aiohttp.ClientSession, connector: ConnectorDouble
):
    ada = french_admin(http, bot, connector)
    form = await reply_to(
        ada, connector, "ajouter un utilisateur isaiah@contoso.example poste 108 route CA Central"
    )
    assert "Ajouter un utilisateur téléphonique à Contoso" in card_text(form.card)
    inputs = card_inputs(form.card)
    assert (inputs["teamsUser"], inputs["extension"], inputs["voiceRoute"]) == (
        "isaiah@contoso.example",
        "108",
        "CA Central",
    )
    assert "Annulé" in shown(await reply_to(ada, connector, "annuler"))
    # A name instead of an address is looked up; an extension that is taken is said under its field,
    # and a field the line did not give shows no error yet.
    form = await reply_to(ada, connector, "ajouter un utilisateur Adele Vance poste 101")
    inputs = card_inputs(form.card)
    assert inputs["teamsUser"] == "adele@contoso.example" and inputs["extension"] == "101"
    text = card_text(form.card)
    assert "Le poste 101 est déjà attribué à alex@contoso.example." in text, text
    assert "Choisissez une route vocale (" not in text, "the line gave no route: no error for it yet"
    assert in_the_wrong_language(connector.for_conversation(ada.conversation_id), english_phrases()) == []


async def test_a_partners_one_line_add_waits_for_the_enterprise_then_fills_the_form(
    bot: RunningBot, http: aiohttp.ClientSession, connector: ConnectorDouble
):
    pat = TeamsUser(http, bot.url, connector.url, NORTHWIND, NORTHWIND_PARTNER, "Pat Partner")
    picker = await reply_to(pat, connector, "add user isaiah@contoso.example ext 108 route US West")
    assert "Which enterprise" in card_text(picker.card)
    form = (await pat.click(picker.activity_id, picker.card, "Next", {"enterpriseId": CONTOSO}))["value"]
    assert "Add a phone user to Contoso" in card_text(form)
    inputs = card_inputs(form)
    assert (inputs["teamsUser"], inputs["extension"], inputs["voiceRoute"]) == (
        "isaiah@contoso.example",
        "108",
        "US West",
    )


async def test_an_extension_alone_picks_the_pbx_location_that_has_it(
    bot: RunningBot, http: aiohttp.ClientSession, connector: ConnectorDouble
):
    """Fabrikam has two PBX locations (200-204 East, 205-209 West): the line's extension says which."""
    admin = TeamsUser(http, bot.url, connector.url, FABRIKAM, FABRIKAM_ADMIN, "Fabian Admin")
    form = await reply_to(admin, connector, "add user ext 207")
    inputs = card_inputs(form.card)
    assert (inputs["pbxLocation"], inputs["extension"]) == ("PBX West", "207")
    text = card_text(form.card)
    assert "Choose the Teams user to add." not in text, "the line named no user: no error for it yet"
    assert "does not exist" not in text


# -- text typed while a form is open -------------------------------------------------------------


async def test_a_value_typed_in_the_chat_while_a_form_is_open_is_sent_to_its_field(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble, http: aiohttp.ClientSession
):
    await reply_to(admin, connector, "add user")
    said = shown(await reply_to(admin, connector, "105"))
    assert said == (
        "Type it in the form above: put **105** in **SIP user (PBX extension)**, then click **Review**."
    )
    said = shown(await reply_to(admin, connector, "adele@contoso.example"))
    assert "put **adele@contoso.example** in **Teams user**" in said
    said = shown(await reply_to(admin, connector, "the one in Vancouver"))
    assert said.startswith("Your add-user form is open above")
    assert "did not understand" not in said

    ada = french_admin(http, bot, connector)
    said = shown(await reply_to(ada, connector, "105"))
    assert said.startswith("Tapez-le dans le formulaire ci-dessus\u00a0: inscrivez **105** dans **")
    # Without an open form, the same text is not understood, and the reply names every command.
    await reply_to(admin, connector, "cancel")
    said = shown(await reply_to(admin, connector, "105"))
    assert said.startswith("Sorry, I did not understand that.")


# -- every command -------------------------------------------------------------------------------


async def test_help_and_the_unknown_reply_name_every_command(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble, http: aiohttp.ClientSession
):
    help_card = shown(await reply_to(admin, connector, "help"))
    unknown = shown(await reply_to(admin, connector, "blorp"))
    for command in EVERY_COMMAND:
        assert f"**{command}**" in help_card, command
        assert f"**{command}**" in unknown, command
    assert "**audit all**" in help_card, "the audit's everything is said where the audit is"

    ada = french_admin(http, bot, connector)
    help_card = shown(await reply_to(ada, connector, "aide"))
    unknown = shown(await reply_to(ada, connector, "blorp"))
    for command in EVERY_COMMAND_FR:
        assert f"**{command}**" in help_card, command
        assert f"**{command}**" in unknown, command
