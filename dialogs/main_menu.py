"""The main menu: welcome, help, every typed command routed to its conversation, and anything else
typed: a typo gets the command it likely meant, text meant for an open form is sent back to it."""

from __future__ import annotations

import re

from cards.my_requests import my_requests_card
from cards.welcome import did_you_mean_card, welcome_card
from dialogs.add_user import AddUserConversation
from dialogs.approvals import ApprovalConversation
from dialogs.bulk import BulkConversation
from dialogs.commands import (
    Command,
    parse_add_user,
    parse_bulk,
    parse_command,
    parse_phone_users,
    suggest_command,
)
from dialogs.consent import ConsentConversation
from dialogs.language import LanguageConversation
from dialogs.phone_users import PhoneUsersConversation
from dialogs.ports import Chat
from i18n import ENGLISH, FRENCH, N_, Words
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
    "Sorry, I did not understand that. Type **add user**, **phone users**, **bulk add**, **my requests**, "
    "**pending**, **audit**, **consent**, **language**, **help** or **cancel**."
)
# Each command as a person reads it in a suggestion ("Did you mean **add user**?").
SHOWN = {
    Command.add_user: N_("add user"),
    Command.phone_users: N_("phone users"),
    Command.bulk_add: N_("bulk add"),
    Command.my_requests: N_("my requests"),
    Command.pending: N_("pending"),
    Command.audit: N_("audit"),
    Command.audit_all: N_("audit all"),
    Command.consent: N_("consent"),
    Command.help: N_("help"),
    Command.cancel: N_("cancel"),
    Command.language: N_("language"),
    Command.english: N_("english"),
    Command.french: N_("french"),
}
# What is typed while a form is open, and the field of the form it belongs in.
_EXTENSION = re.compile(r"[0-9]{2,8}")
_ADDRESS = re.compile(r"[^@\s]+@[^@\s]+")


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
        consent: ConsentConversation,
    ) -> None:
        self._requests = requests
        self._add_user = add_user
        self._approvals = approvals
        self._provisioning = provisioning
        self._languages = languages
        self._phone_users = phone_users
        self._bulk = bulk
        self._consent = consent

    async def welcome(self, chat: Chat, actor: Actor) -> None:
        await chat.send_card(welcome_card(actor.name, actor.role, words=chat.words))

    async def on_text(self, chat: Chat, actor: Actor, text: str | None) -> None:
        if chat.files():  # a file in the chat is a bulk add's rows
            await self._bulk.start_files(chat, actor)
            return
        command = parse_command(text)
        if command is Command.unknown and (meant := suggest_command(text)) is not None:
            shown = chat.words(SHOWN[meant])
            await chat.send_card(did_you_mean_card(shown, meant.value, words=chat.words))
        elif command is Command.help:
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
            why = f"{command.value}: no role"  # the audit card says it in words (cards/audit.py)
            await self._requests.audit(actor, actor.tenant_id, None, "refused", None, None, why)
            await chat.send_text(chat.words(NOT_AUTHORISED))
        elif command is Command.add_user:
            await self._add_user.start(chat, actor, prefill=parse_add_user(text))
        elif command is Command.phone_users:
            await self._phone_users.start(chat, actor, parse_phone_users(text) or "")
        elif command is Command.bulk_add:
            await self._bulk.start(chat, actor, parse_bulk(text) or "")
        elif command is Command.pending:
            await self._approvals.show_pending(chat, actor)
        elif command is Command.consent:
            await self._consent.show(chat, actor)
        elif command in (Command.audit, Command.audit_all):
            await self._approvals.show_audit(chat, actor, everything=command is Command.audit_all)
        elif command is Command.my_requests:
            await chat.send_card(my_requests_card(await self._requests.requests_of(actor), words=chat.words))
        else:
            await chat.send_text(await self._not_understood(actor, text or "", chat.words))

    async def _not_understood(self, actor: Actor, text: str, words: Words) -> str:
        """What a text that is no command gets: where it goes when the person has a form open (they
        typed a value in the chat instead of the form), else the list of commands."""
        draft = await self._requests.open_draft_of(actor)
        if draft is None:
            return words(NOT_UNDERSTOOD)
        if draft.values.get("reviewed"):
            return words(
                "Your phone user is ready on the card above: click **Add user** to send it, or **Edit** "
                "to change a value. Type **cancel** to drop it."
            )
        typed = " ".join(text.replace("*", "").split())[:80]
        field = (
            words("SIP user (PBX extension)")
            if _EXTENSION.fullmatch(typed)
            else words("Teams user")
            if _ADDRESS.fullmatch(typed)
            else ""
        )
        if field:
            return words(
                "Type it in the form above: put **{typed}** in **{field}**, then click **Review**.",
                typed=typed,
                field=field,
            )
        return words(
            "Your add-user form is open above: type the values in its fields, then click **Review**. "
            "Type **cancel** to drop it."
        )
