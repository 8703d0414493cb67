"""The `phone users` conversation: a partner's enterprise picker, the list (search, Previous/Next),
one phone user's card, and the start of an action on them (issue 16). Every click re-reads the list
or the user and re-checks the role; an action is a request, followed by the add-user conversation's
clicks (confirm, cancel, try again) like an add."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from microsoft_teams.cards import AdaptiveCard

from cards.actions import action_confirm_card
from cards.add_user_form import add_user_form
from cards.enterprise_picker import enterprise_picker_card
from cards.notice import notice_card
from cards.phone_users import (
    SEARCH_INPUT,
    VERB_PHONE_USER_ACTION,
    VERB_PHONE_USER_OPEN,
    VERB_PHONE_USERS_FOR,
    VERB_PHONE_USERS_PAGE,
    VERB_PHONE_USERS_SEARCH,
    phone_user_card,
    phone_users_card,
)
from dialogs.add_user import DID_NOT_WORK, NOT_ALLOWED
from dialogs.ports import Chat
from i18n import N_, T, Words
from services.errors import DomainError, NotAuthorised
from services.models import Actor, RequestAction
from services.provisioning.protocol import ProvisioningService
from services.requests import access
from services.requests.actions import NO_SUCH_ACTION
from services.requests.phone_users import ListingInvalid, PhoneUserListing, clean_page, clean_query
from services.requests.service import RequestService

PHONE_USER_ACTIONS = {
    VERB_PHONE_USER_ACTION,
    VERB_PHONE_USERS_FOR,
    VERB_PHONE_USERS_SEARCH,
    VERB_PHONE_USERS_PAGE,
    VERB_PHONE_USER_OPEN,
}

CARD_NOT_VALID = N_("This card is not valid")
LIST_AGAIN = N_("Type **phone users** to see the list again.")
MAX_UPN = 320


class PhoneUsersConversation:
    """`phone users`: the list of a tenant's phone users and each one's card."""

    def __init__(self, requests: RequestService, provisioning: ProvisioningService) -> None:
        self._requests = requests
        self._provisioning = provisioning

    async def start(self, chat: Chat, actor: Actor, search: str) -> None:
        """`phone users [search]` typed: the list of the admin's tenant, or a partner's picker first."""
        words = chat.words
        try:
            query = clean_query(search)
        except ListingInvalid as exc:
            await chat.send_text(words(exc.text))
            return
        if access.may_pick_enterprise(actor):
            enterprises = await self._provisioning.enterprises_of(actor.tenant_id)
            picker = enterprise_picker_card(
                enterprises, words=words, next_verb=VERB_PHONE_USERS_FOR, next_data={"query": query}
            )
            await chat.send_card(picker)
            return
        try:
            listing = await self._requests.phone_users(actor, actor.tenant_id, query)
        except DomainError as exc:
            await chat.send_text(words(exc.text))
            return
        await chat.send_card(phone_users_card(listing, words=words))

    async def on_card_action(
        self, chat: Chat, actor: Actor, verb: str, data: Mapping[str, Any]
    ) -> AdaptiveCard:
        """One click; returns the card that replaces the clicked one."""
        words = chat.words
        if not access.may_start_add(actor):
            # Roles are re-checked on every click: someone who lost the role sees nothing more.
            await self._requests.audit(
                actor, actor.tenant_id, None, "refused", None, None, f"{verb}: no role"
            )
            return notice_card(
                NOT_ALLOWED,
                words("Only a global administrator or a managing partner can do that."),
                attention=True,
                words=words,
            )
        try:
            if verb == VERB_PHONE_USER_ACTION:
                return await self._start_action(chat, actor, data)
            return await self._act(actor, words, verb, data)
        except ListingInvalid as exc:
            await self._requests.audit(
                actor, actor.tenant_id, None, "refused", None, None, f"{verb}: bad card data"
            )
            return notice_card(
                CARD_NOT_VALID, words(exc.text) + " " + words(LIST_AGAIN), attention=True, words=words
            )
        except NotAuthorised as exc:
            return notice_card(NOT_ALLOWED, exc.text, attention=True, words=words)
        except DomainError as exc:
            return notice_card(
                DID_NOT_WORK, words(exc.text) + " " + words(LIST_AGAIN), attention=True, words=words
            )

    async def _act(self, actor: Actor, words: Words, verb: str, data: Mapping[str, Any]) -> AdaptiveCard:
        if verb == VERB_PHONE_USERS_FOR:
            enterprise = data.get("enterpriseId")
            if not isinstance(enterprise, str) or not enterprise:
                enterprises = await self._provisioning.enterprises_of(actor.tenant_id)
                return enterprise_picker_card(
                    enterprises, words("Choose an enterprise."), words, next_verb=VERB_PHONE_USERS_FOR
                )
            return await self._listing(actor, enterprise, clean_query(data.get("query")), 1, words)
        tenant_id = _text(data.get("tenantId"))
        if verb == VERB_PHONE_USERS_SEARCH:
            try:
                query = clean_query(data.get(SEARCH_INPUT))
            except ListingInvalid as exc:  # shown under the search box, with the whole list
                listing = await self._requests.phone_users(actor, tenant_id, "", 1)
                return phone_users_card(listing, exc.text, words=words)
            return await self._listing(actor, tenant_id, query, 1, words)
        query, page = clean_query(data.get("query")), clean_page(data.get("page"))
        if verb == VERB_PHONE_USERS_PAGE:
            return await self._listing(actor, tenant_id, query, page, words)
        upn = _text(data.get("upn"))
        if not upn or len(upn) > MAX_UPN:
            raise ListingInvalid(T("This card names no phone user."))
        tenant, user = await self._requests.phone_user(actor, tenant_id, upn)
        return phone_user_card(tenant, user, query, page, words=words)

    async def _start_action(self, chat: Chat, actor: Actor, data: Mapping[str, Any]) -> AdaptiveCard:
        """Change, Reset device password, Disable or Enable calling, Remove: a request of its own,
        shown on the clicked card (the change's form, or a confirmation), which then follows it."""
        try:
            action = RequestAction(_text(data.get("action")))
        except ValueError:
            raise ListingInvalid(NO_SUCH_ACTION) from None
        upn = _text(data.get("upn"))
        if not upn or len(upn) > MAX_UPN:
            raise ListingInvalid(T("This card names no phone user."))
        request = await self._requests.start_action(actor, _text(data.get("tenantId")), upn, action)
        clicked = chat.clicked_card_ref()
        if clicked:
            await self._requests.set_card_ref(request.request_id, clicked)
        if action is RequestAction.change:
            return add_user_form(request, await self._requests.form_options(request), words=chat.words)
        return action_confirm_card(request, words=chat.words)

    async def _listing(
        self, actor: Actor, tenant_id: str, query: str, page: int, words: Words
    ) -> AdaptiveCard:
        listing: PhoneUserListing = await self._requests.phone_users(actor, tenant_id, query, page)
        return phone_users_card(listing, words=words)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
