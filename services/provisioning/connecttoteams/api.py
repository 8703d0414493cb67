"""Talking to the ConnecttoTeams platform's REST API: the bearer token, retried calls, and refusals
turned into ProvisioningErrors.

Secrets (client secret, API password, bearer tokens, and those of a call) never reach a log line or
an exception message: nothing here logs headers or bodies, and text the platform writes is scrubbed
of them before it is used.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable, Iterable
from typing import Any

import aiohttp

from services.errors import ProvisioningError
from services.outbound_http import Authorize, Caller, GaveUp, Reply, RetryPolicy, Sleep, redact
from services.provisioning.connecttoteams.config import ConnectToTeamsConfig
from services.provisioning.connecttoteams.wire import as_positive_float, platform_message

# The package's name, as the single module had: log filters written for this backend keep matching.
log = logging.getLogger(__package__)


class _Token:
    """The platform's bearer token: fetched once per expiry, whatever the concurrency."""

    def __init__(self, fetch: Callable[[], Any], clock: Callable[[], float], margin: float) -> None:
        self._fetch = fetch
        self._clock = clock
        self._margin = margin
        self._value: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    def _valid(self) -> str | None:
        return self._value if self._value and self._clock() < self._expires_at else None

    async def get(self) -> str:
        token = self._valid()
        if token:
            return token
        async with self._lock:
            token = self._valid()
            if token:
                return token
            value, lifetime = await self._fetch()
            self._value = value
            self._expires_at = self._clock() + lifetime - min(self._margin, lifetime / 2)
            return value

    def refused(self, token: str | None) -> None:
        """Forget `token` if it is still the current one (many calls may report the same refusal)."""
        if token is not None and token == self._value:
            self._value = None

    @property
    def current(self) -> str | None:
        return self._value


class Forbidden(Exception):
    """A 403 from configureUser: the caller decides whether a Global Admin sign-in can fix it."""

    def __init__(self, error: ProvisioningError) -> None:
        super().__init__(error.message)
        self.error = error


class PlatformApi:
    """The platform's REST API with its token; call `start()` before use and `close()` at the end."""

    def __init__(
        self,
        config: ConnectToTeamsConfig,
        *,
        session: aiohttp.ClientSession | None,
        clock: Callable[[], float],
        sleep: Sleep,
        rand: Callable[[], float],
    ) -> None:
        self._config = config
        self._session = session
        self._owns_session = session is None
        self._clock = clock
        self._sleep = sleep
        self._rand = rand
        self._caller: Caller | None = None
        self._token = _Token(self._fetch_token, clock, config.token_margin_seconds)

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._config.max_connections), raise_for_status=False
            )
        self._caller = Caller(
            self._session,
            self._config.retry_policy,
            log,
            sleep=self._sleep,
            rand=self._rand,
            clock=self._clock,
        )

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None
        self._caller = None

    async def call(
        self,
        method: str,
        path: str,
        *,
        secrets: Iterable[str | None] = (),
        policy: RetryPolicy | None = None,
        **kwargs: Any,
    ) -> Reply:
        if self._caller is None:
            raise RuntimeError("ConnectToTeamsProvisioningService.start() was not called")
        try:
            return await self._caller.call(
                method,
                self._url(path),
                what=path,
                authorize=self._authorizer(),
                headers={"Accept": "application/json"},
                policy=policy,
                **kwargs,
            )
        except GaveUp as exc:
            raise _unavailable(exc) from None

    def platform_message(self, reply: Reply, extra: Iterable[str | None] = ()) -> str:
        return redact(platform_message(reply), self._secrets(extra))

    def refused(
        self, reply: Reply, doing: str, extra: Iterable[str | None] = (), message: str | None = None
    ) -> ProvisioningError:
        message = message if message is not None else self.platform_message(reply, extra)
        log.warning("platform refused %s: HTTP %d %s", doing, reply.status, message)
        if reply.status == 401:
            return ProvisioningError(
                "The provisioning platform did not accept the bot's credentials; the provider must check them.",
                retryable=False,
            )
        if reply.status == 403:
            return ProvisioningError(
                f"The provisioning platform refused access while {doing}; the provider must check the API "
                "user's rights for this enterprise.",
                retryable=False,
            )
        if reply.status == 404:
            return ProvisioningError(
                f"The provisioning platform does not know what we asked for while {doing}.", retryable=False
            )
        detail = f": {message}" if message else f" (HTTP {reply.status})"
        return ProvisioningError(f"The provisioning platform refused {doing}{detail}", retryable=False)

    def _authorizer(self) -> Authorize:
        used: str | None = None

        async def authorize(refresh: bool) -> dict[str, str]:
            nonlocal used
            if refresh:
                self._token.refused(used)
                return {}
            used = await self._token.get()
            return {"Authorization": f"Bearer {used}"}

        return authorize

    async def _fetch_token(self) -> tuple[str, float]:
        assert self._caller is not None
        try:
            reply = await self._caller.call(
                "POST",
                self._url("/oauth/token"),
                what="/oauth/token",
                data={
                    "username": self._config.api_username,
                    "password": self._config.api_password.get_secret_value(),
                    "grant_type": "password",
                },
                headers={"Accept": "application/json", "Authorization": self._basic_auth()},
            )
        except GaveUp as exc:
            raise _unavailable(exc) from None
        data = reply.json()
        token = data.get("access_token") if isinstance(data, dict) else None
        if not reply.ok or not isinstance(token, str) or not token:
            code = data.get("error") if isinstance(data, dict) else None
            log.error(
                "the platform refused our API credentials: HTTP %d %s",
                reply.status,
                str(code)[:60] if code else "(no error code)",
            )
            raise ProvisioningError(
                "The bot could not sign in to the provisioning platform; the provider must check its API "
                "credentials (CTT_CLIENT_ID, CTT_CLIENT_SECRET, CTT_API_USERNAME, CTT_API_PASSWORD).",
                retryable=reply.status >= 500,
            )
        lifetime = as_positive_float(data.get("expires_in")) or 300.0
        log.debug("platform token fetched, valid for %.0f s", lifetime)
        return token, lifetime

    def _basic_auth(self) -> str:
        pair = f"{self._config.client_id}:{self._config.client_secret.get_secret_value()}"
        return "Basic " + base64.b64encode(pair.encode()).decode("ascii")

    def _url(self, path: str) -> str:
        return self._config.base_url.rstrip("/") + path

    def _secrets(self, extra: Iterable[str | None] = ()) -> list[str | None]:
        return [
            self._config.client_secret.get_secret_value(),
            self._config.api_password.get_secret_value(),
            self._token.current,
            *extra,
        ]


def _unavailable(exc: GaveUp) -> ProvisioningError:
    if exc.retry_after is not None and exc.status == 429:
        return ProvisioningError(
            f"The provisioning platform is busy and asked us to wait {exc.retry_after:.0f} s; "
            "nothing was lost, try again in a few minutes.",
            retryable=True,
        )
    return ProvisioningError(
        f"The provisioning platform is not answering right now ({exc.reason}); nothing was lost, "
        "try again in a few minutes.",
        retryable=True,
    )
