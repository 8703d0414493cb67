"""The outbox's sender: delivers due notices in the background, to several conversations at once.

One unresponsive chat must not hold up everyone else's notices (issue 17). The sender keeps up
to `concurrency` deliveries going and claims more as each one ends. The outbox hands out at most
one row per request and one per recipient at a time, oldest first (`Outbox.claim_due`), so the
rows in flight all go to different people: one person's messages keep their order, and two
notices of one request never overlap. A chat that says "not now" (429, 5xx, no answer within the
proactive send's short timeout) has that row and the recipient's other rows tried again later,
together (`Outbox.retry(hold_recipient=True)`); the others carry on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from dialogs.ports import DeliveryFailed, DeliveryRetry
from services.errors import RequestNotFound
from services.notify.outbox import OUTBOX_RETRY, Outbox, OutboxRow

log = logging.getLogger(__name__)

# Delivers one row: True when it reached its recipient, False when they have no conversation yet.
Deliver = Callable[[OutboxRow], Awaitable[bool]]


class OutboxSender:
    """Claims due outbox rows and delivers them, up to `concurrency` at once. `housekeeping` (the
    reminders) runs at most once per `poll_seconds`, before a claim."""

    def __init__(
        self,
        outbox: Outbox,
        deliver: Deliver,
        *,
        concurrency: int = 16,
        poll_seconds: float = 2.0,
        housekeeping: Callable[[], Awaitable[Any]] | None = None,
    ) -> None:
        self._outbox = outbox
        self._deliver = deliver
        self._concurrency = max(1, concurrency)
        self._poll = poll_seconds
        self._housekeeping = housekeeping
        self._wake = asyncio.Event()
        self._stopping = False
        self._paused = False
        self._in_flight: set[asyncio.Task[None]] = set()

    def wake(self) -> None:
        self._wake.set()

    def pause(self) -> None:
        """Tests: stop claiming (as if the process died before sending)."""
        self._paused = True

    def resume(self) -> None:
        self._paused = False
        self.wake()

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def run_forever(self) -> None:
        last_housekeeping: float | None = None
        loop = asyncio.get_running_loop()
        try:
            while not self._stopping:
                # Cleared before the work, so a wake-up that arrives during it is not lost.
                self._wake.clear()
                try:
                    if not self._paused:
                        if self._housekeeping is not None and (
                            last_housekeeping is None or loop.time() - last_housekeeping >= self._poll
                        ):
                            last_housekeeping = loop.time()
                            await self._housekeeping()
                        await self._start_due()
                except Exception:
                    log.exception("outbox sender failed; retrying")
                if self._stopping:
                    break
                try:
                    await asyncio.wait_for(self._wake.wait(), self._poll)
                except TimeoutError:
                    pass
            if self._in_flight:
                await asyncio.wait(set(self._in_flight))
        finally:
            # Cancelled (a stop that ran out of time): what is still being delivered keeps its
            # lease and is delivered again after it, as after a crash.
            for task in self._in_flight:
                task.cancel()

    async def stop(self) -> None:
        """Claim nothing more; `run_forever` returns once the deliveries in flight have ended."""
        self._stopping = True
        self.wake()

    async def deliver_due(self) -> int:
        """Claim what is due now (up to `concurrency` rows) and deliver it all; returns how many
        rows were claimed. For tests and tools: the background loop does not wait like this."""
        rows = await self._outbox.claim_due(limit=self._concurrency)
        await asyncio.gather(*(self._deliver_one(row) for row in rows))
        return len(rows)

    async def _start_due(self) -> int:
        free = self._concurrency - len(self._in_flight)
        if free <= 0:
            return 0
        rows = await self._outbox.claim_due(limit=free)
        loop = asyncio.get_running_loop()
        for row in rows:
            task = loop.create_task(self._guarded(row), name=f"outbox-{row.id}")
            self._in_flight.add(task)
            task.add_done_callback(self._ended)
        return len(rows)

    def _ended(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        # A slot is free, and the row's request or recipient may have a next row now.
        self.wake()

    async def _guarded(self, row: OutboxRow) -> None:
        try:
            await self._deliver_one(row)
        except Exception:
            # Even the outbox's own write failed (the database went away): the row keeps its
            # lease and is claimed again once it runs out.
            log.exception("outbox %s %s: could not record the outcome", row.id, row.kind.value)

    async def _deliver_one(self, row: OutboxRow) -> None:
        try:
            delivered = await self._deliver(row)
        except DeliveryRetry as exc:
            delay = exc.seconds if exc.seconds is not None else OUTBOX_RETRY.backoff(row.attempts + 1)
            log.info("outbox %s %s: retry in %.1fs (%s)", row.id, row.kind.value, delay, exc.reason)
            await self._outbox.retry(row, delay, exc.reason, hold_recipient=True)
            return
        except (DeliveryFailed, RequestNotFound) as exc:
            log.warning("outbox %s %s: giving up (%s)", row.id, row.kind.value, exc)
            await self._outbox.give_up(row, str(exc))
            return
        except Exception as exc:
            log.exception("outbox %s %s: unexpected failure", row.id, row.kind.value)
            await self._outbox.retry(row, OUTBOX_RETRY.backoff(row.attempts + 1), type(exc).__name__)
            return
        if delivered:
            await self._outbox.sent(row.id)
        else:
            await self._outbox.wait_for_conversation(row)
