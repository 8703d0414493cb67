"""How every search of the bot matches people and enterprises (issue 19): from the start of a name
or of a word of it, of an address (so of its local part: the domain that every user of a tenant
shares never matches alone), or of an extension; case and accents set aside. One rule for the
Teams-user typeahead, the `phone users` list and the enterprise picker, on every backend."""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice

from services.models import Tenant


# A typeahead folds the same few thousand names of a tenant at every keystroke.
@functools.lru_cache(maxsize=32_768)
def fold(text: str) -> str:
    """`text` as a search compares it: in any case, without accents, single-spaced, so that
    "eve" finds "Marie-Ève" (a French-Canadian reader types names without their accents)."""
    if text.isascii():  # most names and every address: the quick way (a typeahead reads thousands)
        return " ".join(text.lower().split())
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


@dataclass(frozen=True)
class Search:
    """What a person typed, folded once; `Search.of("")` matches everything."""

    needle: str

    @classmethod
    def of(cls, query: str) -> Search:
        return cls(fold(query))

    @property
    def everything(self) -> bool:
        return not self.needle

    def name(self, name: str) -> bool:
        """The start of `name` or of one of its words: "wil" finds "Alex Wilber", "tremblay" finds
        "Bouchard-Tremblay", "x" does not find "Alex"."""
        text = fold(name)
        at = text.find(self.needle)
        while at != -1:
            if at == 0 or not text[at - 1].isalnum():
                return True
            at = text.find(self.needle, at + 1)
        return False

    def address(self, upn: str) -> bool:
        """The start of the address: its local part, then as much of the rest as was typed."""
        return fold(upn).startswith(self.needle)

    def number(self, number: str | None) -> bool:
        return bool(number) and fold(number or "").startswith(self.needle)

    def person(self, display_name: str, upn: str, extension: str | None = None) -> bool:
        """A Teams user or a phone user: by name, address or (a phone user's) extension."""
        return self.everything or self.name(display_name) or self.address(upn) or self.number(extension)

    def enterprise(self, tenant: Tenant) -> bool:
        return self.everything or self.name(tenant.name)


def enterprises_matching(enterprises: Iterable[Tenant], query: str, limit: int) -> list[Tenant]:
    """The first `limit` of `enterprises` (in their order) whose name `query` matches."""
    search = Search.of(query)
    return list(islice((t for t in enterprises if search.enterprise(t)), max(0, limit)))
