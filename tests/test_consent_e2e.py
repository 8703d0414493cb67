"""`consent` over HTTP (issue 20): a tenant's global admin sees what the provider may do at the
platform and opens the consent pages not given yet (getActionItemUrl); once given at the platform,
`consent` shows them given and calling needs no sign-in. The embedded demo service needs none; a
partner is refused."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import RunningBot
from tests.doubles import (
    CONTOSO,
    CONTOSO_ADMIN,
    NORTHWIND,
    NORTHWIND_PARTNER,
    ConnectorDouble,
    TeamsUser,
    card_text,
)
from tests.test_connecttoteams_app import platform

SIGN_IN = "Sign in as a Global Admin"


async def test_a_global_admin_gives_the_consents_from_the_card_and_calling_needs_no_sign_in(tmp_path: Path):
    async with platform(tmp_path, consented=set()) as p:
        ada = p.user(CONTOSO, CONTOSO_ADMIN, "Ada Admin")
        assert await ada.say("consent") == 201
        shown = await p.connector.wait_for(lambda s: "Consents of Contoso" in card_text(s.card))
        text = card_text(shown.card)
        assert "Sync of the Teams users: Not given yet" in text
        assert "Management by your service provider: Not known yet" in text
        buttons = {a["title"]: a for a in shown.card["actions"]}
        sync = buttons["Give: Sync of the Teams users"]["url"]
        management = buttons["Give: Management by your service provider"]["url"]
        assert sync != management and "Check again" in buttons
        assert {r["actionType"] for r in p.ctt.action_requests[-2:]} >= {"GET_USER_SYNC_CONSENT"}
        # The Global Admin opens both pages and allows; the platform answers the bot's callback.
        assert await p.ctt.global_admin_consents(sync, CONTOSO) == 200
        assert await p.ctt.global_admin_consents(management, CONTOSO) == 200

        before = len(p.connector.sent)
        assert await ada.say("consent") == 201
        again = await p.connector.wait_for(
            lambda s: s in p.connector.sent[before:] and "Consents of Contoso" in card_text(s.card)
        )
        text = card_text(again.card)
        assert (
            "Sync of the Teams users: Given" in text and "Management by your service provider: Given" in text
        )
        assert not [a for a in again.card["actions"] if a["type"] == "Action.OpenUrl"], "nothing left to give"


async def test_the_demo_service_needs_no_consent_and_a_partner_gives_none(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble, http
):
    assert await admin.say("consentement") == 201
    card = await connector.wait_for(lambda s: "needs no consent" in card_text(s.card))
    assert card.conversation_id == admin.conversation_id
    pat = TeamsUser(http, bot.url, connector.url, NORTHWIND, NORTHWIND_PARTNER, "Pat Partner")
    assert await pat.say("consent") == 201
    await connector.wait_for(lambda s: "Only a tenant's global admins give its consents." in s.text)


async def test_a_tenant_the_provider_vouches_for_shows_management_given_and_its_first_sync(tmp_path: Path):
    """CTT_CONSENTED_TENANTS counts as the management consent; Contoso's existing phone users mean
    its first sync was done (services/provisioning/connecttoteams/consent.py)."""
    async with platform(tmp_path, consented={CONTOSO}) as p:
        ada = p.user(CONTOSO, CONTOSO_ADMIN, "Ada Admin")
        assert await ada.say("consent") == 201
        shown = await p.connector.wait_for(lambda s: "Consents of Contoso" in card_text(s.card))
        text = card_text(shown.card)
        assert "Management by your service provider: Given" in text
        assert "First sync of the Teams users: Done" in text
        titles = [a["title"] for a in shown.card["actions"]]
        assert titles == ["Give: Sync of the Teams users", "Check again"]


async def test_without_the_management_consent_s_action_type_the_card_still_shows_where_it_stands(
    tmp_path: Path,
):
    """CTT_MANAGEMENT_CONSENT_ACTION empty (the stored pages do not name it): no button for that
    consent, the rest as usual, no error."""
    async with platform(tmp_path, consented=set(), CTT_MANAGEMENT_CONSENT_ACTION="") as p:
        ada = p.user(CONTOSO, CONTOSO_ADMIN, "Ada Admin")
        assert await ada.say("consent") == 201
        shown = await p.connector.wait_for(lambda s: "Consents of Contoso" in card_text(s.card))
        titles = [a["title"] for a in shown.card["actions"]]
        assert titles == ["Give: Sync of the Teams users", "Check again"]
        assert "Management by your service provider: Not known yet" in card_text(shown.card)
