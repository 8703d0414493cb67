"""A person's own choice of language: `language` / `langue` asks, `english` / `français` chooses.

The choice is kept with the person's conversation (services/notify/conversations.py), so it wins
over their Teams client's locale in their turns and in everything the bot sends them later."""

from __future__ import annotations

from dialogs.notifications import Notifier
from dialogs.ports import Chat
from i18n import Words
from services.models import Actor


class LanguageConversation:
    """Asks which language a person wants, and keeps their answer."""

    def __init__(self, notifier: Notifier) -> None:
        self._notifier = notifier

    async def ask(self, chat: Chat) -> None:
        # Each language's name is written in that language, so either reader finds theirs.
        await chat.send_text(
            chat.words("Which language do you want me to use? Type **english** or **français**.")
        )

    async def choose(self, chat: Chat, actor: Actor, language: str) -> None:
        if not await self._notifier.choose_language(actor, language):
            await chat.send_text(
                chat.words("I can keep your choice of language only in our one-to-one chat.")
            )
            return
        # Said in the language just chosen; each language's text names itself ("in English", "en
        # français"), so the catalog's French of this text is not a word-for-word translation.
        words = Words(language, chat.words.zone)
        await chat.send_text(
            words("From now on I will write to you in English. Type **language** to change it.")
        )
