"""Local doubles: a Bot Framework connector that records what the bot sends, and a Teams user."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

CONTOSO = "6f1c2b7e-8d0a-4c3e-9b5f-1a2d3c4e5f60"
FABRIKAM = "2b9d4e1a-7c3f-4a8e-b6d2-9e0f1a2b3c4d"
NORTHWIND = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
CONTOSO_ADMIN = "0b7d6c1e-3f2a-4e5d-8c9b-a1b2c3d4e5f6"
CONTOSO_ADMIN2 = "5c6d7e8f-9a0b-4c1d-8e2f-3a4b5c6d7e8f"
CONTOSO_USER = "6d7e8f9a-0b1c-4d2e-9f3a-4b5c6d7e8f9a"
NORTHWIND_PARTNER = "4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f6a7b8"
FABRIKAM_ADMIN = "7e8f9a0b-1c2d-4e3f-8a4b-5c6d7e8f9a0b"
TAILSPIN = "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f"
TAILSPIN_PARTNER = "8f9a0b1c-2d3e-4f4a-9b5c-6d7e8f9a0b1c"


@dataclass
class Sent:
    """One activity the bot sent or updated, as the connector received it."""

    method: str
    conversation_id: str
    activity_id: str
    activity: dict[str, Any]
    authorization: str = ""

    @property
    def card(self) -> dict[str, Any] | None:
        for att in self.activity.get("attachments") or []:
            if att.get("contentType") == "application/vnd.microsoft.card.adaptive":
                return att["content"]
        return None

    @property
    def text(self) -> str:
        return self.activity.get("text") or ""


class ConnectorDouble:
    """Accepts POST (send/reply) and PUT (update) under /v3/conversations, like the Teams service."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.cards: dict[str, dict[str, Any]] = {}  # activity id -> latest card
        self._ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.url = ""
        self._faults: list[tuple[int, dict[str, str]]] = []
        self.refused: list[tuple[str, int]] = []
        self.peers: set[Any] = set()  # client (host, port) pairs: one per TCP connection
        self._held: dict[str, asyncio.Event] = {}  # conversation id -> set when released
        self.blocked: set[str] = set()  # conversations whose user removed or blocked the bot
        self.waiting: list[tuple[str, str]] = []  # (method, conversation id) of calls held right now

    def fail_next(self, status: int, times: int = 1, retry_after: str | None = None) -> None:
        """The next `times` POSTs/PUTs answer `status` (e.g. 429 with Retry-After)."""
        headers = {"Retry-After": retry_after} if retry_after else {}
        self._faults.extend([(status, headers)] * times)

    def hold(self, conversation_id: str) -> None:
        """Calls to this conversation get no answer until `release` (an unresponsive chat)."""
        self._held.setdefault(conversation_id, asyncio.Event())

    def release(self, conversation_id: str) -> None:
        """Answer the held calls of this conversation, and every later one, as usual."""
        held = self._held.pop(conversation_id, None)
        if held is not None:
            held.set()

    async def _wait_if_held(self, request: web.Request) -> bool:
        """False when the call was held and its client gave up meanwhile: nothing was delivered."""
        conversation = request.match_info["conv"]
        held = self._held.get(conversation)
        if held is None:
            return True
        entry = (request.method, conversation)
        self.waiting.append(entry)
        async with self._changed:
            self._changed.notify_all()
        try:
            await held.wait()
        finally:
            self.waiting.remove(entry)
        return request.transport is not None and not request.transport.is_closing()

    def _fault(self, request: web.Request) -> web.Response | None:
        if request.match_info["conv"] in self.blocked:
            self.refused.append((request.method, 403))
            return web.json_response(
                {"error": {"code": "BotDisabledByAdmin", "message": "The bot is blocked"}}, status=403
            )
        if not self._faults:
            return None
        status, headers = self._faults.pop(0)
        self.refused.append((request.method, status))
        return web.json_response(
            {"error": {"code": "Throttled", "message": "slow down"}}, status=status, headers=headers
        )

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v3/conversations/{conv}/activities", self._post)
        app.router.add_post("/v3/conversations/{conv}/activities/{aid}", self._post)
        app.router.add_put("/v3/conversations/{conv}/activities/{aid}", self._put)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/"

    async def stop(self) -> None:
        for conversation in list(self._held):
            self.release(conversation)
        if self._runner:
            await self._runner.cleanup()

    async def _record(self, sent: Sent, request: web.Request | None = None) -> None:
        if request is not None and request.transport is not None:
            self.peers.add(request.transport.get_extra_info("peername"))
        self.sent.append(sent)
        if sent.card is not None:
            self.cards[sent.activity_id] = sent.card
        async with self._changed:
            self._changed.notify_all()

    async def _post(self, request: web.Request) -> web.Response:
        activity = await request.json()
        if not await self._wait_if_held(request):
            return web.json_response({}, status=504)
        if fault := self._fault(request):
            return fault
        activity_id = f"msg-{next(self._ids)}"
        auth = request.headers.get("Authorization", "")
        await self._record(Sent("POST", request.match_info["conv"], activity_id, activity, auth), request)
        return web.json_response({"id": activity_id})

    async def _put(self, request: web.Request) -> web.Response:
        activity = await request.json()
        if not await self._wait_if_held(request):
            return web.json_response({}, status=504)
        if fault := self._fault(request):
            return fault
        activity_id = request.match_info["aid"]
        auth = request.headers.get("Authorization", "")
        await self._record(Sent("PUT", request.match_info["conv"], activity_id, activity, auth), request)
        return web.json_response({"id": activity_id})

    def for_conversation(self, conversation_id: str) -> list[Sent]:
        return [s for s in self.sent if s.conversation_id == conversation_id]

    async def wait_until(self, condition: Callable[[], bool], within: float = 10.0) -> None:
        """Wait until `condition()` holds; checked whenever a call arrives or is held."""

        async def _check() -> None:
            async with self._changed:
                while not condition():
                    await self._changed.wait()

        await asyncio.wait_for(_check(), within)

    async def wait_for(self, predicate: Callable[[Sent], bool], within: float = 10.0) -> Sent:
        """Wait until an activity matching `predicate` has been sent; returns it."""

        async def _find() -> Sent:
            async with self._changed:
                while True:
                    for sent in reversed(self.sent):
                        if predicate(sent):
                            return sent
                    await self._changed.wait()

        return await asyncio.wait_for(_find(), within)


