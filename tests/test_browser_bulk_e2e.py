"""Bulk add (issues 18 and 19) in Microsoft's local Teams client, driven in headless chromium by
e2e/bulk-flow.js, in English and in French.

As a new admin would, Ada Admin types `bulk add` to see what to send (the help card, with a box to
paste rows into and "Check the rows"), then `bulk add` with a header line and five rows on the next
lines in one message: one address has a typo (line 4) and one extension cannot be had (line 6: in
English 105 a second time, in French 101, which is Alex Wilber's). The report card says 3 ready and 2
problems, each with its line, before anything is sent; "Add 3 user(s)" turns that card into the one
progress card, whose counts (only those not zero) go up every ~2 s until "Finished. 3 of 3 user(s)
added.", still naming the two rows left out; the results come as CSV, every line with its result.
Then she corrects the two rows the other way the help card offers: `bulk add` alone again, the rows
pasted into the card's box, "Check the rows"; that card becomes the report, then the progress. So
both ways in are covered. In French she first types `langue`, then `français` (the playground always
says en-US), then `ajout en bloc` with a French header, semicolon separated. The assertions are on
what the cards show, in Ada's language: every expected text is taken from the message catalog (i18n).
Screenshots and steps.json: test-output/browser/<test>/.
"""

from __future__ import annotations

