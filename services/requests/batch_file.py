"""A bulk-add file (issue 18) read as people make them: a CSV from Excel or by hand, UTF-8 with or
without a BOM, comma, semicolon or tab separated, its header names matched loosely, in English or
French; or the same rows pasted in a message. Every line becomes a row with its line number, or a
problem with its line number; nothing is checked against the provisioning side here (that is
batch_check.py). The standard library's csv module reads the dialects; our part is the limits and
the names."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from i18n import T, Text, fold

MAX_BYTES = 1024 * 1024
MAX_ROWS = 1000
# A cell longer than any value a phone user has is not one of ours.
MAX_CELL = 320

# Each field of the add form, and the header names that mean it (folded: lower case, no accents,
# letters and digits only). The first two are required.
HEADERS: dict[str, tuple[str, ...]] = {
    "teams_user": (
        "teamsuser",
        "teamsusersigninaddress",
        "signinaddress",
        "user",
        "upn",
        "userprincipalname",
        "email",
        "emailaddress",
        "utilisateurteams",
        "utilisateur",
        "adressedeconnexion",
        "courriel",
    ),
    "extension": ("extension", "ext", "sipuser", "pbxextension", "poste", "utilisateursip"),
    "voice_route": ("voiceroute", "route", "routevocale"),
    "pbx_location": ("pbxlocation", "location", "pbx", "emplacementpbx", "emplacementdupbx", "emplacement"),
    "phone_number": ("phonenumber", "number", "phone", "numerodetelephone", "numero", "telephone"),
    "disable_voicemail": (
        "disablevoicemail",
        "disablevoicemailinteams",
        "voicemailoff",
        "desactiverlamessagerievocale",
        "desactiverlamessagerievocaledansteams",
    ),
    "default_dial_plan": (
        "defaultdialplan",
        "assigndefaultdialplan",
        "assigndefaultdialplanpolicy",
        "defaultdialplanpolicy",
        "plandenumerotationpardefaut",
        "strategiedeplandenumerotationpardefaut",
    ),
}
REQUIRED = ("teams_user", "extension")
FLAGS = ("disable_voicemail", "default_dial_plan")
_TRUE = {"yes", "y", "true", "1", "oui", "o", "vrai", "x"}
_FALSE = {"no", "n", "false", "0", "non", "faux", ""}


@dataclass(frozen=True)
class BatchRow:
    """One line of the file: its number (the header is line 1) and its values by field name."""

    line: int
    values: dict[str, str | bool]


@dataclass(frozen=True)
class RowProblem:
    line: int
    text: Text
    # Whose row it is, as the file gave it (for the results a person copies into Excel).
    teams_user: str = ""
    extension: str = ""


@dataclass
class BatchFile:
    rows: list[BatchRow] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)


class BatchFileRefused(Exception):
    """The whole file cannot be read (too big, not text, no header): `text` says why."""

    def __init__(self, text: Text) -> None:
        super().__init__(str(text))
        self.text = text


def read_batch(data: bytes | str) -> BatchFile:
    """The rows of a bulk-add file or of pasted text. Raises BatchFileRefused for the whole file."""
    # One kind of line end: Excel on a Mac writes a lone CR, which the csv module refuses.
    text = _decoded(data).replace("\r\n", "\n").replace("\r", "\n")
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise BatchFileRefused(T("The file is empty: it needs a header line and one line per user."))
    dialect = _dialect(lines[:20])
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    header: dict[int, str] | None = None
    found = BatchFile()
    for cells in _cells(reader):
        if not any(c.strip() for c in cells):
            continue
        line = reader.line_num
        if header is None:
            header = _header(cells)
            continue
        if len(found.rows) + len(found.problems) >= MAX_ROWS:
            raise BatchFileRefused(
                T("The file has more than {max} users: split it into files of {max} at most.", max=MAX_ROWS)
            )
        row, problem = _row(line, header, cells)
        if problem is not None:
            found.problems.append(problem)
        elif row is not None:
            found.rows.append(row)
    if header is None or (not found.rows and not found.problems):
        raise BatchFileRefused(T("The file has a header line but no users."))
    return found


def _cells(reader: Any) -> Iterator[list[str]]:
    """The reader's rows; a file the csv module cannot read at all is refused with a reason."""
    try:
        yield from reader
    except csv.Error:
        raise BatchFileRefused(T("This is not a CSV file the bot can read: check its quotes.")) from None


def _decoded(data: bytes | str) -> str:
    if isinstance(data, str):
        raw = data.encode("utf-8", "surrogatepass") if len(data) > MAX_BYTES // 4 else None
        if raw is not None and len(raw) > MAX_BYTES:
            raise _too_big()
        text = data
    else:
        if len(data) > MAX_BYTES:
            raise _too_big()
        if b"\x00" in data:
            raise BatchFileRefused(T("This is not a CSV file: it holds binary data."))
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise BatchFileRefused(
                T('The file is not UTF-8 text: in Excel, save it as "CSV UTF-8 (comma delimited)".')
            ) from None
    if any(unicodedata.category(c) == "Cs" for c in text):
        raise BatchFileRefused(T("This is not a CSV file: it holds binary data."))
    return text.lstrip("\ufeff")


def _too_big() -> BatchFileRefused:
    return BatchFileRefused(
        T("The file is larger than {size} MB: split it.", size=MAX_BYTES // (1024 * 1024))
    )


def _dialect(sample: list[str]) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff("\n".join(sample), delimiters=",;\t")
    except csv.Error:
        return csv.excel


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", fold(name))


def _header(cells: list[str]) -> dict[int, str]:
    names = {alias: field_name for field_name, aliases in HEADERS.items() for alias in aliases}
    header = {i: names[_key(c)] for i, c in enumerate(cells) if _key(c) in names}
    missing = [f for f in REQUIRED if f not in header.values()]
    if missing:
        raise BatchFileRefused(
            T(
                "The first line must name the columns; at least the Teams user's sign-in address and the "
                "extension (e.g. teams_user,extension)."
            )
        )
    return header


def _row(line: int, header: dict[int, str], cells: list[str]) -> tuple[BatchRow | None, RowProblem | None]:
    values: dict[str, str | bool] = {}
    for i, name in header.items():
        cell = cells[i].strip() if i < len(cells) else ""
        if len(cell) > MAX_CELL:
            return None, RowProblem(line, T("A value is longer than {max} characters.", max=MAX_CELL))
        if any(unicodedata.category(c) in ("Cc", "Cf") for c in cell):
            return None, RowProblem(line, T("A value contains control or formatting characters."))
        if name in FLAGS:
            flag = _flag(cell)
            if flag is None:
                return None, RowProblem(line, T("{value} is not yes or no.", value=cell[:40]))
            if cell:
                values[name] = flag
        elif cell:
            values[name] = cell
    return BatchRow(line, values), None


def _flag(cell: str) -> bool | None:
    folded = fold(cell)
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    return None


# A cell a spreadsheet would run as a formula (CSV injection): kept as text with a leading quote.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def write_csv(rows: list[list[str]]) -> str:
    """Rows as CSV for a person to copy into Excel, every cell safe to open: one that starts like
    a formula gets a leading apostrophe, so it shows as the text it is and is never run."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        writer.writerow(["'" + cell if cell.startswith(_FORMULA_START) else cell for cell in row])
    return out.getvalue()
