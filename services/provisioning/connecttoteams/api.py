"""Talking to the ConnecttoTeams platform's REST API: the bearer token, retried calls, and refusals
turned into ProvisioningErrors.

Secrets (client secret, API password, bearer tokens, and those of a call) never reach a log line or
an exception message: nothing here logs headers or bodies, and text the platform writes is scrubbed
of them before it is used.
"""

from __future__ import annotations

import asyncio
import base64
import enum
import logging
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import aiohttp

from i18n import N_, T, Text
from services.errors import ProvisioningError
from services.outbound_http import Authorize, Caller, GaveUp, Reply, RetryPolicy, Sleep, redact
from services.provisioning.connecttoteams.config import ConnectToTeamsConfig
from services.provisioning.connecttoteams.wire import answer_keys, as_positive_float, platform_message

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


class Doing(enum.StrEnum):
    """What the bot was doing when the platform refused: the value is for the log line; what a person
    reads is a whole sentence for each (_REFUSALS), so that it translates."""

    checking_api_user = "checking the API user"
    listing_enterprises = "listing enterprises"
    listing_voice_routes = "listing voice routes"
    finding_reseller_id = "finding our reseller id"
    configuring_user = "configuring the user"
    asking_sign_in_link = "asking for the Global Admin sign-in link"
    asking_consent_link = "asking for a Global Admin consent link"
    disabling_calling = "disabling calling"
    restoring_calling = "restoring calling"


class _Refusals(NamedTuple):
    forbidden: str  # 403
    not_found: str  # 404
    with_message: str  # any other refusal, with the platform's own words as {message}
    with_status: str  # any other refusal, without words: its HTTP {status}


_REFUSALS = {
    Doing.checking_api_user: _Refusals(
        N_(
            "The provisioning platform refused access while checking the API user; the provider must "
            "check the API user's rights for this enterprise."
        ),
        N_("The provisioning platform does not know what we asked for while checking the API user."),
        N_("The provisioning platform refused checking the API user: {message}"),
        N_("The provisioning platform refused checking the API user (HTTP {status})"),
    ),
    Doing.listing_enterprises: _Refusals(
        N_(
            "The provisioning platform refused access while listing enterprises; the provider must "
            "check the API user's rights for this enterprise."
        ),
        N_("The provisioning platform does not know what we asked for while listing enterprises."),
        N_("The provisioning platform refused listing enterprises: {message}"),
        N_("The provisioning platform refused listing enterprises (HTTP {status})"),
    ),
    Doing.listing_voice_routes: _Refusals(
        N_(
            "The provisioning platform refused access while listing voice routes; the provider must "
            "check the API user's rights for this enterprise."
        ),
        N_("The provisioning platform does not know what we asked for while listing voice routes."),
        N_("The provisioning platform refused listing voice routes: {message}"),
        N_("The provisioning platform refused listing voice routes (HTTP {status})"),
    ),
    Doing.finding_reseller_id: _Refusals(
        N_(
            "The provisioning platform refused access while finding our reseller id; the provider must "
            "check the API user's rights for this enterprise."
        ),
        N_("The provisioning platform does not know what we asked for while finding our reseller id."),
        N_("The provisioning platform refused finding our reseller id: {message}"),
        N_("The provisioning platform refused finding our reseller id (HTTP {status})"),
    ),
    Doing.configuring_user: _Refusals(
        N_(
            "The provisioning platform refused access while configuring the user; the provider must "
            "check the API user's rights for this enterprise."
        ),
        N_("The provisioning platform does not know what we asked for while configuring the user."),
        N_("The provisioning platform refused configuring the user: {message}"),
        N_("The provisioning platform refused configuring the user (HTTP {status})"),
    ),
    Doing.asking_sign_in_link: _Refusals(
        N_(
            "The provisioning platform refused access while asking for the Global Admin sign-in link; "
            "the provider must check the API user's rights for this enterprise."
        ),
        N_(
            "The provisioning platform does not know what we asked for while asking for the Global "
            "Admin sign-in link."
        ),
        N_("The provisioning platform refused asking for the Global Admin sign-in link: {message}"),
        N_("The provisioning platform refused asking for the Global Admin sign-in link (HTTP {status})"),
    ),
    Doing.asking_consent_link: _Refusals(
        N_(
            "The provisioning platform refused access while asking for a Global Admin consent link; "
            "the provider must check the API user's rights for this enterprise."
        ),
        N_(
            "The provisioning platform does not know what we asked for while asking for a Global "
            "Admin consent link."
        ),
        N_("The provisioning platform refused asking for a Global Admin consent link: {message}"),
        N_("The provisioning platform refused asking for a Global Admin consent link (HTTP {status})"),
    ),
    Doing.disabling_calling: _Refusals(
        N_(
            "The provisioning platform refused access while disabling calling; the provider must "
            "check the API user's rights for this enterprise."
        ),
        N_("The provisioning platform does not know what we asked for while disabling calling."),
        N_("The provisioning platform refused disabling calling: {message}"),
        N_("The provisioning platform refused disabling calling (HTTP {status})"),
    ),
    Doing.restoring_calling: _Refusals(
        N_(
            "The provisioning platform refused access while restoring calling; the provider must "
            "check the API user's rights for this enterprise."
        ),
        N_("The provisioning platform does not know what we asked for while restoring calling."),
        N_("The provisioning platform refused restoring calling: {message}"),
        N_("The provisioning platform refused restoring calling (HTTP {status})"),
    ),
}


