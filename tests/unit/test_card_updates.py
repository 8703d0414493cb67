"""A card's updates coalesced (issue 22): a step's at the window's end, the latest; the end state at
once; none that a newer one replaced."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from microsoft_teams.cards import AdaptiveCard, TextBlock

from dialogs.card_updates import CoalescedCards

WINDOW = 0.2


class Sent:
    """The messenger's updates, in order, as (activity id, the card's text)."""

    def __init__(self, fail: bool = False) -> None:
        self.updates: list[tuple[str, str]] = []
        self.fail = fail

    async def update(self, card_ref: dict[str, Any], card: AdaptiveCard) -> None:
        if self.fail:
            raise RuntimeError("the connector said no")
        self.updates.append((card_ref["activity_id"], card.body[0].text))


class Tasks:
    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, work: Coroutine[Any, Any, Any], name: str) -> None:
        self.tasks.add(asyncio.get_running_loop().create_task(work, name=name))

    async def settle(self) -> None:
        while pending := {t for t in self.tasks if not t.done()}:
            await asyncio.wait(pending)


def ref(activity_id: str, conversation: str = "a:1") -> dict[str, Any]:
    return {"conversation": {"conversation": {"id": conversation}}, "activity_id": activity_id}


def card(text: str) -> Callable[[], AdaptiveCard]:
    """The card as the coalescer takes it: made when it is sent."""
    return lambda: AdaptiveCard(body=[TextBlock(text=text)])


async def test_steps_within_the_window_cost_one_send_the_end_state_at_once():
    sent, tasks = Sent(), Tasks()
    cards = CoalescedCards(sent, tasks, window=WINDOW)
    for step in ("Adding", "Syncing", "Enabling calling"):
        await cards.update(ref("m1"), card(step), settled=False)
    assert sent.updates == [], "a step's update waits for the next"
    await cards.update(ref("m1"), card("Done."), settled=True)
    assert sent.updates == [("m1", "Done.")], "the end state goes at once"
    await tasks.settle()
    assert sent.updates == [("m1", "Done.")], "what it replaced is never sent"
    assert len(cards) == 0, "a card's window is forgotten once it has ended"


async def test_a_slow_step_s_update_goes_at_the_window_s_end_the_latest_one():
    sent, tasks = Sent(), Tasks()
    cards = CoalescedCards(sent, tasks, window=WINDOW)
    await cards.update(ref("m1"), card("Adding"), settled=False)
    await cards.update(ref("m1"), card("Syncing"), settled=False)
    await tasks.settle()
    assert sent.updates == [("m1", "Syncing")]
    await cards.update(ref("m1"), card("Enabling calling"), settled=False)  # a window of its own
    await tasks.settle()
    await cards.update(ref("m1"), card("Done."), settled=True)
    assert [text for _, text in sent.updates] == ["Syncing", "Enabling calling", "Done."]
    assert len(cards) == 0


async def test_cards_do_not_wait_for_each_other():
    sent, tasks = Sent(), Tasks()
    cards = CoalescedCards(sent, tasks, window=WINDOW)
    await cards.update(ref("m1"), card("one: Adding"), settled=False)
    await cards.update(ref("m2"), card("two: Adding"), settled=False)
    await cards.update(ref("m1", conversation="a:2"), card("three: Adding"), settled=False)  # another chat
    await cards.update(ref("m2"), card("two: Done."), settled=True)
    assert sent.updates == [("m2", "two: Done.")]
    await tasks.settle()
    assert sorted(text for _, text in sent.updates) == ["one: Adding", "three: Adding", "two: Done."]


async def test_a_lost_update_is_logged_not_raised(caplog):
    sent, tasks = Sent(fail=True), Tasks()
    cards = CoalescedCards(sent, tasks, window=WINDOW)
    await cards.update(ref("m1"), card("Adding"), settled=False)
    await tasks.settle()
    await cards.update(ref("m1"), card("Done."), settled=True)
    assert sum("could not update a card in place" in r.message for r in caplog.records) == 2
    assert len(cards) == 0


async def test_a_replaced_card_is_never_made():
    sent, tasks = Sent(), Tasks()
    cards = CoalescedCards(sent, tasks, window=WINDOW)
    made: list[str] = []

    def making(text: str) -> Callable[[], AdaptiveCard]:
        def make() -> AdaptiveCard:
            made.append(text)
            return AdaptiveCard(body=[TextBlock(text=text)])

        return make

    for step in ("Adding", "Syncing", "Enabling calling"):
        await cards.update(ref("m1"), making(step), settled=False)
    await tasks.settle()
    await cards.update(ref("m1"), making("Done."), settled=True)
    assert made == ["Enabling calling", "Done."]
