"""The actions on one phone user in French (Canada) over HTTP (issue 16): a French-speaking admin
changes and removes phone users and reads no English; a partner's removal reaches her in French and
the partner in English."""

from __future__ import annotations

from typing import Any

import aiohttp

from cards.common import VERB_APPROVE, VERB_CONFIRM, VERB_SUBMIT_FORM
from cards.phone_users import VERB_PHONE_USER_ACTION, VERB_PHONE_USER_OPEN, VERB_PHONE_USERS_FOR
from tests.conftest import RunningBot
from tests.doubles import CONTOSO, CONTOSO_ADMIN, ConnectorDouble, TeamsUser, card_actions
from tests.test_french_e2e import (
    FR,
    TORONTO,
    english_phrases,
    french_phrases,
    in_the_wrong_language,
    languages,  # noqa: F401 (fixture)
    press,
    shown,
    to,
)
from tests.test_partner_flow_e2e import World

REMOVED = FR(
    "**Done.** {name} is removed and extension {extension} is free. Remove their Teams Phone licence in "
    "the Microsoft 365 admin center if they no longer need it.",
    name="Megan Bowen",
    extension="100",
)


async def click_action(user: TeamsUser, card_id: str, card: dict[str, Any], action: str) -> dict[str, Any]:
    """The phone user card's button for `action` (they share one verb), whatever its title."""
    found = [
        a
        for a in card_actions(card).values()
        if a.get("verb") == VERB_PHONE_USER_ACTION and a["data"].get("action") == action
    ]
    assert found, (action, shown(card))
    answer = await user.invoke_action(card_id, VERB_PHONE_USER_ACTION, found[0]["data"])
    return answer["value"]


async def test_a_french_speaking_admin_changes_alex_and_removes_megan_in_french(
    bot: RunningBot, http: aiohttp.ClientSession, connector: ConnectorDouble
):
    ada = TeamsUser(
        http, bot.url, connector.url, CONTOSO, CONTOSO_ADMIN, "Ada Admin", locale="fr-CA", time_zone=TORONTO
    )
    assert await ada.install() == 201
    answers: list[dict[str, Any]] = []

    assert await ada.say("utilisateurs téléphoniques alex") == 201
    listing = await connector.wait_for(
        lambda s: s.conversation_id == ada.conversation_id and "Alex Wilber" in shown(s)
    )
    card_id = listing.activity_id
    answers.append(await press(ada, card_id, listing.card, VERB_PHONE_USER_OPEN))
    answers.append(await click_action(ada, card_id, answers[-1], "change"))
    assert FR("Change {name} in {tenant}", name="Alex Wilber", tenant="Contoso") in shown(answers[-1])
    answers.append(await press(ada, card_id, answers[-1], VERB_SUBMIT_FORM, {"extension": "106"}))
    assert FR("Check and change") in shown(answers[-1])
    answers.append(await press(ada, card_id, answers[-1], VERB_CONFIRM))
    done = FR("**Done.** {name} now has extension {extension}.", name="Alex Wilber", extension="106")
    await connector.wait_for(lambda s: s.activity_id == card_id and done in shown(s))

    assert await ada.say("utilisateurs téléphoniques megan") == 201
    listing = await connector.wait_for(
        lambda s: (
            s.conversation_id == ada.conversation_id and "Megan Bowen" in shown(s) and s.method == "POST"
        )
    )
    card_id = listing.activity_id
    answers.append(await press(ada, card_id, listing.card, VERB_PHONE_USER_OPEN))
    answers.append(await click_action(ada, card_id, answers[-1], "remove"))
    assert FR("Remove {name}", name="Megan Bowen") + "?" in shown(answers[-1])
    answers.append(await press(ada, card_id, answers[-1], VERB_CONFIRM))
    await connector.wait_for(lambda s: s.activity_id == card_id and REMOVED in shown(s))

    seen = [*to(ada, connector), *answers]
    assert in_the_wrong_language(seen, english_phrases()) == []
    assert not (await bot.runtime.provisioning.user_state(CONTOSO, "megan@contoso.example")).provisioned


async def test_a_partner_s_removal_reaches_a_french_approver_in_french(languages: World):  # noqa: F811
    w = languages
    for user in (w.pat, w.ada, w.avery):
        assert await user.install() == 201
    assert await w.pat.say("phone users megan") == 201
    picker = await w.latest_card(w.pat, "Whose phone users?")
    listing = await press(
        w.pat, picker.activity_id, picker.card, VERB_PHONE_USERS_FOR, {"enterpriseId": CONTOSO}
    )
    megan = await press(w.pat, picker.activity_id, listing, VERB_PHONE_USER_OPEN)
    confirm = await click_action(w.pat, picker.activity_id, megan, "remove")
    await press(w.pat, picker.activity_id, confirm, VERB_CONFIRM)

    heading = FR("{action} ({tenant})", action=FR("Remove {name}", name="Megan Bowen"), tenant="Contoso")
    ada_card = await w.latest_card(w.ada, heading)
    await w.latest_card(w.avery, "Remove Megan Bowen (Contoso)")
    approved = await press(w.ada, ada_card.activity_id, ada_card.card, VERB_APPROVE)
    await w.connector.wait_for(lambda s: s.activity_id == ada_card.activity_id and REMOVED in shown(s))
    await w.text_to(w.pat, "Done: your request")
    ada_saw = [*to(w.ada, w.connector), approved]
    assert in_the_wrong_language(ada_saw, english_phrases()) == []
    assert in_the_wrong_language(to(w.pat, w.connector), french_phrases()) == []
