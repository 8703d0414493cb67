"""Fixtures that run the real app over HTTP against a local connector double."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from microsoft_agents.hosting.core.authorization._entra_issuers import BOTFRAMEWORK_JWKS_URIS

from app import PARTS, Parts, create_app
from bot.settings import Settings
from tests.auth_doubles import BOT_ISSUER, KeyServer, SigningKey
from tests.doubles import CONTOSO, CONTOSO_ADMIN, ConnectorDouble, TeamsUser


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    values = {"DATA_DIR": str(data_dir), "LOG_LEVEL": "DEBUG"} | overrides
    return Settings(_env_file=None, **values)


class RunningBot:
    """The real app on a free port; `restart()` stops it and starts a new one on the same data."""

    def __init__(self, settings: Settings, *, port: int | None = None, **app_options: Any) -> None:
        self.settings = settings
        self._app_options = app_options
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._runner: web.AppRunner | None = None
        self.app: web.Application | None = None

    async def start(self) -> None:
        self.app = create_app(self.settings, **self._app_options)
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()
            self._runner = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    @property
    def runtime(self) -> Parts:
        assert self.app is not None
        return self.app[PARTS]


@asynccontextmanager
async def running_bot(
    settings: Settings, *, port: int | None = None, **app_options: Any
) -> AsyncIterator[RunningBot]:
    bot = RunningBot(settings, port=port, **app_options)
    await bot.start()
    try:
        yield bot
    finally:
        await bot.stop()


@pytest.fixture
def key_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[KeyServer]:
    """The Bot Framework's signing keys on 127.0.0.1, where the SDK looks for them."""
    server = KeyServer()
    server.keys.append(SigningKey(kid="key-1"))
    server.start()
    monkeypatch.setitem(BOTFRAMEWORK_JWKS_URIS, BOT_ISSUER, f"{server.url}/keys")
    yield server
    server.stop()


@pytest.fixture
async def connector() -> AsyncIterator[ConnectorDouble]:
    double = ConnectorDouble()
    await double.start()
    yield double
    await double.stop()


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[RunningBot]:
    async with running_bot(make_settings(tmp_path)) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def admin(http: aiohttp.ClientSession, bot: RunningBot, connector: ConnectorDouble) -> TeamsUser:
    return TeamsUser(http, bot.url, connector.url, CONTOSO, CONTOSO_ADMIN, "Ada Admin")
