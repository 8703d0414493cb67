"""The seams of DESIGN.md: services/ and cards/ never import botbuilder; dialogs/ and bot/ never
touch the database or an HTTP client directly."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imports_of(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def offenders(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path} imports {name}"
        for path, names in imports_of(package).items()
        for name in names
        if name.split(".")[0] in forbidden or name in forbidden
    ]


def test_services_and_cards_do_not_import_botbuilder():
    assert offenders("services", ("botbuilder", "botframework", "bot", "dialogs", "cards")) == []
    assert (
        offenders("cards", ("botbuilder", "botframework", "sqlalchemy", "aiohttp", "services.database")) == []
    )


def test_dialogs_and_bot_do_not_touch_storage_or_http_clients():
    forbidden = (
        "sqlalchemy",
        "aiosqlite",
        "asyncpg",
        "requests",
        "httpx",
        "services.database",
        "services.embedded",
    )
    assert offenders("dialogs", (*forbidden, "aiohttp", "botbuilder")) == []
    assert offenders("bot", forbidden) == []