def card_text(card: dict[str, Any] | None) -> str:
    """All text a person sees on a card (text blocks, facts, labels, button titles), one string."""
    if not card:
        return ""
    parts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in ("text", "title", "label", "value", "placeholder"):
                if isinstance(node.get(key), str) and key != "value":
                    parts.append(node[key])
            if node.get("type") == "Fact":
                parts.append(f"{node.get('title')}: {node.get('value')}")
            for key, value in node.items():
                if key == "facts":
                    parts.extend(f"{f.get('title')}: {f.get('value')}" for f in value)
                elif isinstance(value, (dict, list)):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(card)
    return "\n".join(parts)


def card_inputs(card: dict[str, Any]) -> dict[str, Any]:
    """Input id -> current value, as a client would submit them untouched."""
    found: dict[str, Any] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if str(node.get("type", "")).startswith("Input.") and "id" in node:
                found[node["id"]] = node.get("value", "")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(card)
    return found


def card_actions(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Button title -> action, for every action on the card."""
    found: dict[str, dict[str, Any]] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if str(node.get("type", "")).startswith("Action.") and "title" in node:
                found.setdefault(node["title"], node)
            for key, value in node.items():
                if key != "fallback":
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(card)
    return found


@dataclass
class TeamsUser:
    """A person in the Teams client: sends messages and clicks card buttons over HTTP."""

    session: aiohttp.ClientSession
    bot_url: str
    service_url: str
    tenant_id: str
    aad_object_id: str
    name: str
    conversation_id: str = field(default_factory=lambda: f"a:{uuid.uuid4().hex}")
    # Authenticated mode: a function that returns a fresh Bot Framework token for this user.
    token_source: Callable[[str], str] | None = None
    # The language of their Teams client, and the time zone it gives in `clientInfo` (None: none).
    locale: str = "en-US"
    time_zone: str | None = None

    def _headers(self, token: str | None = None) -> dict[str, str]:
        token = token or (self.token_source(self.service_url) if self.token_source else None)
        return {"Authorization": f"Bearer {token}"} if token else {}

    @property
    def user_id(self) -> str:
        return f"29:{self.aad_object_id}"

    def _activity(self, **fields: Any) -> dict[str, Any]:
        client = {"type": "clientInfo", "locale": self.locale, "timezone": self.time_zone}
        return {
            "id": uuid.uuid4().hex,
            "channelId": "msteams",
            "serviceUrl": self.service_url,
            "from": {"id": self.user_id, "name": self.name, "aadObjectId": self.aad_object_id},
            "recipient": {"id": "28:bot", "name": "Phone Connector"},
            "conversation": {
                "id": self.conversation_id,
                "conversationType": "personal",
                "tenantId": self.tenant_id,
            },
            "channelData": {"tenant": {"id": self.tenant_id}},
            "locale": self.locale,
            **({"entities": [client]} if self.time_zone else {}),
            **fields,
        }

    async def post(self, activity: dict[str, Any], token: str | None = None) -> aiohttp.ClientResponse:
        async with self.session.post(
            f"{self.bot_url}/api/messages", json=activity, headers=self._headers(token)
        ) as resp:
            await resp.read()
            return resp

    async def install(self) -> int:
        resp = await self.post(
            self._activity(
                type="conversationUpdate",
                membersAdded=[{"id": self.user_id, "aadObjectId": self.aad_object_id}],
            )
        )
        return resp.status

    async def say(self, text: str) -> int:
        resp = await self.post(self._activity(type="message", text=text))
        return resp.status

    async def submit(self, data: dict[str, Any], reply_to: str | None = None) -> int:
        resp = await self.post(self._activity(type="message", value=data, replyToId=reply_to))
        return resp.status

    async def click(
        self, card_id: str, card: dict[str, Any], title: str, inputs: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Click a button on a card as Teams does (Action.Execute invoke); returns the invoke answer."""
        action = card_actions(card)[title]
        data = {**card_inputs(card), **(inputs or {}), **action.get("data", {})}
        return await self.invoke_action(card_id, action["verb"], data)

    async def invoke_action(self, card_id: str, verb: str, data: dict[str, Any]) -> dict[str, Any]:
        activity = self._activity(
            type="invoke",
            name="adaptiveCard/action",
            replyToId=card_id,
            value={"action": {"type": "Action.Execute", "verb": verb, "data": data}, "trigger": "manual"},
        )
        async with self.session.post(
            f"{self.bot_url}/api/messages", json=activity, headers=self._headers()
        ) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()

    async def search(self, dataset: str, query: str) -> dict[str, Any]:
        activity = self._activity(
            type="invoke",
            name="application/search",
            value={"queryText": query, "dataset": dataset, "queryOptions": {"skip": 0, "top": 15}},
        )
        async with self.session.post(
            f"{self.bot_url}/api/messages", json=activity, headers=self._headers()
        ) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()
