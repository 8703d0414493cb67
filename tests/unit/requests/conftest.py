"""A fresh copy of the migrated, seeded demo database for every test: migrating takes most of a
second, a file copy a few milliseconds."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.db import Database
from services.seed_data import load_world
from tests.unit.requests.world import World


async def _build(path: Path) -> None:
    database = Database(f"sqlite:///{path}")
    try:
        await database.migrate()
        await load_world(database)
    finally:
        await database.close()


@pytest.fixture(scope="session")
def seeded_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("seeded") / "bot.sqlite3"
    asyncio.run(_build(path))
    return path


@pytest.fixture
async def world(seeded_database: Path, tmp_path: Path) -> AsyncIterator[World]:
    path = tmp_path / "bot.sqlite3"
    shutil.copyfile(seeded_database, path)
    database = Database(f"sqlite:///{path}")
    await database.migrate()  # already at head: checks, changes nothing
    try:
        yield await World.of(database)
    finally:
        await database.close()
