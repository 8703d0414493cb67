"""The outbox's sender (issue 17, finding 1): one chat that does not answer holds up only itself.

Every test runs on SQLite and on PostgreSQL (tests/pg.py says how PostgreSQL is found). Deliveries
are a function that records what it was given and, for one person, waits until the test lets it
go: nothing here depends on how fast the machine is.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from dialogs.ports import DeliveryRetry
from dialogs.sender import OutboxSender
from services import db
from services.db import Database
from services.notify.outbox import Notice, NoticeKind, Outbox, OutboxRow
from tests.pg import pg_server, pg_url  # noqa: F401  (fixtures)

ENGINES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
TENANT = "tenant"
ADA, FARAH, GUS = "ada", "farah", "gus"


@pytest.fixture(params=ENGINES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await database.migrate()
    yield database
    await database.close()


def notice(request_id: str | None, recipient: str | None, n: int) -> Notice:
    kind = NoticeKind.approval_card if recipient else NoticeKind.approvers_update
    return Notice(
        kind=kind,
        request_id=request_id,
        recipient_tenant_id=TENANT if recipient else None,
        recipient_id=recipient,
        payload={"n": n},
    )


class Deliveries:
    """Records every delivery; `hang` holds one person's deliveries until released; no two
    deliveries of one request or to one person may overlap."""

    def __init__(self) -> None:
        self.started: list[tuple[str | None, int]] = []
        self.finished: list[tuple[str | None, int]] = []
        self.overlaps: list[str] = []
        self.held: dict[str, asyncio.Event] = {}
        self.refuse_once: set[str] = set()
        self._requests: set[str] = set()
        self._people: set[str] = set()
        self._changed = asyncio.Condition()

    async def until(self, condition: Callable[[], bool]) -> None:
        """Wait for `condition` (20 s is a safety net against a hang, not a measure of speed)."""
        async with asyncio.timeout(20), self._changed:
            await self._changed.wait_for(condition)

    def of(self, person: str | None) -> list[int]:
        return [n for who, n in self.finished if who == person]

    async def __call__(self, row: OutboxRow) -> bool:
        who, n = row.recipient_id, row.payload["n"]
        for key, busy in ((row.request_id, self._requests), (who, self._people)):
            if key is not None and key in busy:
                self.overlaps.append(key)
            if key is not None:
                busy.add(key)
        self.started.append((who, n))
        try:
            if who in self.held:
                await self.held[who].wait()
            if who in self.refuse_once:
                self.refuse_once.discard(who)
                raise DeliveryRetry("HTTP 429", 0.3)
            self.finished.append((who, n))
            return True
        finally:
            self._requests.discard(row.request_id or "")
            self._people.discard(who or "")
            async with self._changed:
                self._changed.notify_all()


async def test_one_chat_that_does_not_answer_holds_up_only_itself(database: Database):
    outbox = Outbox(database)
    await outbox.add(
        [
            notice("a", ADA, 1),  # Ada's chat hangs on this one
            notice("c", FARAH, 1),
            notice("a", ADA, 2),  # the same request again: after Ada's first
            notice("b", ADA, 3),  # another request to Ada: after her first two, in order
            notice("c", FARAH, 2),
            notice("d", FARAH, 3),
            notice("c", None, 4),  # every approver's copy of request c: after Farah's two of c
        ]
    )
    deliveries = Deliveries()
    deliveries.held[ADA] = asyncio.Event()
    sender = OutboxSender(outbox, deliveries, concurrency=4, poll_seconds=0.05)
    running = asyncio.create_task(sender.run_forever())
    try:
        await deliveries.until(lambda: len(deliveries.finished) == 4)
        assert deliveries.of(FARAH) == [1, 2, 3] and deliveries.of(None) == [4]
        assert deliveries.started.count((ADA, 1)) == 1 and deliveries.of(ADA) == []
        assert (ADA, 2) not in deliveries.started and (ADA, 3) not in deliveries.started, (
            "Ada's later notices wait for her first"
        )
        deliveries.held[ADA].set()
        await deliveries.until(lambda: len(deliveries.finished) == 7)
        assert deliveries.of(ADA) == [1, 2, 3]
        assert deliveries.overlaps == [], "two notices of one request, or to one person, at once"
    finally:
        await sender.stop()
        await running  # ... once the deliveries in flight have recorded their outcome
    assert await outbox.pending() == []


async def test_a_chat_that_says_not_now_is_tried_again_later_with_its_other_notices(database: Database):
    outbox = Outbox(database)
    await outbox.add([notice("a", ADA, 1), notice("b", ADA, 2), notice("c", FARAH, 1)])
    deliveries = Deliveries()
    deliveries.refuse_once.add(ADA)
    sender = OutboxSender(outbox, deliveries, concurrency=4, poll_seconds=0.05)
    running = asyncio.create_task(sender.run_forever())
    try:
        await deliveries.until(lambda: len(deliveries.finished) == 3)
    finally:
        await sender.stop()
        await running
    assert deliveries.started == [(ADA, 1), (FARAH, 1), (ADA, 1), (ADA, 2)] or deliveries.started == [
        (FARAH, 1),
        (ADA, 1),
        (ADA, 1),
        (ADA, 2),
    ], "Ada's second notice waited for her first to go through; Farah's did not wait"
    assert deliveries.of(ADA) == [1, 2] and deliveries.overlaps == []


async def test_a_refusal_moves_the_recipients_other_due_notices_back_with_it(database: Database):
    outbox = Outbox(database)
    await outbox.add([notice("a", ADA, 1), notice("b", ADA, 2), notice("c", FARAH, 1)])
    first, farahs = await outbox.claim_due()
    assert (first.recipient_id, farahs.recipient_id) == (ADA, FARAH), "Ada's second waits for her first"
    await outbox.retry(first, 60, "HTTP 429", hold_recipient=True)
    await outbox.sent(farahs.id)
    assert await outbox.claim_due() == [], "Ada's second notice waits with her first"
    async with database.engine.connect() as conn:
        due = dict((await conn.execute(select(db.outbox.c.id, db.outbox.c.next_attempt_at))).all())
    assert due[first.id + 1] == due[first.id]


async def test_a_row_claimed_after_its_senders_lease_ran_out_is_marked_interrupted(database: Database):
    outbox = Outbox(database, lease_seconds=0.2)
    await outbox.add([notice("a", ADA, 1)])
    (row,) = await outbox.claim_due()
    assert not row.interrupted
    await asyncio.sleep(0.3)  # ... the sender died while delivering it
    (again,) = await outbox.claim_due()
    assert again.id == row.id and again.interrupted
    await outbox.retry(again, 0, "HTTP 503")
    (third,) = await outbox.claim_due()
    assert not third.interrupted, "a row given back by its sender was not cut off"


async def test_notices_about_no_request_wait_only_for_their_recipient(database: Database):
    outbox = Outbox(database)
    replies = [
        Notice(kind=NoticeKind.reply, request_id=None, recipient_tenant_id=TENANT, recipient_id=who)
        for who in (ADA, FARAH, ADA, GUS)
    ]
    await outbox.add(replies)
    first = await outbox.claim_due()
    assert [r.recipient_id for r in first] == [ADA, FARAH, GUS]
    for row in first:
        await outbox.sent(row.id)
    (last,) = await outbox.claim_due()
    assert last.recipient_id == ADA and last.request_id is None


async def test_senders_on_several_instances_keep_each_persons_order(database_url: str):
    instances = [Database(database_url) for _ in range(3)]
    try:
        await instances[0].migrate()
        people = [f"p{i}" for i in range(5)]
        await Outbox(instances[0]).add(
            [notice(f"r{n % 7}", people[n % 5], n) for n in range(60)] + [notice("r0", None, 60)]
        )
        deliveries = Deliveries()
        senders = [
            OutboxSender(Outbox(d), deliveries, concurrency=4, poll_seconds=0.02)
            for d in instances
            for _ in range(2)
        ]
        running = [asyncio.create_task(s.run_forever()) for s in senders]
        try:
            await deliveries.until(lambda: len(deliveries.finished) == 61)
        finally:
            for sender in senders:
                await sender.stop()
            await asyncio.gather(*running)
        assert deliveries.overlaps == []
        for person in people:
            assert deliveries.of(person) == sorted(deliveries.of(person)), f"{person}'s order"
        assert sorted(n for _, n in deliveries.finished) == list(range(61)), "each once"
    finally:
        for d in instances:
            await d.close()
