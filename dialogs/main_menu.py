"""The main menu: welcome, help, "add user", "phone users", "my requests", "cancel", "language", and anything else typed."""

from __future__ import annotations

from cards.my_requests import my_requests_card
from cards.welcome import welcome_card
from dialogs.add_user import AddUserConversation
from dialogs.approvals import ApprovalConversation
from dialogs.bulk import BulkConversation
from dialogs.commands import Command, parse_bulk, parse_command, parse_phone_users
from dialogs.language import LanguageConversation
from dialogs.phone_users import PhoneUsersConversation
from dialogs.ports import Chat
from i18n import ENGLISH, FRENCH, N_
from services.models import Actor
from services.provisioning.protocol import ProvisioningService
from services.requests import access
from services.requests.service import RequestService

NOT_AUTHORISED = N_(
    "Sorry, you are not authorised to add phone users. Only a global administrator of your "
    "tenant, or a partner who manages it, can. Ask your Microsoft 365 administrator if you "
    "think you should have access."
)
NOTHING_SENT = N_("Cancelled. Nothing was sent to the provisioning service.")
NOTHING_TO_CANCEL = N_("There is nothing to cancel. Type **help** to see what I can do.")
NOT_UNDERSTOOD = N_(
    "Sorry, I did not understand that. Type **add user**, **my requests**, **pending**, **help** or **cancel**."
)


class MainMenu:
    """Typed commands and the welcome card: routes each to its conversation, or says what it can do."""

    def __init__(
        self,
        requests: RequestService,
        add_user: AddUserConversation,
        approvals: ApprovalConversation,
        provisioning: ProvisioningService,
        languages: LanguageConversation,
        phone_users: PhoneUsersConversation,
        bulk: BulkConversation,
    ) -> None:
        self._requests = requests
        self._add_user = add_user
        self._approvals = approvals
        self._provisioning = provisioning
        self._languages = languages
        self._phone_users = phone_users
        self._bulk = bulk

    async def welcome(self, chat: Chat, actor: Actor) -> None:
        await chat.send_card(welcome_card(actor.name, actor.role, words=chat.words))

    async def on_text(self, chat: Chat, actor: Actor, text: str | None) -> None:
        if chat.files():  # a file in the chat is a bulk add's rows
            await self._bulk.start_files(chat, actor)
            return
        command = parse_command(text)
        if command is Command.help:
            await self.welcome(chat, actor)
        elif command is Command.language:  # anyone may choose their language
            await self._languages.ask(chat)
        elif command in (Command.english, Command.french):
            await self._languages.choose(chat, actor, FRENCH if command is Command.french else ENGLISH)
        elif command is Command.cancel:
            if access.may_start_add(actor) and await self._add_user.cancel_open(chat, actor):
                await chat.send_text(chat.words(NOTHING_SENT))
            else:
                await chat.send_text(chat.words(NOTHING_TO_CANCEL))
        elif not access.may_start_add(actor):
            await self._requests.audit(actor, actor.tenant_id, None, "refused", None, None, command.value)
            await chat.send_text(chat.words(NOT_AUTHORISED))
        elif command is Command.add_user:
            await self._add_user.start(chat, actor)
        elif command is Command.phone_users:
            await self._phone_users.start(chat, actor, parse_phone_users(text) or "")
        elif command is Command.bulk_add:
            await self._bulk.start(chat, actor, parse_bulk(text) or "")
        elif command is Command.pending:
            await self._approvals.show_pending(chat, actor)
        elif command is Command.audit:
            tenant = await self._provisioning.tenant(actor.tenant_id)
            await self._approvals.show_audit(chat, actor, tenant.name if tenant else actor.tenant_id)
        elif command is Command.my_requests:
            await chat.send_card(my_requests_card(await self._requests.requests_of(actor), words=chat.words))
        else:
            await chat.send_text(chat.words(NOT_UNDERSTOOD))
