"""Typed commands: what a user wrote, or which navigation button they pressed, as one enum; the
command a typo was meant to be; and the values of a one-line "add user ..." request."""

from __future__ import annotations

import enum
import re
from dataclasses import asdict, dataclass
from typing import Any

from rapidfuzz.distance import OSA
from rapidfuzz.process import extractOne

from i18n import fold


class Command(enum.StrEnum):
    add_user = "add user"  # also with the user's values after it: parse_add_user
    phone_users = "phone users"  # also with a search after it: parse_phone_users
    bulk_add = "bulk add"  # also with the rows on the next lines: parse_bulk
    my_requests = "my requests"
    pending = "pending"
    audit = "audit"
    audit_all = "audit all"  # the audit with the drafts and cancels it hides by default
    consent = "consent"
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
    "audit all": Command.audit_all,
    "consent": Command.consent,
    "consents": Command.consent,
    "audit everything": Command.audit_all,
    "full audit": Command.audit_all,
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
    "journal complet": Command.audit_all,
    "consentement": Command.consent,
    "consentements": Command.consent,
    "tout le journal": Command.audit_all,
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
# Teams may send a typed address as a link (`<a href="mailto:...">...</a>`): its text is what was typed.
_MARKUP = re.compile(r"<[^>]{0,500}>")


def _folded(text: str) -> str:
    """Lower case, no accents, no punctuation, single spaces: how every command is compared."""
    return " ".join(re.sub(r"[^\w\s]", " ", fold(text)).split())


# `phone users`, then what to search for (kept as typed). Folded like the other commands.
_PHONE_USERS = {
    "phone users",
    "phone user",
    "list phone users",
    "show phone users",
    "list users",
    "show users",
    "utilisateurs telephoniques",
    "utilisateur telephonique",
    "liste des utilisateurs telephoniques",
    "afficher les utilisateurs telephoniques",
    "liste des utilisateurs",
    "afficher les utilisateurs",
}
_PHONE_USERS_LONGEST = max(len(p.split()) for p in _PHONE_USERS)


def parse_phone_users(text: str | None) -> str | None:
    """The search of a `phone users <search>` command ("" for none), or None for another text."""
    if not text:
        return None
    typed = _MENTION.sub(" ", text).split()
    for size in range(min(len(typed), _PHONE_USERS_LONGEST), 0, -1):
        if _folded(" ".join(typed[:size])) in _PHONE_USERS:
            return " ".join(typed[size:])
    return None


# `bulk add` on the first line, then the rows (kept as typed). Folded like the other commands.
_BULK = {"bulk add", "bulk", "add users", "ajout en bloc", "ajout en lot", "ajouter des utilisateurs"}


def parse_bulk(text: str | None) -> str | None:
    """The rows of a `bulk add` message ("" for none), or None for another text."""
    if not text:
        return None
    first, _, rest = _MENTION.sub(" ", text).strip().partition("\n")
    return rest.strip("\r\n") if _folded(first) in _BULK else None


def parse_command(text: str | None) -> Command:
    """Whole-phrase match, in English or French, after removing @mentions, case, accents and
    punctuation; no substring guessing. A one-line add ("add user <address> ext 108") is an add."""
    if not text:
        return Command.unknown
    if parse_phone_users(text) is not None:
        return Command.phone_users
    if parse_bulk(text) is not None:
        return Command.bulk_add
    if parse_add_user(text) is not None:
        return Command.add_user
    return _ALIASES.get(_folded(_MENTION.sub(" ", text)), Command.unknown)


# -- a typo ----------------------------------------------------------------------------------------

# Every phrase a command is typed as, and what it means.
_PHRASES = (
    _ALIASES | dict.fromkeys(_PHONE_USERS, Command.phone_users) | dict.fromkeys(_BULK, Command.bulk_add)
)
_PHRASES_LONGEST = max(len(p.split()) for p in _PHRASES)
_PHRASE_LIST = list(_PHRASES)


def _typos_allowed(phrase: str) -> int:
    """Edits (a letter missing, extra, wrong, or two swapped) a phrase of this length may have: none
    for a word of 3 letters ("hi" is not "ok"), one up to 6 ("hlep", "pendng"), two beyond."""
    return 0 if len(phrase) <= 3 else 1 if len(phrase) <= 6 else 2


