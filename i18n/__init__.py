"""Every word a person sees, in English and French (Canada): the message catalog, a person's language
and time zone, and dates as that person reads them.

The catalog is gettext's, read with Babel: the English text in the code is the message id, and the
`.po` files in `i18n/fr_CA/` (one per part of the code, so they can be edited apart) hold its French.
Code asks a `Words` for its text (`words("Hi {name}!", name=...)`), so a card or a message is drawn in
the language of the person who will read it, which for a proactive message is the recipient's, not
the sender's.

A text made where its reader is not known (a domain error, a step's note, a stored error) is a
`Text`: the English template and its values, marked with `T(...)` for the catalog, translated when
it is shown. `Text.encode()` keeps one in a database column as JSON; `Words` reads either form back,
and a plain string it does not know (data, or text from before the catalog) is shown as it is. `tests/test_catalog.py` fails when a text
the code uses has no French, when the catalog keeps a text nothing uses, or when a placeholder of
the French differs from the English.

Why gettext through Babel rather than Fluent: Babel also formats dates and numbers per locale
(CLDR), which the catalog needs for local times, and its extractor finds the texts in the code, so
a completeness test reads the same thing a translator's tool would.
"""

from __future__ import annotations

import json
import unicodedata
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_datetime
from babel.messages.pofile import read_po

ENGLISH = "en"
FRENCH = "fr-CA"
LANGUAGES = (ENGLISH, FRENCH)
CATALOG = Path(__file__).resolve().parent / "fr_CA"


def language_of(locale: str | None) -> str:
    """The language we speak for a Teams locale (e.g. `fr-CA`, `fr-FR`, `en-US`): French for any
    French, English otherwise."""
    return FRENCH if (locale or "").strip().lower().replace("_", "-").startswith("fr") else ENGLISH


def time_zone(name: str | None) -> ZoneInfo | None:
    """The IANA time zone Teams sends in the activity's `clientInfo` entity, or None if unknown."""
    if not name or len(name) > 64:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@lru_cache(maxsize=1)
def _french() -> dict[str, str]:
    table: dict[str, str] = {}
    for path in sorted(CATALOG.glob("*.po")):
        with path.open("rb") as handle:
            catalog = read_po(handle, locale="fr_CA")
        table.update({m.id: m.string for m in catalog if m.id and isinstance(m.id, str) and m.string})
    return table


class Text(NamedTuple):
    """A text for a reader not known yet: its English template (the catalog's id) and its values.
    `str(text)` is the English, for logs."""

    template: str
    values: dict[str, Any]

    def __str__(self) -> str:
        return self.template.format(**self.values) if self.values else self.template

    def encode(self) -> str:
        """For a text column: JSON that `Words` recognises when it is shown."""
        return json.dumps({_TEXT_KEY: self.template, "values": self.values}, ensure_ascii=False)

    def as_json(self) -> dict[str, Any]:
        """For a JSON column."""
        return {_TEXT_KEY: self.template, "values": self.values}


_TEXT_KEY = "i18n_template"


def T(template: str, /, **values: Any) -> Text:
    """Marks `template` for the catalog and keeps its values, to be translated where it is shown."""
    return Text(template, {k: v if isinstance(v, (int, float)) else str(v) for k, v in values.items()})


def as_text(stored: object) -> str | Text:
    """A text read back from the database: a `Text` if it was one (encoded or as JSON), else the string."""
    if isinstance(stored, Text):
        return stored
    if isinstance(stored, dict) and isinstance(stored.get(_TEXT_KEY), str):
        values = stored.get("values")
        return Text(stored[_TEXT_KEY], values if isinstance(values, dict) else {})
    if isinstance(stored, str) and stored.startswith('{"' + _TEXT_KEY):
        try:
            return as_text(json.loads(stored))
        except ValueError:
            return stored
    return "" if stored is None else str(stored)


class Words:
    """The texts of one person: their language, and their time zone for dates."""

    def __init__(self, language: str = ENGLISH, zone: ZoneInfo | None = None) -> None:
        self.language = language if language in LANGUAGES else ENGLISH
        self.zone = zone
        self._table = _french() if self.language == FRENCH else {}

    def __call__(self, text: str | Text | dict[str, Any], /, **values: object) -> str:
        """`text` (the English, which is the catalog's id, or a `Text`, also as stored) in this
        person's language, filled in."""
        text = as_text(text)
        if isinstance(text, Text):
            text, values = text.template, {**text.values, **values}
        found = self._table.get(text, text)
        try:
            return found.format(**values) if values else found
        except (KeyError, IndexError, ValueError):  # a stored text whose template changed since
            return found

    def when(self, moment: datetime) -> str:
        """A moment as this person reads it: their time zone and their locale's format; UTC, and
        labelled so, when Teams did not say where they are."""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        locale = "fr_CA" if self.language == FRENCH else "en_CA"
        if self.zone is None:
            return format_datetime(moment, "short", tzinfo=UTC, locale=locale) + " UTC"
        return format_datetime(moment, "short", tzinfo=self.zone, locale=locale)


ENGLISH_WORDS = Words()


def N_(text: str) -> str:
    """Marks a text for the catalog where it is defined, to be translated where it is shown."""
    return text


def fold(text: str) -> str:
    """Lower case without accents: "Aide", "aide" and "AIDE" are one command, "écran" is "ecran"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))
