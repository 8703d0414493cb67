"""Work that runs after a turn has answered (provisioning steps), tracked so shutdown can wait.

Work spawned during an HTTP request starts only after the response is written: a click's answer
("Working...") must reach Teams before the first in-place update of the same card, or the older
answer could overwrite a newer card.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

log = logging.getLogger(__name__)

_after_reply: ContextVar[list[Callable[[], None]] | None] = ContextVar("after_reply", default=None)


@contextmanager
def start_after_reply() -> Iterator[Callable[[], None]]:
    """Within the block, spawned work is held; call the yielded function once the reply is out."""
    held: list[Callable[[], None]] = []
    token = _after_reply.set(held)
    started = False

    def start() -> None:
        nonlocal started
        if not started:
            started = True
            for begin in held:
                begin()

    try:
        yield start
    finally:
        _after_reply.reset(token)
        if not started:  # an exception before the reply: still run (and never leak) the work
            start()


class BackgroundWork:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, work: Coroutine[Any, Any, Any], name: str) -> None:
        held = _after_reply.get()
        if held is not None:
            held.append(lambda: self._start(work, name))
        else:
            self._start(work, name)

    def _start(self, work: Coroutine[Any, Any, Any], name: str) -> None:
        # The work runs after the reply: what it spawns in turn starts at once, not held in a
        # list of the turn's that has already been started (its context would say so).
        context = contextvars.copy_context()
        context.run(_after_reply.set, None)
        task = asyncio.get_running_loop().create_task(work, name=name, context=context)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background work %s failed", task.get_name(), exc_info=task.exception())

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def drain(self, grace_seconds: float) -> None:
        """Let running work finish; what is still running after `grace_seconds` is cancelled and
        is resumed from the database on the next start."""
        deadline = asyncio.get_running_loop().time() + grace_seconds
        still_running: set[asyncio.Task[Any]] = set()
        # Work may spawn more as it ends (a card's last update): wait for that too.
        while self._tasks:
            left = deadline - asyncio.get_running_loop().time()
            _, still_running = await asyncio.wait(set(self._tasks), timeout=max(0.0, left))
            if still_running:
                break
        for task in still_running:
            task.cancel()
        if still_running:
            await asyncio.wait(still_running, timeout=1)
