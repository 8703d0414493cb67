"""The one retry policy of every outbound call: which answers to retry, how long to wait, Retry-After.

Pure (no I/O, no HTTP client, no SDK) so that services/ and bot/ share it: the provisioning and Graph
calls (services/outbound_http.py), the Bot Connector calls (bot/connector.py) and the outbox's reading
of a refused proactive send (bot/chat.py) all decide with what is here.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from pydantic import BaseModel, ConfigDict, Field

# RFC 9110 delta-seconds are ASCII digits only; a fraction ("0.5") is accepted too, as the Bot
# Connector path always honoured one. A sign, an exponent, "nan" or "inf" are not a wait a server means.
_DELTA_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")


class RetryPolicy(BaseModel):
    """How hard to try one call. Retries are only for calls that are safe to repeat (all of ours are)."""

    model_config = ConfigDict(frozen=True)

    attempts: int = Field(default=4, ge=1, le=10)
    backoff_base_seconds: float = Field(default=0.5, ge=0)
    backoff_max_seconds: float = Field(default=8.0, ge=0)
    # The longest server-asked wait honoured. What happens beyond it is the caller's trade-off, below.
    retry_after_max_seconds: float = Field(default=30.0, ge=0)
    # True: a longer Retry-After ends the call at once as retryable, so a person's card is not held for
    # minutes and the request's own later retry waits instead. False: wait the cap and try again, for
    # a reply inside a turn, which has no later retry.
    give_up_beyond_retry_after_max: bool = True
    retry_statuses: frozenset[int] = frozenset({429, 500, 502, 503, 504})
    # Per attempt; a caller whose HTTP session has its own timeouts does not read them.
    timeout_seconds: float = Field(default=15.0, gt=0)
    connect_timeout_seconds: float = Field(default=5.0, gt=0)

    def retryable(self, status: int) -> bool:
        return status in self.retry_statuses

    def gives_up_on(self, retry_after: float) -> bool:
        """Whether a server's Retry-After is too long to wait for under this policy."""
        return self.give_up_beyond_retry_after_max and retry_after > self.retry_after_max_seconds

    def backoff(self, retry_number: int, rand: Callable[[], float] = random.random) -> float:
        """Exponential backoff with "equal jitter": half fixed, half random, capped. `rand` is in [0, 1)."""
        ceiling = min(self.backoff_max_seconds, self.backoff_base_seconds * 2 ** (retry_number - 1))
        return ceiling / 2 + rand() * ceiling / 2

    def delay(
        self, attempt: int, retry_after: float | None = None, rand: Callable[[], float] = random.random
    ) -> float:
        """Seconds to wait after failed attempt `attempt` (1-based): the server's Retry-After when it
        gave one, capped; otherwise the backoff."""
        if retry_after is not None:
            return min(retry_after, self.retry_after_max_seconds)
        return self.backoff(attempt, rand)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """A Retry-After value as seconds from `now`: delta-seconds or an HTTP-date (RFC 9110 10.2.3).
    A date in the past is 0; a missing, unreadable, negative or non-finite value is None."""
    if value is None:
        return None
    text = value.strip()
    if _DELTA_SECONDS.fullmatch(text):
        seconds = float(text)
        # Enough digits overflow to inf; waiting for ever is not what the server meant either.
        return seconds if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):  # ValueError since 3.10; TypeError is what older versions raised
        return None
    if when.tzinfo is None:  # asctime and "-0000" dates carry no zone; HTTP-dates are always GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def retry_after_seconds(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """The Retry-After header of a response as seconds (see parse_retry_after); the name is matched
    without regard to case, because a plain dict of headers loses aiohttp's case-insensitivity."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    return parse_retry_after(value, now)