import csv
import io
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
from tests.test_browser_e2e import ROOT, Stack, assert_screenshots, running_stack, scenario, text_box

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
BATCH_STEPS = ("report", "progress", "finished", "results")
# The first batch typed in a message; the fixed rows pasted into a new help card's box.
STEPS = [
    "help",
    *(f"first-{step}" for step in BATCH_STEPS),
    "fixed-help",
    *(f"fixed-{step}" for step in BATCH_STEPS),
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
    """Runs the script to its end; every step it took (also kept in steps.json next to the screenshots)."""
    options = {"url": running.playground_url, "out": str(running.out), "language": language}
    with scenario(node, "bulk-flow.js", options) as run:
        return run.steps()


def csv_line(values: list[str]) -> str:
    """One row of CSV as the bot writes it (a value with a comma or a quote is quoted)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(values)
    return out.getvalue()


def problem_lines(words: Words, text: str) -> list[str]:
    """The report's problem lines ("Line 4: ..."), as the card shows them."""
    prefix = words("Line {line}: {problem}", line="\0", problem="").split("\0")[0]
    return [line for line in text.splitlines() if re.match(re.escape(prefix) + r"\d", line)]


# The counts of the progress card, each shown once it is not zero ("Added" always), joined by " · ".
COUNTS = {
    "done": "Added: {count}",
    "working": "Working: {count}",
    "waiting": "Waiting: {count}",
    "awaiting_approval": "Waiting for approval: {count}",
    "failed": "Failed: {count}",
    "cancelled": "Cancelled: {count}",
    "rejected": "Rejected: {count}",
    "expired": "Expired: {count}",
}


def counts_line(words: Words, **numbers: int) -> str:
    """The counts line as the card shows it: "Added" always, the others only when not zero."""
    shown = [
        words(template, count=numbers.get(name, 0))
        for name, template in COUNTS.items()
        if name == "done" or numbers.get(name, 0)
    ]
    return " · ".join(shown)


def counts_shown(words: Words, line: str) -> dict[str, int]:
    """The numbers of a counts line as the card shows it, in Ada's language (a count not shown is 0);
    fails on a part it does not know, on a count shown as zero (but Added) and on Added missing."""
    patterns = {
        name: re.compile(re.escape(words(template, count="\0")).replace(re.escape("\0"), r"(\d+)"))
        for name, template in COUNTS.items()
    }
    numbers = dict.fromkeys(COUNTS, 0)
    seen = []
    for part in line.split(" · "):
        matched = [(name, m) for name, p in patterns.items() if (m := p.fullmatch(part))]
        assert len(matched) == 1, (part, line)
        name, found = matched[0]
        numbers[name] = int(found.group(1))
        seen.append(name)
        assert numbers[name] > 0 or name == "done", f"a count of zero is not shown: {line}"
    assert seen and seen[0] == "done", line
    assert seen == [name for name in COUNTS if name in seen], f"the counts in their order: {line}"
    return numbers


def counts_of(text: str, words: Words) -> dict[str, int]:
    """The numbers of the counts line of a progress card's text."""
    prefix = words("Added: {count}", count="\0").split("\0")[0]
    lines = [line for line in text.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, text
    return counts_shown(words, lines[0])


def assert_counts_up(
    words: Words, updates: list[dict[str, Any]], total: int, *, between: bool = True
) -> None:
    """The counts the progress card showed, in order, from the click to Finished: none added at
    first, more at each update (with `between`, at least one update while rows were still being
    added: a batch of two may finish between two updates on a loaded machine), all at the end."""
    shown = [counts_shown(words, update["counts"]) for update in updates]
    assert shown[0]["done"] == 0, updates
    assert shown[-1] == dict(dict.fromkeys(COUNTS, 0), done=total), updates
    assert updates[-1]["counts"] == counts_line(words, done=total), "only Added once finished"
    assert all(s["done"] + s["working"] + s["waiting"] == total for s in shown), updates
    added = [s["done"] for s in shown]
    assert added == sorted(added), f"the count of added users never goes down: {updates}"
    if between:
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

    # What to send: `bulk add` alone. The rows typed after the command, or pasted into the card's box.
    help_card = text("help")
    assert help_card.startswith(words("Add many phone users at once"))
    assert words("bulk add") + "\n" in help_card, "the command to type, in Ada's language"
    assert buttons("help") == [words("Check the rows")]
    paste = words("Or paste the rows here (with the line naming the columns):")
    assert paste in help_card
    assert [(f["label"].startswith(paste), f["multiline"], f["value"]) for f in steps["help"]["fields"]] == [
        (True, True, "")
    ], steps["help"]["fields"]
    assert steps["first-report"]["how"] == "typed"

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
    problems = problem_lines(words, report)
    assert buttons("first-report") == [words("Add {count} user(s)", count=3), words("Cancel")]

    # "Add 3 user(s)": the same card, now the progress card, until it says Finished.
    heading = words("Bulk add for {tenant}", **TENANT)
    progress = text("first-progress")
    assert progress.startswith(heading + "\n")
    assert sum(counts_of(progress, words).values()) == 3, progress
    assert (
        words("Working... this card updates every few seconds.") in progress
        or plain(words("**Finished.** {done} of {total} user(s) added.", done=3, total=3)) in progress
    )
    finished = text("first-finished")
    assert finished.startswith(heading + "\n")
    assert counts_line(words, done=3) in finished.splitlines(), "only Added once finished"
    assert plain(words("**Finished.** {done} of {total} user(s) added.", done=3, total=3)) in finished
    # The rows the check left out stay named on the batch's card, to be fixed and sent again.
    left_out = words(
        "Not in this batch, from the check: fix these rows and send them again with **bulk add**."
    )
    assert flat(plain(left_out)) in flat(finished), finished
    assert problem_lines(words, finished) == problems
    assert buttons("first-finished") == [words("Phone users")]
    assert steps["first-finished"]["progressCards"] == 1, (
        "one card for the batch: the report became the progress"
    )
    assert steps["first-finished"]["cards"] == 3, "welcome, what to send, the batch's card: no card per row"
    assert steps["first-finished"]["seconds"] < 30
    assert_counts_up(words, steps["first-finished"]["updates"], total=3)

    # The results, as CSV to copy into Excel: every line of the file, the three rows added and the two
    # the check left out, with why.
    done, not_added = words("Done"), words("Not added")
    header = ",".join(words(w) for w in ("line", "Teams user", "Extension", "result", "reason"))
    results = text("first-results")
    assert results.startswith(words("The results, as CSV to copy into Excel:"))
    assert [line for line in results.splitlines()[1:] if line.strip()] == [
        header,
        f"2,adele@contoso.example,105,{done},",
        f"3,isaiah@contoso.example,106,{done},",
        csv_line(["4", "diego@contoso.exmaple", "107", not_added, typo]),
        f"5,lynne@contoso.example,108,{done},",
        csv_line(["6", "patti@contoso.example", "101" if language == FRENCH else "105", not_added, taken]),
    ]

    # The two rows corrected, pasted into the box of a new help card ("Check the rows"): that card
    # becomes the report (no new card), both ready, no problem, then the progress.
    pasted = text_box(steps["fixed-help"]["fields"], paste)
    columns = (
        "utilisateur_teams;poste;route_vocale" if language == FRENCH else "teams_user,extension,voice_route"
    )
    separator = ";" if language == FRENCH else ","
    assert pasted["value"].splitlines() == [
        columns,
        separator.join(["diego@contoso.example", "107", "CA Central"]),
        separator.join(["patti@contoso.example", "109", "CA Central"]),
    ], pasted
    assert buttons("fixed-help") == [words("Check the rows")]
    assert steps["fixed-report"]["how"] == "pasted" and steps["fixed-report"]["newCards"] == 0
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
    assert counts_line(words, done=2) in fixed_done.splitlines()
    assert flat(plain(left_out)) not in flat(fixed_done) and problem_lines(words, fixed_done) == []
    assert plain(words("**Finished.** {done} of {total} user(s) added.", done=2, total=2)) in fixed_done
    assert buttons("fixed-finished") == [words("Phone users")]
    assert steps["fixed-finished"]["progressCards"] == 2, "the first batch's card and this one"
    assert steps["fixed-finished"]["cards"] == 4, (
        "welcome, what to send, the first batch, the second help card"
    )
    assert_counts_up(words, steps["fixed-finished"]["updates"], total=2, between=False)
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
