"""The HTTP routes: /api/messages (validated and authenticated before the Agents SDK sees it), the
Global Admin sign-in callback /api/ctt/callback, /healthz, /readyz."""

from __future__ import annotations

import html
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl

from aiohttp import web
from microsoft_agents.activity import Activity, ActivityTypes
from microsoft_agents.hosting.aiohttp import CloudAdapter
from microsoft_agents.hosting.core import ClaimsIdentity, TurnContext

from bot.auth import BotFrameworkTokens, OutboundTokenUnavailable
from bot.background import start_after_reply
from bot.cards import card_invoke_response, text_activity
from bot.chat import turn_words
from bot.loopback import is_loopback_url
from bot.teams_bot import PhoneConnectorBot
from cards.notice import notice_card
from i18n import ENGLISH, N_, Words, language_of
from services import inbound

log = logging.getLogger(__name__)
turns_log = logging.getLogger("bot.turns")

SORRY = N_(
    "Sorry, something went wrong on my side. Nothing you entered is lost: try again in a "
    "moment, or type **help**."
)
SOMETHING_WENT_WRONG = N_("Something went wrong")


class SignInAnswer(Protocol):
    status: int
    title: str
    message: str
    language: str  # of the title and the message


# (query, body, the language of the browser's Accept-Language) -> the page's answer.
AdminSignInHandler = Callable[[Mapping[str, str], Any, str], Awaitable[SignInAnswer]]


@dataclass
class Runtime:
    """What the routes need, built by the composition root (app.py)."""

    adapter: CloudAdapter
    bot: PhoneConnectorBot
    readiness: dict[str, Callable[[], Awaitable[None]]]
    # None: no app id, nothing is authenticated, so replies may only go to a client on this machine.
    tokens: BotFrameworkTokens | None = None
    # The provisioning platform's callback after a Global Admin signed in (dialogs/add_user.py).
    admin_sign_in: AdminSignInHandler | None = None


RUNTIME = web.AppKey("runtime", Runtime)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/messages", messages)
    app.router.add_get(ADMIN_SIGN_IN_PATH, admin_sign_in_callback)
    app.router.add_post(ADMIN_SIGN_IN_PATH, admin_sign_in_callback)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)


async def on_turn_error(turn: TurnContext, error: Exception) -> None:
    log.error("turn failed", exc_info=error)
    try:
        words = turn_words(turn)
        if turn.activity.type == ActivityTypes.invoke and turn.activity.name == "adaptiveCard/action":
            answer = card_invoke_response(
                notice_card(SOMETHING_WENT_WRONG, SORRY, attention=True, words=words)
            )
            await turn.send_activity(
                Activity(type=ActivityTypes.invoke_response, value=answer.model_dump(by_alias=True))
            )
        elif turn.activity.type == ActivityTypes.message:
            await turn.send_activity(text_activity(words(SORRY)))
    except Exception:
        log.warning("could not tell the user about the failure", exc_info=True)


