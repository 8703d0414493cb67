"""The HTTP routes: /api/messages (validated before botbuilder sees it), /healthz, /readyz."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from aiohttp import web
from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity, ActivityTypes

from bot.auth import authenticate
from bot.cards import card_invoke_response
from bot.teams_bot import PhoneConnectorBot
from cards.notice import notice_card

log = logging.getLogger(__name__)

SORRY = (
    "Sorry, something went wrong on my side. Nothing you entered is lost: try again in a "
    "moment, or type **help**."
)


@dataclass
class Runtime:
    """What the routes need, built by the composition root (app.py)."""

    adapter: CloudAdapter
    bot: PhoneConnectorBot
    readiness: dict[str, Callable[[], Awaitable[None]]]
    # No app id: nothing is authenticated, so replies may only go to a client on this machine.
    local_mode: bool = False


RUNTIME = web.AppKey("runtime", Runtime)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/messages", messages)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)


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
    if runtime.local_mode and not _is_loopback_url(body["serviceUrl"]):
        return _problem(
            400, "In local mode (no MicrosoftAppId) the bot only answers a client on this machine."
        )
    try:
        activity = Activity().deserialize(body)
    except Exception:
        return _problem(400, "Body is not a Bot Framework activity.")
    auth_header = request.headers.get("Authorization", "")
    try:
        authenticated = await authenticate(
            runtime.adapter.bot_framework_authentication, activity, auth_header
        )
    except PermissionError:
        return _problem(401, "Unauthorized.")
    invoke_response = await runtime.adapter.process_activity(authenticated, activity, runtime.bot.on_turn)
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


def _is_loopback_url(url: str) -> bool:
    try:
        parsed = urlparse(url)
        return parsed.scheme in ("http", "https") and (parsed.hostname or "") in (
            "127.0.0.1",
            "localhost",
            "::1",
        )
    except ValueError:
        return False


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    checks: dict[str, str] = {}
    for name, probe in runtime.readiness.items():
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