def suggest_command(text: str | None) -> Command | None:
    """The command a text that is none was most likely meant to be ("add usr", "pendng", and a
    command with more words after it, "aide moi"), or None when nothing is close.

    Optimal string alignment distance (rapidfuzz): a swap of two letters ("hlep") is one typo, as a
    person counts it, where difflib's ratio ranks "hlep" -> "help" no closer than "quoi" -> "quit"."""
    if not text:
        return None
    words = _folded(_MARKUP.sub(" ", _MENTION.sub(" ", text))).split()
    # Its first words, the most first: "help me please" means help.
    for size in range(min(len(words), _PHRASES_LONGEST), 0, -1):
        typed = " ".join(words[:size])
        found = extractOne(typed, _PHRASE_LIST, scorer=OSA.distance, score_cutoff=_typos_allowed(typed))
        if found is not None:
            return _PHRASES[found[0]]
    return None


# -- a one-line add --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddUserLine:
    """The values of a one-line add, as typed: an address (or a name to look up), an extension, a
    voice route, a PBX location; "" where the line did not say. Nothing here is checked: the form's
    own rules check them when they are saved into the draft (dialogs/prefill.py)."""

    teams_user: str = ""
    name: str = ""
    extension: str = ""
    voice_route: str = ""
    pbx_location: str = ""

    def as_data(self) -> dict[str, str]:
        """For a card's data (a partner's enterprise picker carries it to the form)."""
        return {k: v for k, v in asdict(self).items() if v}

    @classmethod
    def from_data(cls, data: Any) -> AddUserLine | None:
        """Read back from a card's data, which anyone can forge: strings only, each cut to a field's size."""
        if not isinstance(data, dict):
            return None
        fields = cls.__dataclass_fields__
        line = cls(
            **{k: v[:MAX_VALUE].strip() for k, v in data.items() if k in fields and isinstance(v, str)}
        )
        return line if line.as_data() else None


MAX_VALUE = 320
# The add-user phrases a one-line add starts with (folded), longest first, and "add" alone.
_ADD_HEADS = sorted(
    [p.split() for p, c in _ALIASES.items() if c is Command.add_user] + [["add"], ["ajouter"]],
    key=len,
    reverse=True,
)
# What names the value that follows it, in English and French (folded).
_KEYWORDS = {
    ("ext",): "extension",
    ("extension",): "extension",
    ("x",): "extension",
    ("poste",): "extension",
    ("sip", "user"): "extension",
    ("route",): "voice_route",
    ("voice", "route"): "voice_route",
    ("route", "vocale"): "voice_route",
    ("location",): "pbx_location",
    ("pbx", "location"): "pbx_location",
    ("emplacement",): "pbx_location",
    ("emplacement", "du", "pbx"): "pbx_location",
    ("user",): "teams_user",
    ("utilisateur",): "teams_user",
}
# Small words between the values ("with extension 108", "avec le poste 108").
_FILLERS = {"with", "and", "on", "for", "the", "avec", "et", "sur", "pour", "le", "la", "au", "a"}
_EXTENSION = re.compile(r"^[0-9]{2,8}$")


def _keyword_at(folded: list[str], i: int) -> tuple[str, int] | None:
    for size in (3, 2, 1):
        field = _KEYWORDS.get(tuple(folded[i : i + size]))
        if field is not None:
            return field, size
    return None


def parse_add_user(text: str | None) -> AddUserLine | None:
    """The values of "add user isaiah@contoso.example ext 108 route CA Central" (or "ajouter un
    utilisateur ... poste 108 route CA Central"), or None when the text is not one line that starts
    with an add-user phrase and gives at least one value."""
    if not text or "\n" in text.strip():
        return None
    typed = [t.strip(",;") for t in _MARKUP.sub(" ", _MENTION.sub(" ", text)).split()]
    typed = [t.removeprefix("mailto:") for t in typed if t.strip(",;")]
    folded = [_folded(t) for t in typed]
    head = next((len(h) for h in _ADD_HEADS if folded[: len(h)] == h), 0)
    if not head:
        return None
    values: dict[str, list[str]] = {}
    field, i = "", head
    while i < len(typed):
        keyword = _keyword_at(folded, i)
        if keyword is not None:
            field, i = keyword[0], i + keyword[1]
            continue
        token = typed[i]
        i += 1
        if "@" in token:
            values["teams_user"], field = [token], ""
        elif field == "extension" or (_EXTENSION.match(token) and field in ("", "teams_user")):
            values["extension"], field = [token], ""
        elif field in ("voice_route", "pbx_location"):
            values.setdefault(field, []).append(token)
        elif folded[i - 1] not in _FILLERS or values.get("name"):
            values.setdefault("name", []).append(token)
    name = values.get("name", [])
    while name and _folded(name[-1]) in _FILLERS:  # "... with extension 108"
        name.pop()
    line = AddUserLine(**{k: " ".join(v)[:MAX_VALUE] for k, v in values.items() if v})
    if head == 1 and not (line.teams_user or line.extension):
        return None  # "add" alone is an add only with an address or an extension ("add me to it" is not)
    return line if line.as_data() else None
