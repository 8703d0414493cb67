"""The aiohttp application: /api/messages (validated before botbuilder sees it), /healthz, /readyz."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity, ActivityTypes

from bot.background import BackgroundWork
from bot.cards import card_invoke_response
from bot.chat import ProactiveCardUpdates
from bot.settings import Settings
from bot.teams_bot import PhoneConnectorBot
from cards.notice import notice_card
from dialogs.add_user import AddUserConversation
from dialogs.main_menu import MainMenu
from services.database import Database
from services.directory import EmbeddedDirectory
from services.embedded import EmbeddedProvisioningService
from services.seed_data import load_world
from services.workflow import RequestService

log = logging.getLogger(__name__)

SORRY = (
    "Sorry, something went wrong on my side. Nothing you entered is lost: try again in a "
    "moment, or type **help**."
)


@dataclass
class Runtime:
    """Everything the app built at start, for the routes (and for tests that look inside)."""

    settings: Settings
    database: Database
    provisioning: EmbeddedProvisioningService
    requests: RequestService
    adapter: CloudAdapter
    bot: PhoneConnectorBot
    add_user: AddUserConversation
    background: BackgroundWork


RUNTIME = web.AppKey("runtime", Runtime)
SETTINGS = web.AppKey("settings", Settings)


def create_app(settings: Settings) -> web.Application:
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app.cleanup_ctx.append(_runtime_context)
    app.router.add_post("/api/messages", messages)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


async def _runtime_context(app: web.Application) -> AsyncIterator[None]:
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
    app[RUNTIME] = Runtime(settings, database, provisioning, requests, adapter, bot, add_user, background)
    resumed = await add_user.resume_interrupted()
    if resumed:
        log.info("resuming %d request(s) interrupted by the last stop", resumed)
    yield
    await background.drain(grace_seconds=10)
    await database.close()


async def on_turn_error(turn: TurnContext, error: Exception) -> None:
    log.error("turn failed", exc_info=error)
    try:
        if turn.activity.type == ActivityTypes.invoke and turn.activity.name == "adaptiveCard/action":
            await turn.send_activity(
                Activity(
                    type=ActivityTypes.invoke_response,
                    value=card_invoke_response(notice_card("Something went wrong", SORRY, attention=True)),
                )
            )
        elif turn.activity.type == ActivityTypes.message:
            await turn.send_activity(SORRY)
    except Exception:
        log.warning("could not tell the user about the failure", exc_info=True)


def _problem(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


async def messages(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    if request.content_type != "application/json":
        return _problem(415, "Content-Type must be application/json.")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _problem(413, "Request body is too large.")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return _problem(400, "Body is not valid JSON.")
    reason = _activity_problem(body)
    if reason:
        return _problem(400, reason)
    try:
        activity = Activity().deserialize(body)
    except Exception:
        return _problem(400, "Body is not a Bot Framework activity.")
    auth_header = request.headers.get("Authorization", "")
    try:
        invoke_response = await runtime.adapter.process_activity(auth_header, activity, runtime.bot.on_turn)
    except PermissionError:
        return _problem(401, "Unauthorized.")
    if invoke_response is None:
        return web.Response(status=201)
    body_out = invoke_response.body
    if hasattr(body_out, "serialize"):
        body_out = body_out.serialize()
    if body_out is None:
        return web.Response(status=invoke_response.status or 200)
    return web.json_response(body_out, status=invoke_response.status or 200)


def _activity_problem(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "Body must be a JSON object (an activity)."
    if not isinstance(body.get("type"), str) or not body["type"]:
        return "Activity has no type."
    for key in ("conversation", "from", "recipient"):
        if key in body and not isinstance(body[key], dict):
            return f"Activity field '{key}' must be an object."
    if not isinstance(body.get("conversation"), dict) or not body["conversation"].get("id"):
        return "Activity has no conversation id."
    if not isinstance(body.get("serviceUrl"), str) or not body["serviceUrl"]:
        return "Activity has no serviceUrl."
    for key in ("text", "name", "id", "channelId", "replyToId"):
        if key in body and body[key] is not None and not isinstance(body[key], str):
            return f"Activity field '{key}' must be a string."
    return None


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    checks: dict[str, str] = {}
    for name, probe in (("database", runtime.database.ping), ("provisioning", runtime.provisioning.ping)):
        try:
            await probe()
            checks[name] = "ok"
        except Exception as exc:
            log.warning("readiness check %s failed: %s", name, type(exc).__name__)
            checks[name] = "unavailable"
    ready = all(v == "ok" for v in checks.values())
    return web.json_response(
        {"status": "ready" if ready else "not ready", **checks}, status=200 if ready else 503
    )
