"""The reply path: the Agents SDK's connector calls over one shared keep-alive aiohttp session.

The SDK's `RestChannelServiceClientFactory` builds a `TeamsConnectorClient` with a new
`aiohttp.ClientSession` for every turn (a new TCP connection per turn), asks the token provider
for every turn, and retries nothing. This factory hands the adapter a client over one session
for the process, with the bot's cached token (bot/auth.py), a timeout, and retries of
429/412/502/503/504 that honour Retry-After (services/retry.py, with CONNECTOR_RETRY's numbers).

A proactive send (the outbox's sender, through `continue_conversation`) has numbers of its own,
PROACTIVE_RETRY: one short attempt. The outbox retries it later with its own backoff, so a chat
that does not answer holds its own notices back, not the sender (issue 17).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from urllib.parse import quote

import aiohttp
from microsoft_agents.activity import Activity, ActivityEventNames, ActivityTypes, ResourceResponse
from microsoft_agents.hosting.core import ClaimsIdentity, TurnContext

from bot.auth import BOT_FRAMEWORK_RESOURCE, BOT_FRAMEWORK_SCOPES, BotCredentials
from bot.cards import CardContent
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
    timeout_seconds=15.0,
)

# A proactive send is waited for by nobody: one attempt, a short timeout (app.py passes
# PROACTIVE_SEND_TIMEOUT_SECONDS), and whatever the channel says goes back to the outbox, which
# tries again after its backoff or the channel's Retry-After (dialogs/sender.py).
PROACTIVE_RETRY = RetryPolicy(
    attempts=1,
    retry_statuses=CONNECTOR_RETRY.retry_statuses,
    timeout_seconds=5.0,
    connect_timeout_seconds=5.0,
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

    def __init__(
        self,
        session: aiohttp.ClientSession,
        service_url: str,
        token: str | None,
        policy: RetryPolicy = CONNECTOR_RETRY,
    ) -> None:
        self._session = session
        self._policy = policy
        self._timeout = aiohttp.ClientTimeout(
            total=policy.timeout_seconds, connect=policy.connect_timeout_seconds
        )
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
        body = _json_of(activity) if activity is not None else None
        url = f"{self._base}/{path}"
        policy = self._policy
        for attempt in range(1, policy.attempts + 1):
            try:
                async with self._session.request(
                    method, url, json=body, headers=self._headers, timeout=self._timeout
                ) as resp:
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

    def __init__(
        self,
        session: aiohttp.ClientSession,
        service_url: str,
        token: str | None,
        policy: RetryPolicy = CONNECTOR_RETRY,
    ) -> None:
        self.base_uri = service_url
        self.conversations = KeepAliveConversations(session, service_url, token, policy)
        self.attachments = None

    async def close(self) -> None:
        """The session is the process's, closed by app.py."""


class _NoUserTokens:
    """This bot uses no user sign-in (OAuth cards): the SDK's user-token client is never called."""

    async def close(self) -> None:
        return None


class KeepAliveClientFactory:
    """The SDK's `ChannelServiceClientFactoryBase`, for the Bot Connector of Teams only."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        credentials: BotCredentials | None,
        proactive: RetryPolicy = PROACTIVE_RETRY,
    ) -> None:
        self._session = session
        self._credentials = credentials  # None: local mode, nothing is authenticated
        self._proactive = proactive
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
        proactive = context is not None and is_continuation(context.activity)
        policy = self._proactive if proactive else CONNECTOR_RETRY
        return KeepAliveConnectorClient(self._session, service_url, token, policy)

    async def create_user_token_client(
        self, context: TurnContext, claims_identity: ClaimsIdentity, use_anonymous: bool = False
    ) -> Any:
        return self._no_user_tokens


def is_continuation(activity: Activity | None) -> bool:
    """The turn `continue_conversation` makes for a proactive send (not a person's activity)."""
    return (
        activity is not None
        and activity.type == ActivityTypes.event
        and activity.name == ActivityEventNames.continue_conversation
    )


def _q(value: str) -> str:
    return quote(str(value), safe="")


def _resource(text: str) -> ResourceResponse:
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        data = {}
    return ResourceResponse(id=str(data.get("id") or "")) if isinstance(data, dict) else ResourceResponse()


def _json_of(activity: Activity) -> dict[str, Any]:
    """The activity as the connector's JSON. A card's content (CardContent) is JSON already: it
    goes in as it is instead of being walked by the serialiser again."""
    dump: dict[str, Any] = {"mode": "json", "by_alias": True, "exclude_none": True}
    attachments = activity.attachments or []
    if not any(isinstance(a.content, CardContent) for a in attachments):
        return activity.model_dump(**dump)
    body = activity.model_dump(**dump, exclude={"attachments"})
    body["attachments"] = [
        {**a.model_dump(**dump, exclude={"content"}), "content": a.content}
        if isinstance(a.content, CardContent)
        else a.model_dump(**dump)
        for a in attachments
    ]
    return body
