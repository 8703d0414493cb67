"""A fast reply path: botbuilder's connector calls over one shared aiohttp session.

Stock botbuilder 4.17.1 builds a new ConnectorClient for every turn and sends each reply through
`requests` in a thread pool (msrest's AsyncRequestsHTTPSender): a new TCP connection per reply.
This module keeps botbuilder's authentication objects (the same credentials, so the same tokens,
from the process-wide `ProcessCredentialFactory`) and replaces only the HTTP client behind
`conversations.*`, with keep-alive connections, a timeout, and retries of 429/412/502/504 that
honour Retry-After (msrest retries none of them for POSTs).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from typing import Any
from urllib.parse import quote

import aiohttp
from botbuilder.schema import Activity, ResourceResponse
from botframework.connector.auth import (
    AuthenticateRequestResult,
    BotFrameworkAuthentication,
    ClaimsIdentity,
    ConnectorFactory,
    MicrosoftAppCredentials,
)

from bot import schema_json
from bot.cards import CARD_CONTENT_TYPE

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({412, 429, 502, 503, 504})
MAX_ATTEMPTS = 3
MAX_RETRY_AFTER_SECONDS = 10.0


class _Response:
    """Enough of a `requests.Response` for callers that look at status and headers."""

    def __init__(self, status: int, headers: dict[str, str], text: str) -> None:
        self.status_code = status
        self.headers = headers
        self.text = text


class ConnectorError(Exception):
    def __init__(self, status: int, headers: dict[str, str], text: str) -> None:
        super().__init__(f"connector answered HTTP {status}")
        self.response = _Response(status, headers, text)


class FastConversations:
    """The `conversations` operations botbuilder's adapter uses: send, reply, update, delete."""

    def __init__(self, session: aiohttp.ClientSession, service_url: str, credentials: Any) -> None:
        self._session = session
        self._base = service_url.rstrip("/") + "/v3/conversations"
        self._credentials = credentials

    async def send_to_conversation(self, conversation_id: str, activity: Activity) -> ResourceResponse:
        return await self._call("POST", f"{_q(conversation_id)}/activities", activity)

    async def reply_to_activity(
        self, conversation_id: str, activity_id: str, activity: Activity
    ) -> ResourceResponse:
        return await self._call("POST", f"{_q(conversation_id)}/activities/{_q(activity_id)}", activity)

    async def update_activity(
        self, conversation_id: str, activity_id: str, activity: Activity
    ) -> ResourceResponse:
        return await self._call("PUT", f"{_q(conversation_id)}/activities/{_q(activity_id)}", activity)

    async def delete_activity(self, conversation_id: str, activity_id: str) -> None:
        await self._call("DELETE", f"{_q(conversation_id)}/activities/{_q(activity_id)}", None)

    async def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json; charset=utf-8"}
        credentials = self._credentials
        if isinstance(credentials, MicrosoftAppCredentials) and credentials.microsoft_app_id:
            # msal answers from its in-memory cache; the first token was fetched off the loop.
            headers["Authorization"] = f"Bearer {credentials.get_access_token()}"
        return headers

    async def _call(self, method: str, path: str, activity: Activity | None) -> ResourceResponse:
        body = _serialize(activity) if activity is not None else None
        url = f"{self._base}/{path}"
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                async with self._session.request(
                    method, url, json=body, headers=await self._headers()
                ) as resp:
                    text = await resp.text()
                    if resp.status < 300:
                        return _resource(text)
                    headers = dict(resp.headers)
                    if resp.status not in RETRY_STATUSES or attempt == MAX_ATTEMPTS:
                        raise ConnectorError(resp.status, headers, text[:500])
                    delay = _retry_after(headers.get("Retry-After"), attempt)
            except (aiohttp.ClientConnectionError, TimeoutError) as exc:
                if attempt == MAX_ATTEMPTS:
                    raise ConnectorError(503, {}, type(exc).__name__) from exc
                delay = _retry_after(None, attempt)
            log.info("connector %s retry %d in %.2fs", method, attempt, delay)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")


