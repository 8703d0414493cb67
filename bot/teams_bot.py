"""The activity handler: works out who is talking, then routes to dialogs/. No rules here."""

from __future__ import annotations

import logging
from typing import Any

from microsoft_agents.activity import Activity, ActivityTypes, ChannelAccount, InvokeResponse
from microsoft_agents.hosting.core import ActivityHandler, TurnContext

from bot.cards import attachment, card_invoke_response
from bot.chat import WORDS_KEY, TurnChat, reference_of, time_zone_name_of, words_of
from bot.message_text import typed_text
from cards.common import COMMAND_KEY
from cards.notice import notice_card
from dialogs.add_user import BUTTON_NOT_KNOWN, CARD_ACTIONS, AddUserConversation
from dialogs.approvals import APPROVAL_ACTIONS, ApprovalConversation
from dialogs.bulk import BULK_ACTIONS, BulkConversation
from dialogs.main_menu import MainMenu
from dialogs.notifications import Notifier
from dialogs.phone_users import PHONE_USER_ACTIONS, PhoneUsersConversation
from i18n import N_
from services.directory import Directory
from services.errors import DomainError
from services.models import Actor

log = logging.getLogger(__name__)

UNKNOWN_BUTTON = N_("Unknown button")
TYPE_HELP = N_("Type **help** to see what I can do.")

SEARCH_RESPONSE_TYPE = "application/vnd.microsoft.search.searchResponse"
MAX_SEARCH_RESULTS = 25


def tenant_of(activity: Activity) -> str:
    conversation = activity.conversation
    if conversation is not None and conversation.tenant_id:
        return str(conversation.tenant_id)
    channel_data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
    tenant = channel_data.get("tenant")
    return str(tenant.get("id") or "") if isinstance(tenant, dict) else ""


ACTOR_KEY = "phone_connector.actor"