# An answer of a shape the client does not know: a whole sentence for each call that reads one.
_UNEXPECTED = {
    Doing.listing_enterprises: N_(
        "The provisioning platform answered listing enterprises in a form the bot does not know, so "
        "nothing was read; the provider must check the platform's API (the bot's log says what came)."
    ),
    Doing.listing_voice_routes: N_(
        "The provisioning platform answered listing voice routes in a form the bot does not know, so "
        "nothing was read; the provider must check the platform's API (the bot's log says what came)."
    ),
    Doing.finding_reseller_id: N_(
        "The provisioning platform answered finding our reseller id in a form the bot does not know, "
        "so nothing was read; the provider must check the platform's API (the bot's log says what came)."
    ),
}


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
        headers: dict[str, str] | None = None,
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
                headers={"Accept": "application/json", **(headers or {})},
                policy=policy,
                **kwargs,
            )
        except GaveUp as exc:
            raise _unavailable(exc) from None

    def platform_message(self, reply: Reply, extra: Iterable[str | None] = ()) -> str:
        return redact(platform_message(reply), self._secrets(extra))

    def refused(
        self, reply: Reply, doing: Doing, extra: Iterable[str | None] = (), message: str | None = None
    ) -> ProvisioningError:
        """The refusal as a person reads it; the platform's own words (scrubbed) are a value in it."""
        message = message if message is not None else self.platform_message(reply, extra)
        log.warning("platform refused %s: HTTP %d %s", doing.value, reply.status, message)
        return ProvisioningError(_refusal(doing, reply.status, message), retryable=False)

    def unexpected(self, reply: Reply, doing: Doing) -> ProvisioningError:
        """An answer the client does not recognise: never read as "nothing there". The log names
        its keys, not its values (they may name people)."""
        log.error(
            "platform answered %s with HTTP %d in a form the bot does not know: %s",
            doing.value,
            reply.status,
            answer_keys(reply.json()),
        )
        return ProvisioningError(T(_UNEXPECTED[doing]), retryable=False)

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
                T(
                    "The bot could not sign in to the provisioning platform; the provider must check its "
                    "API credentials ({settings}).",
                    settings="CTT_CLIENT_ID, CTT_CLIENT_SECRET, CTT_API_USERNAME, CTT_API_PASSWORD",
                ),
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


def _refusal(doing: Doing, status: int, message: str) -> Text:
    if status == 401:
        return T(
            "The provisioning platform did not accept the bot's credentials; the provider must check them."
        )
    refusals = _REFUSALS[doing]
    if status == 403:
        return T(refusals.forbidden)
    if status == 404:
        return T(refusals.not_found)
    if message:
        return T(refusals.with_message, message=message)
    return T(refusals.with_status, status=status)


def _unavailable(exc: GaveUp) -> ProvisioningError:
    if exc.retry_after is not None and exc.status == 429:
        return ProvisioningError(
            T(
                "The provisioning platform is busy and asked us to wait {seconds} s; nothing was lost, "
                "try again in a few minutes.",
                seconds=f"{exc.retry_after:.0f}",
            ),
            retryable=True,
        )
    return ProvisioningError(_not_answering(exc), retryable=True)


def _not_answering(exc: GaveUp) -> Text:
    """ "Not answering right now", with what the last attempt got (GaveUp.reason, in words)."""
    if exc.asked_to_wait and exc.retry_after is not None:
        return T(
            "The provisioning platform is not answering right now (HTTP {status}, asked to wait {seconds} "
            "s); nothing was lost, try again in a few minutes.",
            status=exc.status or 0,
            seconds=f"{exc.retry_after:.0f}",
        )
    if exc.no_answer_within is not None:
        return T(
            "The provisioning platform is not answering right now (no answer within {seconds} s after "
            "{attempts} attempt(s)); nothing was lost, try again in a few minutes.",
            seconds=f"{exc.no_answer_within:g}",
            attempts=exc.attempts,
        )
    if exc.connection_error is not None:
        return T(
            "The provisioning platform is not answering right now (connection failed ({error}) after "
            "{attempts} attempt(s)); nothing was lost, try again in a few minutes.",
            error=exc.connection_error,
            attempts=exc.attempts,
        )
    return T(
        "The provisioning platform is not answering right now (HTTP {status} after {attempts} "
        "attempt(s)); nothing was lost, try again in a few minutes.",
        status=exc.status or 0,
        attempts=exc.attempts,
    )
