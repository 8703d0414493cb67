"""A small cache for lists read from remote services: one load per key at a time, kept for a TTL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any


class TtlCache:
    """Concurrent readers of a missing or expired key wait for one load instead of each loading it."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._values: dict[Hashable, tuple[Any, float]] = {}
        self._locks: dict[Hashable, asyncio.Lock] = {}

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
            return value

    def forget(self, predicate: Callable[[Hashable], bool] = lambda _key: True) -> None:
        for key in [k for k in self._values if predicate(k)]:
            del self._values[key]

    def _fresh(self, key: Hashable) -> tuple[Any, float] | None:
        hit = self._values.get(key)
        if hit is not None and hit[1] > self._clock():
            return hit
        return None