class PhoneConnectorBot(ActivityHandler):
    def __init__(
        self,
        directory: Directory,
        menu: MainMenu,
        add_user: AddUserConversation,
        approvals: ApprovalConversation,
        notifier: Notifier,
        phone_users: PhoneUsersConversation,
        bulk: BulkConversation,
    ) -> None:
        self._directory = directory
        self._phone_users = phone_users
        self._bulk = bulk
        self._menu = menu
        self._add_user = add_user
        self._approvals = approvals
        self._notifier = notifier

    async def on_turn(self, turn: TurnContext) -> None:
        # Roles are looked up on every turn and every click, from tenant id + AAD object id (the
        # directory may answer from its cache: ROLE_CACHE_SECONDS, SECURITY.md).
        sender = turn.activity.from_property or ChannelAccount(id="")
        actor = await self._directory.actor(
            tenant_of(turn.activity), sender.aad_object_id or "", sender.name or ""
        )
        turn.turn_state[ACTOR_KEY] = actor
        conversation = turn.activity.conversation
        zone = time_zone_name_of(turn.activity)
        if sender.id and conversation is not None and conversation.conversation_type in (None, "personal"):
            await self._notifier.remember(
                actor, sender.id, actor.name or sender.name or "", reference_of(turn.activity), zone
            )
        # The person's own choice of language wins over their Teams client's locale.
        turn.turn_state[WORDS_KEY] = words_of(turn.activity, await self._notifier.chosen_language(actor))
        await super().on_turn(turn)

    async def _actor(self, turn: TurnContext) -> Actor:
        return turn.turn_state[ACTOR_KEY]

    async def on_message_activity(self, turn: TurnContext) -> None:
        actor = await self._actor(turn)
        chat = TurnChat(turn)
        value = turn.activity.value if isinstance(turn.activity.value, dict) else None
        if value is not None and isinstance(value.get("verb"), str):
            await self._card_action_by_message(turn, chat, actor, value)
            return
        if value is not None and isinstance(value.get(COMMAND_KEY), str):
            await self._menu.on_text(chat, actor, value[COMMAND_KEY])
            return
        await self._menu.on_text(chat, actor, typed_text(turn.activity.text, turn.activity.attachments))

    async def _card_action_by_message(
        self, turn: TurnContext, chat: TurnChat, actor: Actor, value: dict[str, Any]
    ) -> None:
        """The Action.Submit fallback of a Universal Action, for clients without Action.Execute."""
        verb = value["verb"]
        if verb in APPROVAL_ACTIONS:
            card = await self._approvals.on_card_action(chat, actor, verb, value)
        elif verb in CARD_ACTIONS:
            card = await self._add_user.on_card_action(chat, actor, verb, value)
        elif verb in PHONE_USER_ACTIONS:
            card = await self._phone_users.on_card_action(chat, actor, verb, value)
        elif verb in BULK_ACTIONS:
            card = await self._bulk.on_card_action(chat, actor, verb, value)
        else:
            await chat.send_text(chat.words(BUTTON_NOT_KNOWN))
            return
        if turn.activity.reply_to_id:
            await turn.update_activity(
                Activity(
                    type=ActivityTypes.message,
                    id=turn.activity.reply_to_id,
                    attachments=[attachment(card)],
                )
            )
        else:
            await chat.send_card(card)

    async def on_members_added_activity(self, members_added: list[ChannelAccount], turn: TurnContext) -> None:
        bot_id = turn.activity.recipient.id if turn.activity.recipient else None
        if any(member.id != bot_id for member in members_added):
            await self._menu.welcome(TurnChat(turn), await self._actor(turn))

    async def on_installation_update_add(self, turn: TurnContext) -> None:
        # Teams sends this and a conversationUpdate on install: welcome once, on the latter.
        return None

    async def on_invoke_activity(self, turn: TurnContext) -> InvokeResponse:
        name = turn.activity.name
        value = turn.activity.value if isinstance(turn.activity.value, dict) else {}
        if name == "adaptiveCard/action":
            action = value.get("action") if isinstance(value.get("action"), dict) else {}
            verb = action.get("verb")
            data = action.get("data") if isinstance(action.get("data"), dict) else {}
            actor = await self._actor(turn)
            chat = TurnChat(turn)
            if isinstance(verb, str) and verb in APPROVAL_ACTIONS:
                return card_invoke_response(await self._approvals.on_card_action(chat, actor, verb, data))
            if isinstance(verb, str) and verb in CARD_ACTIONS:
                return card_invoke_response(await self._add_user.on_card_action(chat, actor, verb, data))
            if isinstance(verb, str) and verb in PHONE_USER_ACTIONS:
                return card_invoke_response(await self._phone_users.on_card_action(chat, actor, verb, data))
            if isinstance(verb, str) and verb in BULK_ACTIONS:
                return card_invoke_response(await self._bulk.on_card_action(chat, actor, verb, data))
            return card_invoke_response(
                notice_card(UNKNOWN_BUTTON, TYPE_HELP, attention=True, words=chat.words)
            )
        if name == "application/search":
            return await self._search(turn, value)
        # Unknown invokes are answered politely instead of with the SDK's 501.
        return InvokeResponse(status=200, body={})

    async def _search(self, turn: TurnContext, value: dict[str, Any]) -> InvokeResponse:
        """Teams' typeahead (cards/typeahead.py): the dataset says which field is searched."""
        actor = await self._actor(turn)
        query = value.get("queryText") if isinstance(value.get("queryText"), str) else ""
        dataset = value.get("dataset") if isinstance(value.get("dataset"), str) else ""
        options = value.get("queryOptions") if isinstance(value.get("queryOptions"), dict) else {}
        top = options.get("top") if isinstance(options.get("top"), int) else MAX_SEARCH_RESULTS
        limit = max(1, min(top, MAX_SEARCH_RESULTS))
        try:
            results = await self._add_user.search(actor, dataset, query[:100], limit, TurnChat(turn).words)
        except DomainError as exc:
            log.info("typeahead search refused: %s", exc.message)
            results = []
        return InvokeResponse(
            status=200,
            body={
                "type": SEARCH_RESPONSE_TYPE,
                "value": {"results": [{"title": t, "value": v} for t, v in results]},
            },
        )
