"""The lines of a message Teams delivered with its breaks only in the HTML copy (bot/message_text.py)."""

from __future__ import annotations

from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from bot.message_text import html_lines, typed_text


def html(content: str) -> SimpleNamespace:
    return SimpleNamespace(content_type="text/html", content=content)


def test_teams_divs_give_back_the_lines():
    sent = (
        "<div><div><div>bulk add</div><div>teams_user;extension</div>"
        "<div>adele@contoso.example;105</div><div>isaiah@contoso.example;106</div></div></div>"
    )
    flat = "bulk add teams_user;extension adele@contoso.example;105 isaiah@contoso.example;106"
    assert typed_text(flat, [html(sent)]) == (
        "bulk add\nteams_user;extension\nadele@contoso.example;105\nisaiah@contoso.example;106"
    )


def test_paragraphs_line_breaks_and_entities():
    assert html_lines("<p>a &amp; b<br>c&nbsp;d</p>\r\n<p>\n e \n</p>") == "a & b\nc\xa0d\ne"


def test_text_with_its_lines_is_kept_and_a_one_line_html_changes_nothing():
    assert typed_text("bulk add\nx,y", [html("<div>bulk add x,y</div>")]) == "bulk add\nx,y"
    assert typed_text("help", [html("<p>help</p>")]) == "help"
    assert typed_text("help", None) == "help"
    assert typed_text(None, [SimpleNamespace(content_type="text/html", content={"not": "text"})]) is None


@given(st.text(max_size=300))
def test_any_html_reads_without_raising(content: str):
    assert isinstance(html_lines(content), str)
