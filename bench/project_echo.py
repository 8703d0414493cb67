"""Baseline 3: this project's HTTP route, adapter and reply path with a bot that only echoes.

The same app as `app.py` (our `/api/messages`, validation, CloudAdapter with the keep-alive
connector), except that each turn sends one text reply and touches no database: what a turn of
this stack costs before any of the bot's own work.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from aiohttp import web
from microsoft_agents.hosting.core import MessageFactory, TurnContext

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script, like app.py

from app import create_app
from bot.settings import Settings
from bot.web import RUNTIME


def main(port: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Settings(_env_file=None, DATA_DIR=tmp, LOG_LEVEL="WARNING"))

        async def echo(turn: TurnContext) -> None:
            if turn.activity.type == "message":
                await turn.send_activity(MessageFactory.text(f"echo: {turn.activity.text}"))

        async def install_echo(app_: web.Application) -> None:
            app_[RUNTIME].bot.on_turn = echo  # type: ignore[method-assign]

        app.on_startup.append(install_echo)  # after create_app's own start-up, which makes the bot
        web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main(int(sys.argv[1]))
