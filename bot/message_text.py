"""The text a person typed, with its line breaks. Teams may deliver a message typed on several lines
(Shift+Enter, or rows pasted from Excel) with the breaks turned into spaces in `text`, and the lines
only in a `text/html` attachment of `<div>`s or `<p>`s (microsoft/botframework-sdk#3238,
MicrosoftDocs/msteams-docs#3960); a bulk add's pasted rows need the lines, so they are read back
from that HTML when it holds more of them than `text` does."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

HTML = "text/html"
# Elements that end a line in what Teams renders.
_BREAKS = frozenset({"br", "div", "p", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote"})


class _Lines(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _BREAKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        # Inside an element, a line break of the HTML source is only layout.
        self.parts.append(data.replace("\r", " ").replace("\n", " "))


def html_lines(html: str) -> str:
    """The lines of a Teams message's HTML, each stripped, without empty ones."""
    parser = _Lines()
    parser.feed(html)
    parser.close()
    lines = (line.strip() for line in "".join(parser.parts).split("\n"))
    return "\n".join(line for line in lines if line)


def typed_text(text: str | None, attachments: list[Any] | None) -> str | None:
    """`text`, unless an HTML copy of the message holds more lines: then the HTML's lines."""
    lines = (text or "").strip().count("\n") + 1
    for attachment in attachments or []:
        content = getattr(attachment, "content", None)
        if getattr(attachment, "content_type", None) == HTML and isinstance(content, str):
            found = html_lines(content)
            if found.count("\n") + 1 > lines:
                return found
    return text
