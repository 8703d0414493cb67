"""Composition root: read settings, build the app, serve it. `python app.py` runs the bot."""

from __future__ import annotations

import ipaddress
import logging
import sys

from aiohttp import web

from bot.settings import Settings
from bot.web import create_app

log = logging.getLogger("app")


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
