"""Typed commands: what a user wrote, or which navigation button they pressed, as one enum."""

from __future__ import annotations

import enum
import re

from i18n import fold


class Command(enum.StrEnum):
    add_user = "add user"
    my_requests = "my requests"
    pending = "pending"
    audit = "audit"
    help = "help"
    cancel = "cancel"
    language = "language"  # which language? (asks)
    english = "english"  # the person's choice, kept for them
    french = "french"
    unknown = "unknown"


_ALIASES = {
    "add user": Command.add_user,
    "add a user": Command.add_user,
    "add a phone user": Command.add_user,
    "add phone user": Command.add_user,
    "new user": Command.add_user,
    "my requests": Command.my_requests,
    "requests": Command.my_requests,
    "status": Command.my_requests,
    "pending": Command.pending,
    "pending approvals": Command.pending,
    "approvals": Command.pending,
    "audit": Command.audit,
    "audit log": Command.audit,
    "help": Command.help,
    "hi": Command.help,
    "hello": Command.help,
    "start": Command.help,
    "menu": Command.help,
    "cancel": Command.cancel,
    "stop": Command.cancel,
    "quit": Command.cancel,
    "language": Command.language,
    "languages": Command.language,
    "change language": Command.language,
    "english": Command.english,
    "in english": Command.english,
    "language english": Command.english,
    "french": Command.french,
    "in french": Command.french,
    "language french": Command.french,
    "language francais": Command.french,
    # French (Canada), written without accents: what is typed is folded the same way (i18n.fold).
    "ajouter un utilisateur": Command.add_user,
    "ajouter utilisateur": Command.add_user,
    "ajouter un utilisateur telephonique": Command.add_user,
    "nouvel utilisateur": Command.add_user,
    "mes demandes": Command.my_requests,
    "demandes": Command.my_requests,
    "etat": Command.my_requests,
    "en attente": Command.pending,
    "approbations": Command.pending,
    "journal": Command.audit,
    "journal d audit": Command.audit,
    "aide": Command.help,
    "bonjour": Command.help,
    "allo": Command.help,
    "salut": Command.help,
    "annuler": Command.cancel,
    "arreter": Command.cancel,
    "quitter": Command.cancel,
    "langue": Command.language,
    "langues": Command.language,
    "changer de langue": Command.language,
    "francais": Command.french,
    "en francais": Command.french,
    "langue francais": Command.french,
    "langue francaise": Command.french,
    "anglais": Command.english,
    "en anglais": Command.english,
    "langue anglais": Command.english,
    "langue anglaise": Command.english,
    "langue english": Command.english,
}

_MENTION = re.compile(r"<at>.*?</at>", re.IGNORECASE)


def parse_command(text: str | None) -> Command:
    """Whole-phrase match, in English or French, after removing @mentions, case, accents and
    punctuation; no substring guessing."""
    if not text:
        return Command.unknown
    cleaned = _MENTION.sub(" ", text)
    cleaned = re.sub(r"[^\w\s]", " ", fold(cleaned))
    cleaned = " ".join(cleaned.split())
    return _ALIASES.get(cleaned, Command.unknown)
