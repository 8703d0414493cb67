"""The message catalog (i18n/): every text the code marks has its French, the catalog keeps nothing
the code does not use, the placeholders agree, and a French-speaking person sees French."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from i18n import CATALOG, FRENCH, Words, fold, language_of, time_zone
from tests.conftest import RunningBot
from tests.doubles import ConnectorDouble, TeamsUser, card_text

ROOT = Path(__file__).resolve().parent.parent
CODE = ("cards", "dialogs", "bot", "services", "i18n")
# How the code asks for a text: `words(...)` (also `chat.words(...)`) and `N_(...)` for a constant.
KEYWORDS = {"words": None, "N_": None, "T": None}
PLACEHOLDER = re.compile(r"\{(\w*)\}")


def used_texts() -> set[str]:
    found: set[str] = set()
    for folder in CODE:
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / folder, method_map=[("**.py", "python")], keywords=KEYWORDS, comment_tags=()
        ):
            if isinstance(message, str):
                found.add(message)
    return found


def french() -> dict[str, str]:
    table: dict[str, str] = {}
    for path in sorted(CATALOG.glob("*.po")):
        with path.open("rb") as handle:
            entries = {m.id: m.string for m in read_po(handle) if m.id}
        assert not set(entries) & set(table), f"{path.name} repeats texts another catalog file has"
        table.update(entries)
    return table


def test_every_text_the_code_uses_has_its_french():
    missing = sorted(used_texts() - {k for k, v in french().items() if v})
    assert missing == []


def test_the_catalog_keeps_no_text_the_code_does_not_use():
    assert sorted(set(french()) - used_texts()) == []


def test_placeholders_agree():
    wrong = {
        english: translated
        for english, translated in french().items()
        if sorted(PLACEHOLDER.findall(english)) != sorted(PLACEHOLDER.findall(translated))
    }
    assert wrong == {}


def test_whose_language_and_which_time():
    assert language_of("fr-CA") == language_of("fr-FR") == language_of("FR_ca") == FRENCH
    assert language_of("en-US") == language_of(None) == language_of("") == "en"
    assert time_zone("America/Toronto") is not None
    assert time_zone("Not/AZone") is None and time_zone(None) is None and time_zone("x" * 100) is None
    assert fold("Arrêter") == "arreter"
    from datetime import UTC, datetime

    moment = datetime(2026, 12, 1, 15, 42, tzinfo=UTC)
    assert Words(FRENCH, time_zone("America/Toronto")).when(moment) == "2026-12-01 10 h 42"
    assert Words("en", time_zone("America/Vancouver")).when(moment) == "2026-12-01, 7:42\u202fa.m."
    assert Words("en").when(moment).endswith("UTC"), "a time whose zone is unknown says it is UTC"


async def test_a_french_speaking_admin_gets_the_welcome_and_the_commands_in_french(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble
):
    english = [en for en, fr in french().items() if len(en.split()) >= 3 and en != fr]

    async def said_in_french(text: str) -> str:
        before = len(connector.sent)
        assert (await admin.post(admin._activity(type="message", text=text, locale="fr-CA"))).status == 201
        reply = connector.sent[before]
        shown = card_text(reply.card) if reply.card else reply.text
        assert not [e for e in english if e in shown], shown
        return shown

    welcome = await said_in_french("Aide")
    assert "Bonjour Ada Admin!" in welcome and "**ajouter un utilisateur**" in welcome
    assert "Il n'y a rien à annuler" in await said_in_french("ANNULER")
    assert "Désolé, je n'ai pas compris" in await said_in_french("quoi?")
    # The same person in English, from a client set to English.
    assert (await admin.post(admin._activity(type="message", text="help", locale="en-US"))).status == 201
    assert "Hi Ada Admin!" in card_text(connector.sent[-1].card)


def test_a_text_made_before_its_reader_is_known_is_translated_when_shown():
    from i18n import T, as_text

    made = T("Extension {extension} does not exist on {pbx_location}.", extension="999", pbx_location="PBX")
    assert str(made) == "Extension 999 does not exist on PBX."
    for stored in (made, made.encode(), made.as_json()):
        assert as_text(stored) == made
        assert Words("en")(stored) == "Extension 999 does not exist on PBX."
    assert as_text("plain data, e.g. a name") == "plain data, e.g. a name"
    assert as_text(None) == ""
    assert (
        Words(FRENCH)("an English text the catalog does not know")
        == "an English text the catalog does not know"
    )


# Where a text reaches a person: the card builders, messages, answers, and the domain errors whose
# message is shown. A string literal given to one of these is a text that bypasses the catalog.
SHOWN_BY = {
    "send_text": None,
    "heading": None,
    "paragraph": None,
    "banner": None,
    "field_error": None,
    "command": 1,  # command(title, value): the value is what the button sends, not a text
    "execute": None,
    "notice_card": None,
    "SignInAnswer": None,
    "TextBlock": None,
    "Fact": None,
    "Choice": None,
    "TextInput": None,
    "ChoiceSetInput": None,
    "ToggleInput": None,
    "DomainError": None,
    "NotAuthorised": None,
    "RequestNotFound": None,
    "StaleRequest": None,
    "RejectionReasonMissing": None,
    "ProvisioningError": None,
    "SignInLinkInvalid": None,
}
SHOWN_KEYWORDS = {"text", "title", "label", "placeholder", "message", "error_message"}
WORDS = re.compile(r"[A-Za-z]{2,}[ ,.:;!?]+[A-Za-z]{2,}")  # two words or more: a sentence, not an id


def test_no_text_a_person_sees_is_written_inline():
    import ast

    inline = []
    for folder in ("cards", "dialogs", "bot", "services"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                if name not in SHOWN_BY or (name == "execute" and not isinstance(func, ast.Name)):
                    continue  # `conn.execute(...)` runs SQL; the cards' `execute(...)` is a button
                limit = SHOWN_BY[name]
                shown = list(node.args[:limit] if limit else node.args)
                shown += [k.value for k in node.keywords if k.arg in SHOWN_KEYWORDS]
                for arg in shown:
                    literal = (
                        arg.value
                        if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
                        else "".join(v.value for v in arg.values if isinstance(v, ast.Constant))
                        if isinstance(arg, ast.JoinedStr)
                        else ""
                    )
                    if WORDS.search(literal):
                        inline.append(f"{path.relative_to(ROOT)}:{arg.lineno}: {literal[:60]!r}")
    assert inline == []
