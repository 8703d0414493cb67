"""What arrives from outside, checked once: ids, free text and the numbers of card data.

One home for the edge (bot/web.py), the dialogs and the services, so every layer applies the same
rules. It lives in services/ because it is plain Python and the lowest layer that all three may import.

Why: a lone surrogate (JSON allows "\\ud800") cannot be encoded as UTF-8, so SQLite and PostgreSQL both
refuse it with an exception; PostgreSQL refuses NUL in text; Python's json reads `1e999` as infinity,
which `int()` turns into an OverflowError, and a huge integer overflows the database's integer columns.
"""

from __future__ import annotations

import math
import unicodedata
from typing import Any

# Ids of people, tenants and conversations never hold these; one that does is forged or broken.
# Cs: a lone surrogate (a pair would have been joined by the JSON reader). Cc: NUL and other controls.
REFUSED_IN_IDS = frozenset({"Cc", "Cs"})
# Kept in free text: a person may type lines and tabs.
KEPT_CONTROLS = frozenset("\t\n\r")
REPLACEMENT = "\ufffd"
# The version and page columns are 32-bit integers on PostgreSQL: anything larger cannot be one of ours.
INT_MAX = 2**31 - 1
MAX_DEPTH = 64


def id_is_unfit(value: str) -> bool:
    """True when an id holds a lone surrogate, NUL or another control character."""
    return any(unicodedata.category(c) in REFUSED_IN_IDS for c in value)


def clean_text(value: str) -> str:
    """Free text (a message, a name): lone surrogates and control characters other than tabs and
    line breaks are dropped; refusing a person's message for them would be wrong, storing them fails."""
    if value.isprintable():  # the common case costs one scan
        return value
    return "".join(c for c in value if c in KEPT_CONTROLS or unicodedata.category(c) not in REFUSED_IN_IDS)


def storable(value: Any, depth: int = 0) -> Any:
    """A JSON value with every lone surrogate and NUL, in keys and strings at any depth, replaced by
    U+FFFD. Card values are then still refused by their own validators (a replacement character is
    no digit, no id of ours), with their own message, and nothing reaches a database it cannot hold."""
    if isinstance(value, str):
        if value.isprintable() or not any(c == "\x00" or "\ud800" <= c <= "\udfff" for c in value):
            return value
        return "".join(REPLACEMENT if c == "\x00" or "\ud800" <= c <= "\udfff" else c for c in value)
    if depth > MAX_DEPTH:  # json.loads already refused deeper bodies (RecursionError): a guard only
        return value
    if isinstance(value, dict):
        return {storable(k, depth + 1): storable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v, depth + 1) for v in value]
    return value


def card_int(value: Any, minimum: int = 0, maximum: int = INT_MAX) -> int | None:
    """A whole number from card data (a version, a page), or None when it is not one that fits:
    bools, infinities, NaN, fractions, numbers outside [minimum, maximum], and any other type.
    Digits in a string are accepted (some clients send card data as text)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            return None
        value = int(value)
    elif isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text[:1] == "-" else text
        # ASCII digits only, and few of them: int() would accept other scripts' digits and
        # spends quadratic time on thousands of them.
        if not digits or len(digits) > 10 or not (digits.isascii() and digits.isdigit()):
            return None
        value = int(text)
    if not isinstance(value, int) or not minimum <= value <= maximum:
        return None
    return value
