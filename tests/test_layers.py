"""The seams of DESIGN.md: services/ and cards/ never import the bot SDK; dialogs/ and bot/ never
touch the database or an HTTP client directly; nothing imports the archived botbuilder."""

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


SDK = ("microsoft_agents", "botbuilder", "botframework")
ARCHIVED = ("botbuilder", "botframework", "msrest", "jsonpickle")


def test_services_and_cards_do_not_import_the_bot_sdk():
    assert offenders("services", (*SDK, "bot", "dialogs", "cards")) == []
    assert offenders("cards", (*SDK, "sqlalchemy", "aiohttp", "services.db")) == []


def test_nothing_imports_the_archived_botbuilder_but_the_benchmarks_baseline():
    baseline = "bench/stock_echo.py"
    found = [
        offence
        for package in ("bot", "dialogs", "cards", "services", "tests", "bench", "manifest", "scripts")
        for offence in offenders(package, ARCHIVED)
        if not offence.startswith(baseline)
    ]
    assert found == []
    assert offenders("bench", ARCHIVED), "the stock echo baseline still runs botbuilder"


BACKENDS = (
    "services.provisioning.embedded",
    "services.provisioning.connecttoteams",
    "services.provisioning.graph",
    "services.provisioning.pbx_directory",
    "services.provisioning.partners",
)


def test_dialogs_and_bot_import_no_provisioning_backend():
    """A conversation must work on either backend: app.py hands them what is backend-specific."""
    for package in ("dialogs", "bot"):
        found = [
            f"{path} imports {name}"
            for path, names in imports_of(package).items()
            for name in names
            if name.startswith(BACKENDS)
        ]
        assert found == []


def test_dialogs_and_bot_do_not_touch_storage_or_http_clients():
    forbidden = (
        "sqlalchemy",
        "aiosqlite",
        "asyncpg",
        "requests",
        "httpx",
        "services.db",
        "services.provisioning.embedded",
    )
    assert offenders("dialogs", (*forbidden, "aiohttp", *SDK)) == []
    assert offenders("bot", forbidden) == []
