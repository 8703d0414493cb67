"""`consent` (issue 20): a tenant's global admin sees what the provider may do at the platform for
their tenant and gets the consent pages not given yet, instead of signing in for every new phone
user. The platform answers each page to the bot's callback; `consent` again shows the result."""

from __future__ import annotations

import logging

from cards.consent import consent_card, no_consent_card
from dialogs.ports import Chat
from services.errors import DomainError
from services.models import CONSENT_KINDS, Actor
from services.provisioning.protocol import ProvisioningService
from services.requests import access

log = logging.getLogger(__name__)


class ConsentConversation:
    def __init__(self, provisioning: ProvisioningService) -> None:
        self._provisioning = provisioning

    async def show(self, chat: Chat, actor: Actor) -> None:
        words = chat.words
        if not access.may_give_consent(actor):
            await chat.send_text(words("Only a tenant's global admins give its consents."))
            return
        try:
            tenant = await self._provisioning.tenant(actor.tenant_id)
            state = await self._provisioning.consent_state(actor.tenant_id)
            if tenant is None or state is None:
                await chat.send_card(no_consent_card(words))
                return
            wanted = [
                kind
                for kind, given in (("user_sync", state.user_sync), ("management", state.management is True))
                if not given and kind in CONSENT_KINDS
            ]
        except DomainError as exc:
            await chat.send_text(words(exc.text))
            return
        links: dict[str, str] = {}
        for kind in wanted:
            try:
                links[kind] = await self._provisioning.consent_url(actor.tenant_id, kind)
            except DomainError:
                # E.g. the management consent's action type is not set up (CTT_MANAGEMENT_CONSENT_ACTION):
                # the card still shows where the tenant stands, without that button.
                log.info("no consent page for %s", kind)
        await chat.send_card(consent_card(tenant.name, state, links, words))
