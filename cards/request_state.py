"""What the cards of every request share: the step icons, the names of the states, the "working"
line and the banner of a failed request (the add's progress card and the actions' cards)."""

from __future__ import annotations

from microsoft_teams.cards import TextBlock

from cards.common import paragraph
from i18n import ENGLISH_WORDS, N_, Words
from services.models import ProvisioningRequest, RequestAction, RequestState, StepOutcome

ICONS = {
    StepOutcome.pending: "⏳",
    StepOutcome.done: "✅",
    StepOutcome.skipped: "☑️",
    StepOutcome.failed: "❌",
}

# What a request's state is called where a card shows it; translated where shown.
STATE_LABELS = {
    RequestState.draft: N_("Draft"),
    RequestState.queued: N_("Waiting to start"),
    RequestState.submitted: N_("Adding the user"),
    RequestState.user_added: N_("User added"),
    RequestState.awaiting_approval: N_("Waiting for a global admin"),
    RequestState.approved: N_("Approved"),
    RequestState.synced: N_("Synced"),
    RequestState.awaiting_admin_sign_in: N_("Waiting for a Global Admin sign-in"),
    RequestState.admin_signed_in: N_("Finishing after the Global Admin's sign-in"),
    RequestState.calling_enabled: N_("Calling enabled"),
    RequestState.calling_disabled: N_("Calling disabled"),
    RequestState.awaiting_portal: N_("Waiting for steps in the portal"),
    RequestState.done: N_("Done"),
    RequestState.failed: N_("Failed"),
    RequestState.rejected: N_("Rejected"),
    RequestState.expired: N_("Expired"),
    RequestState.cancelled: N_("Cancelled"),
}

# A partner's change, disable, enable or removal (services.models.APPROVED_FIRST).
APPROVED_BEFORE = N_("A global admin of {tenant} approves this before anything is done.")


def approved_before(tenant: str, words: Words = ENGLISH_WORDS) -> TextBlock:
    """The note on a partner's form or confirmation: nothing is done before a global admin approves."""
    return paragraph(words(APPROVED_BEFORE, tenant=tenant), subtle=True)


NOTHING_SENT = N_("Cancelled. Nothing was sent to the provisioning service.")
WORKING = N_("Working... this card updates when each step ends.")

NOT_RUN = "➖"


def did_not_work(request: ProvisioningRequest, words: Words = ENGLISH_WORDS) -> str:
    """The banner of a failed request, with its stored error in the reader's language."""
    error = request.error_text
    return words("**That did not work.** {error}", error=words(error) if error else "")


def undone_text(request: ProvisioningRequest, words: Words = ENGLISH_WORDS) -> str:
    """What a rejection or an expiry leaves: the user a partner's add put at the service is
    removed again (services/requests/cleanup.py), or nothing was done at all."""
    if request.action is RequestAction.add and request.steps.add_user is StepOutcome.done:
        return words(
            "{user} is removed from the provisioning service again and extension {extension} freed.",
            user=request.person,
            extension=str(request.values.get("extension") or ""),
        )
    return words("Nothing was changed.")


# The states in which a partner's request was turned down (by an admin, or by the clock).
TURNED_DOWN = frozenset({RequestState.rejected, RequestState.expired})
