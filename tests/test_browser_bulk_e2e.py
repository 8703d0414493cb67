"""Bulk add (issue 18) in Microsoft's local Teams client, driven in headless chromium by
e2e/bulk-flow.js, in English and in French.

As a new admin would, Ada Admin types `bulk add` to see what to send, then `bulk add` with a header
line and five rows on the next lines: one address has a typo (line 4) and one extension cannot be had
(line 6: in English 105 a second time, in French 101, which is Alex Wilber's). The report card says 3
ready and 2 problems, each with its line, before anything is sent; "Add 3 user(s)" turns that card
into the one progress card, whose counts go up every ~2 s until "Finished. 3 of 3 user(s) added.",
and the results come as CSV. Then she sends the two rows corrected and adds them too. In French she first types `langue`,
then `français` (the playground always says en-US), then `ajout en bloc` with a French header,
semicolon separated. The assertions are on what the cards show, in Ada's language: every expected
text is taken from the message catalog (i18n). Screenshots: test-output/browser/<test>/NN-<step>.png.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from i18n import ENGLISH, FRENCH, Words
from tests import test_browser_e2e as browser_e2e
from tests.test_browser_e2e import ROOT, Stack, assert_screenshots, running_stack, scenario

pytestmark = pytest.mark.browser

# The browser tests' fixture: node, chromium and the npm packages.
browser_tools = browser_e2e.browser_tools


@pytest.fixture
def stack(browser_tools: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Stack]:
    """The browser tests' bot and playground (tests/test_browser_e2e.py `stack`), the bot adding a
    batch's rows one at a time (BULK_CONCURRENCY=1) at 0.6 s per provisioning call: a row takes about
    1.4 s, so the card's updates every ~2 s show the counts going up (with the default eight at a time
    and 0.3 s, every row ends before the first update)."""
    env = shutil.which("env")
    assert env is not None, "coreutils' env"
    command = [env, "BULK_CONCURRENCY=1", "EMBEDDED_DELAY_SECONDS=0.6", sys.executable, str(ROOT / "app.py")]
    with running_stack(browser_tools, tmp_path, request, command) as running:
        yield running


TENANT = {"tenant": "Contoso"}
STEPS = [
    "help",
    *(
        f"{batch}-{step}"
        for batch in ("first", "fixed")
        for step in ("report", "progress", "finished", "results")
    ),
]
# English that must not show to Ada once she chose French.
ENGLISH_ONLY = (
    "Bulk add",
    "user(s)",
    "ready to add",
    "problem(s)",
    "Nothing has been sent",
    "Line ",
    "Fix those rows",
    "Add ",
    "Cancel",
    "Added:",
    "Working",
    "Finished",
    "Phone users",
    "The results",
    "Done",
    "result",
    "reason",
)


def plain(text: str) -> str:
    """A catalog text as the card shows it: markdown's bold marks are not text."""
    return text.replace("**", "")


def flat(text: str) -> str:
    """Text with its line breaks and runs of spaces as single spaces (where a card wraps is layout)."""
    return " ".join(text.split())


def run_flow(node: str, running: Stack, language: str) -> dict[str, dict[str, Any]]:
    """Runs the script to its end; every step it took, also kept in steps.json next to the screenshots."""
    options = {"url": running.playground_url, "out": str(running.out), "language": language}
    with scenario(node, "bulk-flow.js", options) as run:
        steps = run.steps()
    (running.out / "steps.json").write_text(json.dumps(steps, ensure_ascii=False, indent=1))
    return steps


def problem_lines(words: Words, text: str) -> list[str]:
    """The report's problem lines ("Line 4: ..."), as the card shows them."""
    prefix = words("Line {line}: {problem}", line="\0", problem="").split("\0")[0]
    return [line for line in text.splitlines() if re.match(re.escape(prefix) + r"\d", line)]


COUNTS = "Added: {done} · Working: {working} · Waiting: {waiting} · Failed: {failed} · Cancelled: {cancelled}"


def counts(words: Words, done: int | str, working: int = 0, waiting: int = 0) -> str:
    return words(COUNTS, done=done, working=working, waiting=waiting, failed=0, cancelled=0)


def counts_shown(words: Words, line: str) -> dict[str, int]:
    """The numbers of a counts line as the card shows it, in Ada's language."""
    names = ("done", "working", "waiting", "failed", "cancelled")
    pattern = re.escape(words(COUNTS, **{name: f"\0{name}\0" for name in names}))
    for name in names:
        pattern = pattern.replace(re.escape(f"\0{name}\0"), rf"(?P<{name}>\d+)")
    found = re.fullmatch(pattern, line)
    assert found, line
    return {name: int(number) for name, number in found.groupdict().items()}


def assert_counts_up(words: Words, updates: list[dict[str, Any]], total: int) -> None:
    """The counts the progress card showed, in order, from the click to Finished: none added at
    first, more at each update (at least one update in between), all of them at the end."""
    shown = [counts_shown(words, update["counts"]) for update in updates]
    assert shown[0]["done"] == 0, updates
    assert shown[-1] == {"done": total, "working": 0, "waiting": 0, "failed": 0, "cancelled": 0}, updates
    assert all(s["done"] + s["working"] + s["waiting"] == total for s in shown), updates
    added = [s["done"] for s in shown]
    assert added == sorted(added), f"the count of added users never goes down: {updates}"
    assert any(0 < n < total for n in added), f"an update while the rows were being added: {updates}"
    # Updated every ~2 s while rows run (the last one comes as soon as the last row ends).
    times = [update["at"] for update in updates[:-1]]
    assert all(later - earlier >= 1.0 for earlier, later in pairwise(times)), updates


