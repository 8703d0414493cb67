"""Work spawned while a request is being answered starts only after the reply is out."""

from __future__ import annotations

import asyncio

from bot.background import BackgroundWork, start_after_reply


async def test_work_spawned_in_a_request_waits_for_the_reply():
    background = BackgroundWork()
    ran: list[str] = []

    async def work() -> None:
        ran.append("work")

    with start_after_reply() as start:
        background.spawn(work(), "w")
        await asyncio.sleep(0.05)
        assert ran == [] and background.pending == 0, "held until the reply is written"
        ran.append("reply")
        start()
    await asyncio.sleep(0.05)
    assert ran == ["reply", "work"]


async def test_work_outside_a_request_starts_at_once_and_drain_waits():
    background = BackgroundWork()
    done = asyncio.Event()

    async def work() -> None:
        await asyncio.sleep(0.05)
        done.set()

    background.spawn(work(), "w")
    assert background.pending == 1
    await background.drain(grace_seconds=5)
    assert done.is_set()


async def test_held_work_still_runs_if_the_request_fails():
    background = BackgroundWork()
    ran: list[str] = []

    async def work() -> None:
        ran.append("work")

    try:
        with start_after_reply():
            background.spawn(work(), "w")
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    await asyncio.sleep(0.05)
    assert ran == ["work"]


async def test_work_spawned_by_held_work_starts_and_drain_waits_for_it():
    """A pipeline started after the reply spawns its card's last update: that must start (not be
    held in the turn's list, already started), and shutdown must wait for it too."""
    background = BackgroundWork()
    ran: list[str] = []

    async def later() -> None:
        await asyncio.sleep(0.05)
        ran.append("later")

    async def work() -> None:
        ran.append("work")
        background.spawn(later(), "later")

    with start_after_reply() as start:
        background.spawn(work(), "w")
        start()
    await asyncio.sleep(0)
    await background.drain(grace_seconds=5)
    assert ran == ["work", "later"]
