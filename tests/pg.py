"""PostgreSQL for tests: finds the server, gives each test a fresh database, drops it afterwards.

The server is `PG_TEST_URL` (default postgresql://127.0.0.1:5432/test, trust auth). When it cannot
be reached the PostgreSQL tests are skipped with a message saying how to run them, except in CI
(CI=true), where they fail: CI has PostgreSQL, so a missing server is a broken machine.

Import the fixtures into a test module (`from tests.pg import pg_server, pg_url`) to use them
there. Loaded as a plugin, this module runs the whole suite's bots on PostgreSQL instead of SQLite
(see `_postgres_everywhere`):

    .venv/bin/python -m pytest -p tests.pg tests
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import os
import secrets
from collections.abc import Coroutine, Iterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

DEFAULT_PG_TEST_URL = "postgresql://127.0.0.1:5432/test"
SESSION = secrets.token_hex(3)
_numbers = itertools.count(1)

HOW_TO_RUN = (
    "PostgreSQL tests need a server: start one (on Debian: "
    "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`) or point "
    "PG_TEST_URL at one (default postgresql://127.0.0.1:5432/test; the role must be allowed to "
    "CREATE DATABASE)."
)


def pg_test_url() -> str:
    return os.environ.get("PG_TEST_URL", DEFAULT_PG_TEST_URL)


def _plain(url: str) -> str:
    """asyncpg's own form of a SQLAlchemy URL (no +driver)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def run_sync(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine to completion on a thread of its own (usable inside or outside a loop)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result(60)


async def _server_problem(url: str) -> str | None:
    try:
        conn = await asyncpg.connect(_plain(url), timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"{type(exc).__name__}: {exc}"
    try:
        await conn.fetchval("SELECT 1")
    finally:
        await conn.close()
    return None


async def _create(url: str, name: str) -> None:
    conn = await asyncpg.connect(_plain(url), timeout=10)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _drop(url: str, names: list[str]) -> None:
    conn = await asyncpg.connect(_plain(url), timeout=10)
    try:
        for name in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def _leftovers(url: str) -> list[str]:
    conn = await asyncpg.connect(_plain(url), timeout=10)
    try:
        rows = await conn.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE $1", f"bot_test_{SESSION}_%"
        )
    finally:
        await conn.close()
    return [r["datname"] for r in rows]


def database_url(server: str, name: str) -> str:
    """The bot's DATABASE_URL for database `name` on `server`."""
    return (
        make_url(server)
        .set(drivername="postgresql+asyncpg", database=name)
        .render_as_string(hide_password=False)
    )


def create_database(server: str) -> tuple[str, str]:
    """A new, empty database on the server: (its name, the bot's DATABASE_URL for it)."""
    name = f"bot_test_{SESSION}_{next(_numbers)}"
    run_sync(_create(server, name))
    return name, database_url(server, name)


def drop_database(server: str, name: str) -> None:
    run_sync(_drop(server, [name]))


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """The server's URL; skips (or fails in CI) when there is none."""
    url = pg_test_url()
    problem = run_sync(_server_problem(url))
    if problem:
        message = (
            f"PostgreSQL at {make_url(url).render_as_string()} is not reachable ({problem}). {HOW_TO_RUN}"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {message}", pytrace=False)
        pytest.skip(message)
    yield url
    left = run_sync(_leftovers(url))
    if left:
        run_sync(_drop(url, left))


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """DATABASE_URL of a fresh database for this test only."""
    name, url = create_database(pg_server)
    yield url
    drop_database(pg_server, name)


@pytest.fixture(autouse=True, scope="session")
def _postgres_everywhere(request: pytest.FixtureRequest) -> Iterator[None]:
    """Only when loaded with `-p tests.pg`: the app keeps its data in PostgreSQL, one database per
    data dir (so a restarted bot finds its data again, and tests stay apart as with SQLite files).
    Tests that open a SQLite file themselves, or start `python app.py`, keep SQLite."""
    if not request.config.pluginmanager.has_plugin("tests.pg"):
        yield
        return
    import app

    server: str = request.getfixturevalue("pg_server")
    databases: dict[str, tuple[str, str]] = {}  # SQLite path -> (database name, its URL)
    original = app.Database

    class DatabaseOnPostgres(original):  # type: ignore[misc, valid-type]
        def __init__(self, url: str) -> None:
            parsed = make_url(url)
            if parsed.drivername.startswith("sqlite") and parsed.database:
                if parsed.database not in databases:
                    databases[parsed.database] = create_database(server)
                url = databases[parsed.database][1]
            super().__init__(url)

    app.Database = DatabaseOnPostgres
    yield
    app.Database = original
    run_sync(_drop(server, [name for name, _ in databases.values()]))