@pytest.mark.parametrize("language", [ENGLISH, FRENCH], ids=["english", "french"])
def test_an_admin_bulk_adds_five_rows_fixes_the_two_with_problems_and_adds_them_in_the_teams_client(
    browser_tools: str, stack: Stack, language: str
):
    words = Words(language)
    steps = run_flow(browser_tools, stack, "fr" if language == FRENCH else "en")
    expected = (["french-chosen"] if language == FRENCH else []) + STEPS
    assert list(steps) == expected
    assert_screenshots(steps, stack.out)

    def text(name: str) -> str:
        return steps[name]["text"]

    def buttons(name: str) -> list[str]:
        return steps[name]["buttons"]

    # What to send: `bulk add` alone.
    help_card = text("help")
    assert help_card.startswith(words("Add many phone users at once"))
    assert words("bulk add") + "\n" in help_card, "the command to type, in Ada's language"
    assert buttons("help") == []

    # The report: 3 ready, 2 problems, each with its line, and nothing sent yet.
    report = text("first-report")
    assert report.startswith(words("Bulk add for {tenant}: the check", **TENANT))
    assert (
        words(
            "{ready} user(s) ready to add, {problems} problem(s). Nothing has been sent yet.",
            ready=3,
            problems=2,
        )
        in report
    )
    typo = words("{teams_user} is not a user of {tenant}.", teams_user="diego@contoso.exmaple", **TENANT)
    if language == FRENCH:
        taken = words(
            "Extension {extension} is already assigned to {holder}.",
            extension="101",
            holder="alex@contoso.example",
        )
    else:
        taken = words("Extension {extension} is in the file twice (line {first}).", extension="105", first=2)
    assert problem_lines(words, report) == [
        words("Line {line}: {problem}", line=4, problem=typo),
        words("Line {line}: {problem}", line=6, problem=taken),
    ]
    assert flat(
        plain(words("Fix those rows and send them again with **bulk add** to add them too."))
    ) in flat(report)
    assert buttons("first-report") == [words("Add {count} user(s)", count=3), words("Cancel")]

    # "Add 3 user(s)": the same card, now the progress card, until it says Finished.
    heading = words("Bulk add for {tenant}", **TENANT)
    progress = text("first-progress")
    assert progress.startswith(heading + "\n") and counts(words, "\0").split("\0")[0] in progress
    assert (
        words("Working... this card updates every few seconds.") in progress
        or plain(words("**Finished.** {done} of {total} user(s) added.", done=3, total=3)) in progress
    )
    finished = text("first-finished")
    assert finished.startswith(heading + "\n")
    assert counts(words, 3) in finished
    assert plain(words("**Finished.** {done} of {total} user(s) added.", done=3, total=3)) in finished
    assert "Line" not in finished and typo not in finished, (
        "the report's problems are not on the progress card"
    )
    assert buttons("first-finished") == [words("Phone users")]
    assert steps["first-finished"]["progressCards"] == 1, (
        "one card for the batch: the report became the progress"
    )
    assert steps["first-finished"]["cards"] == 3, "welcome, what to send, the batch's card: no card per row"
    assert steps["first-finished"]["seconds"] < 30
    assert_counts_up(words, steps["first-finished"]["updates"], total=3)

    # The results, as CSV to copy into Excel: the three rows added, with their lines.
    done = words("Done")
    header = ",".join(words(w) for w in ("line", "Teams user", "Extension", "result", "reason"))
    results = text("first-results")
    assert results.startswith(words("The results, as CSV to copy into Excel:"))
    assert [line for line in results.splitlines()[1:] if line.strip()] == [
        header,
        f"2,adele@contoso.example,105,{done},",
        f"3,isaiah@contoso.example,106,{done},",
        f"5,lynne@contoso.example,108,{done},",
    ]

    # The two rows corrected: both ready, no problem, added on a card of their own.
    fixed = text("fixed-report")
    assert fixed.startswith(words("Bulk add for {tenant}: the check", **TENANT))
    assert (
        words(
            "{ready} user(s) ready to add, {problems} problem(s). Nothing has been sent yet.",
            ready=2,
            problems=0,
        )
        in fixed
    )
    assert problem_lines(words, fixed) == []
    assert buttons("fixed-report") == [words("Add {count} user(s)", count=2), words("Cancel")]
    assert text("fixed-progress").startswith(heading + "\n")
    fixed_done = text("fixed-finished")
    assert counts(words, 2) in fixed_done
    assert plain(words("**Finished.** {done} of {total} user(s) added.", done=2, total=2)) in fixed_done
    assert buttons("fixed-finished") == [words("Phone users")]
    assert steps["fixed-finished"]["progressCards"] == 2 and steps["fixed-finished"]["cards"] == 4
    assert_counts_up(words, steps["fixed-finished"]["updates"], total=2)
    fixed_results = text("fixed-results")
    assert fixed_results.startswith(words("The results, as CSV to copy into Excel:"))
    assert f"2,diego@contoso.example,107,{done}," in fixed_results
    assert f"3,patti@contoso.example,109,{done}," in fixed_results
    assert "adele@" not in fixed_results, "the second batch's results only"

    if language == FRENCH:
        for name, step in steps.items():
            shown = step.get("text", "") + "\n" + "\n".join(step.get("buttons") or [])
            leftovers = [english for english in ENGLISH_ONLY if english in shown]
            assert not leftovers, (name, leftovers, shown)
