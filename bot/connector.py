"""The reply path: the Agents SDK's connector calls over one shared keep-alive aiohttp session.

The SDK's `RestChannelServiceClientFactory` builds a `TeamsConnectorClient` with a new
`aiohttp.ClientSession` for every turn (a new TCP connection per turn), asks the token provider
for every turn, and retries nothing. This factory hands the adapter a client over one session
for the process, with the bot's cached token (bot/auth.py), a timeout, and retries of
429/412/502/503/504 that honour Retry-After (services/retry.py, with CONNECTOR_RETRY's numbers).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from urllib.parse import quote

import aiohttp
from microsoft_agents.activity import Activity, ResourceResponse
from microsoft_agents.hosting.core import ClaimsIdentity, TurnContext

from bot.auth import BOT_FRAMEWORK_RESOURCE, BOT_FRAMEWORK_SCOPES, BotCredentials
from services.retry import RetryPolicy, retry_after_seconds

log = logging.getLogger(__name__)

# A reply is waited for by a person in a turn that has no later retry: few attempts, short waits, and a
# long Retry-After is waited up to the cap rather than given up on. The timeout is the session's (app.py).
CONNECTOR_RETRY = RetryPolicy(
    attempts=3,
    backoff_base_seconds=0.2,
    backoff_max_seconds=10.0,
    retry_after_max_seconds=10.0,
    give_up_beyond_retry_after_max=False,
    retry_statuses=frozenset({412, 429, 502, 503, 504}),
)


class _Response:
    """Status and headers of a refused call, for `bot.chat.classify`."""

    def __init__(self, status: int, headers: dict[str, str], text: str) -> None:
        self.status_code = status
        self.headers = headers
        self.text = text


class ConnectorError(Exception):
    def __init__(self, status: int, headers: dict[str, str], text: str) -> None:
        super().__init__(f"connector answered HTTP {status}")
        self.response = _Response(status, headers, text)


class KeepAliveConversations:
    """The `conversations` operations the SDK's adapter uses: send, reply, update, delete."""

    def __init__(self, session: aiohttp.ClientSession, service_url: str, token: str | None) -> None:
        self._session = session
        self._base = service_url.rstrip("/") + "/v3/conversations"
        self._headers = {"Content-Type": "application/json; charset=utf-8"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"

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

    async def _call(self, method: str, path: str, activity: Activity | None) -> ResourceResponse:
        body = (
            activity.model_dump(mode="json", by_alias=True, exclude_none=True)
            if activity is not None
            else None
        )
        url = f"{self._base}/{path}"
        policy = CONNECTOR_RETRY
        for attempt in range(1, policy.attempts + 1):
            try:
                async with self._session.request(method, url, json=body, headers=self._headers) as resp:
                    text = await resp.text()
                    if resp.status < 300:
                        return _resource(text)
                    headers = dict(resp.headers)
                    if not policy.retryable(resp.status) or attempt == policy.attempts:
                        raise ConnectorError(resp.status, headers, text[:500])
                    delay = policy.delay(attempt, retry_after_seconds(headers))
            except (aiohttp.ClientConnectionError, TimeoutError) as exc:
                if attempt == policy.attempts:
                    raise ConnectorError(503, {}, type(exc).__name__) from exc
                delay = policy.delay(attempt)
            log.info("connector %s retry %d in %.2fs", method, attempt, delay)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")


class KeepAliveConnectorClient:
    """Enough of the SDK's `ConnectorClientBase` for replies, updates and proactive messages."""

    def __init__(self, session: aiohttp.ClientSession, service_url: str, token: str | None) -> None:
        self.base_uri = service_url
        self.conversations = KeepAliveConversations(session, service_url, token)
        self.attachments = None

    async def close(self) -> None:
        """The session is the process's, closed by app.py."""


class _NoUserTokens:
    """This bot uses no user sign-in (OAuth cards): the SDK's user-token client is never called."""

    async def close(self) -> None:
        return None


class KeepAliveClientFactory:
    """The SDK's `ChannelServiceClientFactoryBase`, for the Bot Connector of Teams only."""

    def __init__(self, session: aiohttp.ClientSession, credentials: BotCredentials | None) -> None:
        self._session = session
        self._credentials = credentials  # None: local mode, nothing is authenticated
        self._no_user_tokens = _NoUserTokens()

    async def create_connector_client(
        self,
        context: TurnContext | None,
        claims_identity: ClaimsIdentity,
        service_url: str,
        audience: str,
        scopes: list[str] | None = None,
        use_anonymous: bool = False,
    ) -> KeepAliveConnectorClient:
        token = None
        if self._credentials is not None:
            token = await self._credentials.get_access_token(BOT_FRAMEWORK_RESOURCE, BOT_FRAMEWORK_SCOPES)
        return KeepAliveConnectorClient(self._session, service_url, token)

    async def create_user_token_client(
        self, context: TurnContext, claims_identity: ClaimsIdentity, use_anonymous: bool = False
    ) -> Any:
        return self._no_user_tokens


def _q(value: str) -> str:
    return quote(str(value), safe="")


def _resource(text: str) -> ResourceResponse:
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        data = {}
    return ResourceResponse(id=str(data.get("id") or "")) if isinstance(data, dict) else ResourceResponse()
