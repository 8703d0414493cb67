"""Typed commands: what a user wrote, or which navigation button they pressed, as one enum."""

from __future__ import annotations

import enum
import re

from i18n import fold


class Command(enum.StrEnum):
    add_user = "add user"
    phone_users = "phone users"  # also with a search after it: parse_phone_users
    bulk_add = "bulk add"  # also with the rows on the next lines: parse_bulk
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

# `phone users`, then what to search for (kept as typed). Folded like the other commands.
_PHONE_USERS = {
    "phone users",
    "phone user",
    "list phone users",
    "show phone users",
    "utilisateurs telephoniques",
    "utilisateur telephonique",
    "liste des utilisateurs telephoniques",
    "afficher les utilisateurs telephoniques",
}
_PHONE_USERS_LONGEST = max(len(p.split()) for p in _PHONE_USERS)


def parse_phone_users(text: str | None) -> str | None:
    """The search of a `phone users <search>` command ("" for none), or None for another text."""
    if not text:
        return None
    typed = _MENTION.sub(" ", text).split()
    for size in range(min(len(typed), _PHONE_USERS_LONGEST), 0, -1):
        head = " ".join(re.sub(r"[^\w\s]", " ", fold(" ".join(typed[:size]))).split())
        if head in _PHONE_USERS:
            return " ".join(typed[size:])
    return None


# `bulk add` on the first line, then the rows (kept as typed). Folded like the other commands.
_BULK = {"bulk add", "bulk", "add users", "ajout en bloc", "ajout en lot", "ajouter des utilisateurs"}


def parse_bulk(text: str | None) -> str | None:
    """The rows of a `bulk add` message ("" for none), or None for another text."""
    if not text:
        return None
    first, _, rest = _MENTION.sub(" ", text).strip().partition("\n")
    head = " ".join(re.sub(r"[^\w\s]", " ", fold(first)).split())
    return rest.strip("\r\n") if head in _BULK else None


def parse_command(text: str | None) -> Command:
    """Whole-phrase match, in English or French, after removing @mentions, case, accents and
    punctuation; no substring guessing."""
    if not text:
        return Command.unknown
    cleaned = _MENTION.sub(" ", text)
    cleaned = re.sub(r"[^\w\s]", " ", fold(cleaned))
    cleaned = " ".join(cleaned.split())
    if parse_phone_users(text) is not None:
        return Command.phone_users
    if parse_bulk(text) is not None:
        return Command.bulk_add
    return _ALIASES.get(cleaned, Command.unknown)
