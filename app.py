"""Composition root: read settings, build storage, services, adapter and bot; `python app.py` serves."""

from __future__ import annotations

import ipaddress
import logging
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication

from bot.background import BackgroundWork
from bot.chat import ProactiveCardUpdates
from bot.settings import Settings
from bot.teams_bot import PhoneConnectorBot
from bot.web import RUNTIME, Runtime, add_routes, on_turn_error
from dialogs.add_user import AddUserConversation
from dialogs.main_menu import MainMenu
from services.database import Database
from services.directory import EmbeddedDirectory
from services.embedded import EmbeddedProvisioningService
from services.seed_data import load_world
from services.workflow import RequestService

log = logging.getLogger("app")

SETTINGS = web.AppKey("settings", Settings)


@dataclass
class Parts:
    """Everything built at start; tests look inside (e.g. the provisioning state)."""

    database: Database
    provisioning: EmbeddedProvisioningService
    requests: RequestService
    add_user: AddUserConversation
    background: BackgroundWork


PARTS = web.AppKey("parts", Parts)


def create_app(settings: Settings) -> web.Application:
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app.cleanup_ctx.append(_build)
    add_routes(app)
    return app


async def _build(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = Database(settings.database_url)
    await database.create()
    await load_world(database)
    provisioning = EmbeddedProvisioningService(database, delay_seconds=settings.embedded_delay_seconds)
    directory = EmbeddedDirectory(database)
    requests = RequestService(database, provisioning)
    adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(settings))
    adapter.on_turn_error = on_turn_error
    background = BackgroundWork()
    add_user = AddUserConversation(
        requests, provisioning, ProactiveCardUpdates(adapter, settings.APP_ID), background
    )
    bot = PhoneConnectorBot(directory, MainMenu(requests, add_user), add_user)
    app[RUNTIME] = Runtime(
        adapter=adapter,
        bot=bot,
        readiness={"database": database.ping, "provisioning": provisioning.ping},
    )
    app[PARTS] = Parts(database, provisioning, requests, add_user, background)
    resumed = await add_user.resume_interrupted()
    if resumed:
        log.info("resuming %d request(s) interrupted by the last stop", resumed)
    yield
    await background.drain(grace_seconds=settings.shutdown_grace_seconds)
    await database.close()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main() -> int:
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not settings.authenticated and not is_loopback(settings.host):
        log.error(
            "No MicrosoftAppId is set, so requests are not authenticated: refusing to listen on "
            "%s. Set MicrosoftAppId/MicrosoftAppPassword, or HOST=127.0.0.1 for local use.",
            settings.host,
        )
        return 2
    mode = "authenticated (Bot Framework JWT)" if settings.authenticated else "local, unauthenticated"
    log.info("Teams Phone Connector bot on http://%s:%d/api/messages, %s", settings.host, settings.port, mode)
    web.run_app(create_app(settings), host=settings.host, port=settings.port, print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