def _problem(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


async def messages(request: web.Request) -> web.StreamResponse:
    started = time.perf_counter()
    with start_after_reply() as start_held_work:
        response, fields = await _messages(request)
        try:
            await response.prepare(request)
            await response.write_eof()
        finally:
            start_held_work()
    fields["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
    fields["outcome"] = response.status
    try:
        turns_log.info(
            "%s %s -> %s in %.1f ms",
            fields.get("activity_type", "-"),
            fields.get("invoke_name") or "",
            response.status,
            fields["duration_ms"],
            extra=fields,
        )
    except Exception:  # the turn log must never fail a request
        log.warning("could not write the turn log line", exc_info=True)
    return response


async def _messages(request: web.Request) -> tuple[web.Response, dict[str, Any]]:
    """Validate, authenticate, run the turn; returns the response and the fields for the turn log."""
    runtime = request.app[RUNTIME]
    fields: dict[str, Any] = {}
    if request.content_type != "application/json":
        return _problem(415, "Content-Type must be application/json."), fields
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _problem(413, "Request body is too large."), fields
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deep
        return _problem(400, "Body is not valid JSON."), fields
    reason = _activity_problem(body)
    if reason:
        return _problem(400, reason), fields
    body = _cleaned(body)
    fields = {
        "activity_type": body["type"][:40],
        "invoke_name": str(body.get("name") or "")[:60],
        "tenant": str(body["conversation"].get("tenantId") or "")[:64],
        "conversation": str(body["conversation"].get("id"))[:120],
    }
    if runtime.tokens is None and not is_loopback_url(body["serviceUrl"]):
        return _problem(
            400, "In local mode (no MicrosoftAppId) the bot only answers a client on this machine."
        ), fields
    try:
        activity = Activity.model_validate(body)
    except ValueError:  # pydantic's ValidationError
        return _problem(400, "Body is not a Bot Framework activity."), fields
    if runtime.tokens is None:
        identity = ClaimsIdentity()  # anonymous: the SDK then sends without a token
    else:
        try:
            identity = await runtime.tokens.authenticate(request.headers.get("Authorization", ""), activity)
        except PermissionError:
            return _problem(401, "Unauthorized."), fields
    try:
        invoke_response = await runtime.adapter.process_activity(identity, activity, runtime.bot.on_turn)
    except OutboundTokenUnavailable:
        # Nothing ran: the token is fetched before the turn. The channel retries a 503.
        response = _problem(503, "The bot cannot reach Microsoft sign-in right now; try again shortly.")
        response.headers["Retry-After"] = "5"
        return response, fields
    if invoke_response is None:
        return web.Response(status=201), fields
    status = invoke_response.status or 200
    if invoke_response.body is None:
        return web.Response(status=status), fields
    return web.json_response(invoke_response.body, status=status), fields


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
    channel_data = body.get("channelData")
    tenant = channel_data.get("tenant") if isinstance(channel_data, dict) else None
    ids = {
        "from.id": (body.get("from") or {}).get("id"),
        "from.aadObjectId": (body.get("from") or {}).get("aadObjectId"),
        "recipient.id": (body.get("recipient") or {}).get("id"),
        "conversation.id": body["conversation"].get("id"),
        "conversation.tenantId": body["conversation"].get("tenantId"),
        "channelData.tenant.id": tenant.get("id") if isinstance(tenant, dict) else None,
    }
    for name, value in ids.items():
        if value is None:
            continue
        if not isinstance(value, str):
            return f"Activity field '{name}' must be a string."
        # Roles, audit rows and conversation references are keyed by these: refused, not cleaned,
        # so a forged id never becomes a real one.
        if inbound.id_is_unfit(value):
            return f"Activity field '{name}' holds control characters or invalid Unicode."
    return None


def _cleaned(body: dict[str, Any]) -> dict[str, Any]:
    """The activity with its free text (the message, people's and the conversation's names)
    cleaned of characters no database stores, and every other string made storable
    (services/inbound.py says why)."""
    if isinstance(body.get("text"), str):
        body["text"] = inbound.clean_text(body["text"])
    for key in ("from", "recipient", "conversation"):
        if isinstance(body.get(key), dict) and isinstance(body[key].get("name"), str):
            body[key]["name"] = inbound.clean_text(body[key]["name"])
    return inbound.storable(body)


ADMIN_SIGN_IN_PATH = "/api/ctt/callback"


async def admin_sign_in_callback(request: web.Request) -> web.Response:
    """The platform (or the Global Admin's browser) brings a sign-in result back. The unguessable,
    single-use state in the query is the proof; the answer is a small page for a person. Never 500,
    and neither the state nor the result is logged.

    The page's language: that of the tenant's Global Admins when the request is known and they
    all read one (dialogs/add_user.py decides), else the browser's (Accept-Language), else English."""
    runtime = request.app[RUNTIME]
    browser = browser_language(request.headers.get("Accept-Language"))
    words = Words(browser)
    query = {k: v for k, v in request.query.items() if isinstance(v, str)}
    body: Any = {k: _maybe_json(v) for k, v in query.items()}
    if request.method == "POST":
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _page(413, words("Too large"), words("The sign-in result is too large."), browser)
        if request.content_type == "application/x-www-form-urlencoded":
            body = {k: _maybe_json(v) for k, v in parse_qsl(raw.decode("utf-8", "replace"))}
        elif raw.strip():
            try:
                body = json.loads(raw)
            except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deep
                return _page(
                    400,
                    words("Sign-in not understood"),
                    words("The sign-in result is not valid JSON."),
                    browser,
                )
    if runtime.admin_sign_in is None:
        return _page(404, words("Not here"), words("This bot does not take Global Admin sign-ins."), browser)
    try:
        answer = await runtime.admin_sign_in(query, body, browser)
    except Exception:
        log.exception("the Global Admin sign-in callback failed")
        return _page(
            503,
            words("Please try again"),
            words(
                "Something went wrong on our side. The request's card in Teams shows where it stands; "
                'if it still asks for a sign-in, click "Get a new sign-in link" there.'
            ),
            browser,
        )
    log.info("Global Admin sign-in callback answered %d", answer.status)
    return _page(answer.status, answer.title, answer.message, answer.language)


def browser_language(accept_language: str | None) -> str:
    """The language we speak for a browser's Accept-Language (its most wanted one), English if none."""
    best, best_quality = "", 0.0
    for item in (accept_language or "")[:400].split(","):
        tag, _, params = item.partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag.strip() and tag.strip() != "*" and quality > best_quality:
            best, best_quality = tag.strip(), quality
    return language_of(best) if best else ENGLISH


def _maybe_json(value: str) -> Any:
    if value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return value
    return value


def _page(status: int, title: str, message: str, language: str = ENGLISH) -> web.Response:
    text = (
        f'<!doctype html><html lang="{html.escape(language)}"><head><meta charset="utf-8">'
        f'<title>{html.escape(title)}</title></head><body style="font-family: sans-serif; max-width: 40em; '
        f'margin: 3em auto"><h1>{html.escape(title)}</h1><p>{html.escape(message)}</p></body></html>'
    )
    return web.Response(status=status, text=text, content_type="text/html")


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