class FastConnectorClient:
    def __init__(self, session: aiohttp.ClientSession, service_url: str, credentials: Any) -> None:
        self.conversations = FastConversations(session, service_url, credentials)


class FastConnectorFactory(ConnectorFactory):
    """Wraps botbuilder's factory: same credentials for the same app id and audience."""

    def __init__(self, inner: ConnectorFactory, session: aiohttp.ClientSession) -> None:
        self._inner = inner
        self._session = session

    async def create(self, service_url: str, audience: str | None = None) -> FastConnectorClient:
        inner = self._inner
        credentials = await inner._credential_factory.create_credentials(
            inner._app_id,
            audience or inner._to_channel_from_bot_oauth_scope,
            inner._login_endpoint,
            inner._validate_authority,
        )
        return FastConnectorClient(self._session, service_url, credentials)


class FastBotFrameworkAuthentication(BotFrameworkAuthentication):
    """botbuilder's authentication, unchanged, whose connector factories use the fast client."""

    def __init__(self, inner: BotFrameworkAuthentication, session: aiohttp.ClientSession) -> None:
        self._inner = inner
        self._session = session
        self._token_clients: dict[str, Any] = {}

    async def authenticate_request(self, activity: Activity, auth_header: str) -> AuthenticateRequestResult:
        result = await self._inner.authenticate_request(activity, auth_header)
        if result.connector_factory is not None:
            result.connector_factory = FastConnectorFactory(result.connector_factory, self._session)
        return result

    async def authenticate_streaming_request(self, auth_header: str, channel_id_header: str) -> Any:
        return await self._inner.authenticate_streaming_request(auth_header, channel_id_header)

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        return FastConnectorFactory(self._inner.create_connector_factory(claims_identity), self._session)

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> Any:
        # botbuilder builds one per turn (for OAuth sign-in, which this bot does not use): one per
        # app id is enough, and saves ~3 ms a turn.
        key = claims_identity.get_claim_value("aud") or claims_identity.get_claim_value("appid") or ""
        client = self._token_clients.get(key)
        if client is None:
            client = await self._inner.create_user_token_client(claims_identity)
            self._token_clients[key] = client
        return client

    def create_bot_framework_client(self) -> Any:
        return self._inner.create_bot_framework_client()

    def get_originating_audience(self) -> str:
        return self._inner.get_originating_audience()

    async def authenticate_channel_request(self, auth_header: str) -> ClaimsIdentity:
        return await self._inner.authenticate_channel_request(auth_header)


def _serialize(activity: Activity) -> dict[str, Any]:
    """`activity.serialize()` (bot/schema_json.py), without walking every node of an adaptive
    card's content (plain JSON already: bot/cards.py): a third of the cost of a progress update."""
    attachments = activity.attachments or []
    plain = [
        a.content if a.content_type == CARD_CONTENT_TYPE and isinstance(a.content, dict) else None
        for a in attachments
    ]
    try:
        for item, content in zip(attachments, plain, strict=True):
            if content is not None:
                item.content = None
        body = schema_json.to_json(activity)
    finally:
        for item, content in zip(attachments, plain, strict=True):
            if content is not None:
                item.content = content
    for item, content in zip(body.get("attachments") or [], plain, strict=False):
        if content is not None:
            item["content"] = content
    return body


def _q(value: str) -> str:
    return quote(str(value), safe="")


def _resource(text: str) -> ResourceResponse:
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        data = {}
    return ResourceResponse(id=str(data.get("id") or "")) if isinstance(data, dict) else ResourceResponse()


def _retry_after(value: str | None, attempt: int) -> float:
    try:
        if value is not None:
            return min(MAX_RETRY_AFTER_SECONDS, max(0.0, float(value)))
    except ValueError:
        pass
    return min(MAX_RETRY_AFTER_SECONDS, 0.2 * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)
