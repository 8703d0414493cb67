"""Outbound HTTP calls with a timeout, bounded retries (backoff + jitter, Retry-After) and one 401 refresh.

When to retry and how long to wait is services/retry.py's RetryPolicy; this is the loop that applies it.
Shared by the ConnecttoTeams client and the Microsoft Graph client. It never logs headers, bodies or
query strings: only the method, the path, the status and timings, so no secret can reach a log line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

# RetryPolicy and retry_after_seconds live in services/retry.py; re-exported here for the modules that
# import them from this one (services/provisioning/connecttoteams*, tests) until they import from there.
from services.retry import RetryPolicy, retry_after_seconds

# What a caller gives to get the Authorization header: `refresh=True` means "the last one was refused".
Authorize = Callable[[bool], Awaitable[Mapping[str, str]]]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Reply:
    """A response that was read completely inside the timeout."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON, or None when it is empty or not JSON."""
        if not self.body.strip():
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class GaveUp(Exception):
    """Every attempt failed with something worth retrying; `reason` is safe to log and to show.

    `reason` is English; what a message in another language needs is here as data: the last
    attempt's `no_answer_within` (seconds) or `connection_error` (the exception's class name), else
    an HTTP `status`; `asked_to_wait` when the answer asked to wait longer than the policy allows."""

    def __init__(
        self,
        reason: str,
        status: int | None = None,
        attempts: int = 0,
        retry_after: float | None = None,
        history: list[str] | None = None,
        *,
        no_answer_within: float | None = None,
        connection_error: str | None = None,
        asked_to_wait: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.attempts = attempts
        self.retry_after = retry_after
        self.history = history or []
        self.no_answer_within = no_answer_within
        self.connection_error = connection_error
        self.asked_to_wait = asked_to_wait


@dataclass
class Caller:
    """Sends one logical call, retrying what is worth retrying; the rest is the caller's to interpret."""

    session: aiohttp.ClientSession
    policy: RetryPolicy
    log: logging.Logger
    sleep: Sleep = asyncio.sleep
    rand: Callable[[], float] = random.random
    clock: Callable[[], float] = time.monotonic

    async def call(
        self,
        method: str,
        url: str,
        *,
        what: str,
        authorize: Authorize | None = None,
        headers: Mapping[str, str] | None = None,
        policy: RetryPolicy | None = None,
        **kwargs: Any,
    ) -> Reply:
        """One call: the first non-retryable answer is returned (2xx or 4xx); GaveUp when none came."""
        policy = policy or self.policy
        refreshed = False
        history: list[str] = []
        last_status: int | None = None
        last_retry_after: float | None = None
        attempt = 0
        while True:
            attempt += 1
            sent_headers = dict(headers or {})
            if authorize is not None:
                sent_headers.update(await authorize(False))
            started = self.clock()
            outcome: str
            reply: Reply | None = None
            no_answer_within: float | None = None
            connection_error: str | None = None
            try:
                async with self.session.request(
                    method, url, headers=sent_headers, timeout=_client_timeout(policy), **kwargs
                ) as response:
                    reply = Reply(response.status, dict(response.headers), await response.read())
            except TimeoutError:
                no_answer_within = policy.timeout_seconds
                outcome = f"no answer within {policy.timeout_seconds:g} s"
            except aiohttp.ClientError as exc:
                # The exception's text can carry the URL but never headers; keep only its class.
                connection_error = type(exc).__name__
                outcome = f"connection failed ({connection_error})"
            elapsed_ms = (self.clock() - started) * 1000
            if reply is not None:
                outcome = f"HTTP {reply.status}"
                last_status = reply.status
                if reply.status == 401 and authorize is not None and not refreshed:
                    refreshed = True
                    self.log.info("%s %s: 401, fetching a new token and trying once more", method, what)
                    await authorize(True)
                    attempt -= 1  # the refresh does not use up a retry
                    continue
                if not policy.retryable(reply.status):
                    self.log.debug(
                        "%s %s -> %d in %.0f ms (attempt %d)", method, what, reply.status, elapsed_ms, attempt
                    )
                    return reply
            history.append(outcome)
            retry_after = retry_after_seconds(reply.headers) if reply is not None else None
            last_retry_after = retry_after
            if retry_after is not None and policy.gives_up_on(retry_after):
                self.log.warning(
                    "%s %s -> %s, asked to wait %.0f s (more than %.0f s): giving up for now",
                    method,
                    what,
                    outcome,
                    retry_after,
                    policy.retry_after_max_seconds,
                )
                raise GaveUp(
                    f"{outcome}, asked to wait {retry_after:.0f} s",
                    last_status,
                    attempt,
                    retry_after,
                    history,
                    asked_to_wait=True,
                )
            if attempt >= policy.attempts:
                self.log.warning(
                    "%s %s failed after %d attempt(s): %s", method, what, attempt, "; ".join(history)
                )
                raise GaveUp(
                    f"{outcome} after {attempt} attempt(s)",
                    last_status,
                    attempt,
                    last_retry_after,
                    history,
                    no_answer_within=no_answer_within,
                    connection_error=connection_error,
                )
            delay = policy.delay(attempt, retry_after, self.rand)
            self.log.info(
                "%s %s -> %s in %.0f ms (attempt %d/%d), retrying in %.2f s",
                method,
                what,
                outcome,
                elapsed_ms,
                attempt,
                policy.attempts,
                delay,
            )
            await self.sleep(delay)


def _client_timeout(policy: RetryPolicy) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=policy.timeout_seconds, connect=policy.connect_timeout_seconds)


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every occurrence of each (non-trivial) secret replaced, for text a remote side wrote."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return text
