"""A small cache for lists read from remote services: one load per key at a time, kept for a TTL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any


class TtlCache:
    """Concurrent readers of a missing or expired key wait for one load instead of each loading it.

    Past `max_entries` keys, expired entries (and their idle locks) are dropped; if that is not
    enough, the ones closest to expiry too: a cache of many small keys (one per user) stays bounded.
    Expired entries are also swept every SWEEP_SECONDS, so that a long-running process holds only
    what is fresh, not every key it ever saw up to the bound (issue 22's memory run).
    """

    SWEEP_SECONDS = 60.0

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_entries: int = 100_000) -> None:
        self._clock = clock
        self._max_entries = max_entries
        self._values: dict[Hashable, tuple[Any, float]] = {}
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self._swept_at = clock()

    async def get(self, key: Hashable, ttl: float, load: Callable[[], Awaitable[Any]]) -> Any:
        hit = self._fresh(key)
        if hit is not None:
            return hit[0]
        async with self._locks.setdefault(key, asyncio.Lock()):
            hit = self._fresh(key)
            if hit is not None:
                return hit[0]
            value = await load()
            self._values[key] = (value, self._clock() + ttl)
        now = self._clock()
        if (
            len(self._values) > self._max_entries
            or len(self._locks) > self._max_entries
            or now - self._swept_at >= self.SWEEP_SECONDS
        ):
            self._swept_at = now
            self._prune()
        return value

    def forget(self, predicate: Callable[[Hashable], bool] = lambda _key: True) -> None:
        for key in [k for k in self._values if predicate(k)]:
            del self._values[key]

    def __len__(self) -> int:
        return len(self._values)

    def _fresh(self, key: Hashable) -> tuple[Any, float] | None:
        hit = self._values.get(key)
        if hit is not None and hit[1] > self._clock():
            return hit
        return None

    def _prune(self) -> None:
        now = self._clock()
        self._values = {k: v for k, v in self._values.items() if v[1] > now}
        if len(self._values) > self._max_entries:
            by_expiry = sorted(self._values.items(), key=lambda item: item[1][1])
            self._values = dict(by_expiry[len(by_expiry) - self._max_entries // 2 :])
        self._locks = {k: lock for k, lock in self._locks.items() if lock.locked() or k in self._values}
