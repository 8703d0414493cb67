"""The actions on one phone user (issue 16) in Microsoft's local Teams client, driven in headless
chromium by e2e/phone-users-flow.js, in English and in French.

As a new admin would, Ada Admin types `phone users`, opens Alex Wilber and changes his extension to
106, resets his device password, disables and enables his calling, removes Megan Bowen (extension 100
becomes free) and adds Adele Vance on extension 100; each card updates in place until it says Done.
Then Pat Partner (Northwind Voice, played through the playground's API) asks to remove Alex, and Ada
approves it on the approval card, which updates to Done. The assertions are on what the cards show,
in Ada's language: every expected text is taken from the message catalog (i18n), so the French
checked is the catalog's. Screenshots: test-output/browser/<test>/NN-<step>.png.
"""

from __future__ import annotations

from typing import Any

import pytest

from i18n import ENGLISH, FRENCH, Words
from tests import test_browser_e2e as browser_e2e
from tests.test_browser_e2e import (
    Stack,
    assert_screenshots,
    fact,
    free_extensions,
    scenario,
    text_box,
)

pytestmark = pytest.mark.browser

# The browser tests' fixtures: the bot (embedded demo world) and the playground in front of it.
browser_tools = browser_e2e.browser_tools
stack = browser_e2e.stack

ALEX, MEGAN = "Alex Wilber", "Megan Bowen"
ALEX_UPN, MEGAN_UPN, ADELE_UPN = "alex@contoso.example", "megan@contoso.example", "adele@contoso.example"

STEPS = [
    "change-list",
    "change-user",
    "change-form",
    "change-review",
    "change-done",
    *(
        f"{action}-{step}"
        for action in ("reset", "disable", "enable", "remove")
        for step in ("list", "user", "confirm", "done")
    ),
    "add-form",
    "add-review",
    "add-done",
    "partner-asked",
    "approval-card",
    "approved-done",
    "partner-side",
    "final-list",
]
# English that must not show on Ada's cards once she chose French (Pat's side stays English).
ENGLISH_ONLY = (
    "Done.",
    "Phone users of",
    "Phone user of",
    "Change user",
    "Calling is",
    "Approve",
    "Remove",
    "Reset",
)
PARTNERS_SIDE = ("partner-asked", "partner-side")


def plain(text: str) -> str:
    """A catalog text as the card shows it: markdown's bold marks are not text."""
    return text.replace("**", "")


def run_flow(node: str, running: Stack, language: str) -> dict[str, dict[str, Any]]:
    """Runs the script to its end; every step it took (also kept in steps.json next to the screenshots)."""
    options = {"url": running.playground_url, "out": str(running.out), "language": language}
    with scenario(node, "phone-users-flow.js", options) as run:
        return run.steps()


@pytest.mark.parametrize("language", [ENGLISH, FRENCH], ids=["english", "french"])
def test_an_admin_acts_on_phone_users_and_approves_a_partners_removal_in_the_teams_client(
    browser_tools: str, stack: Stack, language: str
):
    """The playground's client always says en-US: in French, Ada types `langue`, then `français`,
    as a person would, and everything after is French."""
    words = Words(language)
    steps = run_flow(browser_tools, stack, "fr" if language == FRENCH else "en")
    expected = (["french-chosen"] if language == FRENCH else []) + STEPS
    assert list(steps) == expected
    assert_screenshots(steps, stack.out)

    def text(name: str) -> str:
        return steps[name]["text"]

    def buttons(name: str) -> list[str]:
        return steps[name]["buttons"]

    tenant = {"tenant": "Contoso"}
    user_buttons = [
        words("Change"),
        words("Reset device password"),
        words("Disable calling"),
        words("Remove"),
    ]

    # The list, and Alex's card with what can be done to him.
    listing = text("change-list")
    assert words("Phone users of {tenant}", **tenant) in listing
    assert ALEX_UPN in listing and MEGAN_UPN in listing
    assert words("Extension {extension}", extension="101") in listing
    assert buttons("change-list") == [words("Search"), words("Open"), words("Open")]
    alex = text("change-user")
    assert alex.startswith(ALEX) and words("Phone user of {tenant}", **tenant) in alex
    assert fact(alex, words("Extension"), "101") and fact(alex, words("State"), words("Calling on"))
    assert buttons("change-user") == [*user_buttons, words("Back to the list")]

    # Change: the add form, prefilled, then a review of what changes, then Done on the same card.
    assert words("Change {name} in {tenant}", name=ALEX, **tenant) in text("change-form")
    assert steps["change-form"]["extension"] == "101", "the form is prefilled with his extension"
    change_form = steps["change-form"]
    assert text_box(change_form["fields"], words("SIP user (PBX extension)"))["value"] == "101"
    assert text_box(change_form["fields"], words("Phone number"))["value"] == "101"
    # The SIP authentication ID is shown, derived from the extension, not asked for (issue 19).
    assert fact(change_form["text"], words("Device: SIP authentication ID"), "101t")
    assert not [f for f in change_form["fields"] if words("SIP authentication ID") in f["label"]]
    assert "portal" not in change_form["text"].lower()
    review = text("change-review")
    assert review.startswith(words("Check and change"))
    assert fact(review, words("SIP user"), "101 → 106") and fact(review, words("Phone number"), "106")
    assert fact(review, words("SIP authentication ID"), "106t")
    assert fact(review, words("Device password"), words("unchanged"))
    assert buttons("change-review") == [words("Change user"), words("Edit"), words("Cancel")]
    done = text("change-done")
    assert plain(words("**Done.** {name} now has extension {extension}.", name=ALEX, extension="106")) in done
    assert "✅ " + words("Sync Teams users") in done and "⏳" not in done and "❌" not in done
    assert words("Extension {extension}", extension="106") in text("reset-list")

    # Reset device password, Disable calling, Enable calling: a confirmation each, then Done.
    assert text("reset-confirm").startswith(words("New device password for {name}", name=ALEX) + "?")
    what = words(
        "A new device password (8 letters and digits) is generated and sent straight to the PBX side for "
        "{name}'s SIP device. Nobody sees it and the bot does not keep it.",
        name=ALEX,
    )
    assert " ".join(what.split()) in " ".join(text("reset-confirm").split())
    assert buttons("reset-confirm") == [words("Reset the device password"), words("Cancel")]
    reset_done = plain(
        words(
            "**Done.** {name}'s SIP device has a new password; nobody has seen it. Their device "
            "registers with it from now on.",
            name=ALEX,
        )
    )
    assert " ".join(reset_done.split()) in " ".join(text("reset-done").split())

    assert text("disable-confirm").startswith(words("Disable calling for {name}", name=ALEX) + "?")
    assert buttons("disable-confirm") == [words("Disable calling"), words("Cancel")]
    assert plain(words("**Done.** Calling is disabled for {name}.", name=ALEX)) in text("disable-done")

    assert fact(text("enable-user"), words("State"), words("Calling off"))
    assert buttons("enable-user") == [
        words("Change"),
        words("Reset device password"),
        words("Enable calling"),
        words("Remove"),
        words("Back to the list"),
    ]
    assert text("enable-confirm").startswith(words("Enable calling for {name}", name=ALEX) + "?")
    assert buttons("enable-confirm") == [words("Enable calling"), words("Cancel")]
    assert plain(words("**Done.** Calling is enabled for {name}.", name=ALEX)) in text("enable-done")
    for name in ("change-done", "reset-done", "disable-done", "enable-done"):
        assert buttons(name) == [words("Phone users")], f"{name}: only the way back to the list once done"

    # Remove Megan: extension 100 becomes free, and Adele is added on it.
    assert fact(text("remove-user"), words("Extension"), "100")
    removing = text("remove-confirm")
    assert removing.startswith(words("Remove {name}", name=MEGAN) + "?")
    assert buttons("remove-confirm") == [words("Remove"), words("Cancel")]
    removed = plain(
        words(
            "**Done.** {name} is removed and extension {extension} is free. Remove their Teams Phone "
            "licence in the Microsoft 365 admin center if they no longer need it.",
            name=MEGAN,
            extension="100",
        )
    )
    assert " ".join(removed.split()) in " ".join(text("remove-done").split())
    # The add form after the removal: 100 (Megan's) and 101 (Alex's before the change) are free again,
    # 106 (Alex's now) is not, and the extension's placeholder is the first free one.
    add_form = steps["add-form"]
    free = free_extensions(words, add_form["text"])
    assert free[:2] == ["100", "101"] and "106" not in free, add_form["text"]
    extension = text_box(add_form["fields"], words("SIP user (PBX extension)"))
    assert extension["placeholder"] == words("e.g. {extension}", extension="100"), extension
    assert fact(
        add_form["text"],
        words("Device: SIP authentication ID"),
        words("The extension followed by {suffix}, e.g. {example}", suffix="t", example="100t"),
    )
    add_review = text("add-review")
    assert fact(add_review, words("SIP user"), "100")
    assert fact(add_review, words("Teams user"), f"Adele Vance, {ADELE_UPN}")
    assert fact(add_review, words("SIP authentication ID"), "100t")
    added = plain(
        words(
            "**Done.** {user} can make and receive Teams calls on extension {extension}.",
            user=f"Adele Vance, {ADELE_UPN}",
            extension="100",
        )
    )
    assert added in text("add-done")

    # Pat's removal of Alex: he is told it waits for an admin; Ada's approval card, then Done.
    partner = steps["partner-asked"]["partner"]
    assert "A global admin of Contoso approves this before anything is done." in partner["confirm"]
    assert "Request " in partner["told"] and "an approval card went to Ada Admin" in partner["told"]
    assert "Waiting for a global admin of Contoso to approve it." in text("partner-asked")

    approval = text("approval-card")
    heading = words("{action} ({tenant})", action=words("Remove {name}", name=ALEX), **tenant)
    assert approval.startswith(heading)
    asked = words(
        "{requester} ({organization}) asked for this ({time}).",
        requester="Pat Partner",
        organization="Northwind Voice",
        time="|",
    ).split("|")[0]
    assert asked in approval and fact(approval, words("Extension"), "106")
    assert buttons("approval-card") == [words("Approve"), words("Reject")]
    assert steps["approval-card"]["approvalCards"] == 1, "Ada got one approval card"

    decided = text("approved-done")
    assert decided.startswith(words("{label}: {detail}", label=words("Done"), detail=heading)), (
        "the same card, updated in place, its heading saying it is done"
    )
    assert words("Approved by {name} at {time}", name="Ada Admin", time="|").split("|")[0] in decided
    removed_alex = plain(
        words(
            "**Done.** {name} is removed and extension {extension} is free. Remove their Teams Phone "
            "licence in the Microsoft 365 admin center if they no longer need it.",
            name=ALEX,
            extension="106",
        )
    )
    assert " ".join(removed_alex.split()) in " ".join(decided.split())
    assert buttons("approved-done") == [], "no Approve or Reject once decided"

    pat = steps["partner-side"]
    assert (
        "Approved by Ada Admin" in pat["text"]
        and "Alex Wilber is removed and extension 106 is free." in pat["text"]
    )
    assert "Ada Admin approved your request" in pat["told"][0]
    assert "Done: your request" in pat["told"][1] and "(approved by Ada Admin)" in pat["told"][1]

    final = text("final-list")
    assert "Adele Vance" in final and words("Extension {extension}", extension="100") in final
    assert ALEX not in final and MEGAN not in final

    if language == FRENCH:
        for name, step in steps.items():
            if name in PARTNERS_SIDE:
                continue
            shown = step.get("text", "") + "\n" + "\n".join(step.get("buttons") or [])
            leftovers = [english for english in ENGLISH_ONLY if english in shown]
            assert not leftovers, (name, leftovers, shown)
