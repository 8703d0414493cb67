"""What a partner reads when their request moves, and what a global admin reads when a request
waits for them (reminders, the escalation): the texts of the outbox's notices, in the reader's words."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cards.actions import action_title
from cards.common import decision_line
from cards.progress import STATE_LABELS
from i18n import ENGLISH_WORDS, N_, Words
from services.models import ProvisioningRequest, RequestAction, RequestState
from services.requests.batch_approvals import BatchApproval
from services.requests.decisions import FOLLOW_UPS


def requester_text(
    request: ProvisioningRequest,
    event: str,
    words: Words = ENGLISH_WORDS,
    payload: Mapping[str, Any] | None = None,
) -> str:
    """What the requester (a partner) hears when their request moves, in their words."""
    upn = request.person
    ext = request.values.get("extension", "")
    names = {
        "upn": upn,
        "tenant": request.tenant_name,
        "request": request.short_id,
        "admin": request.decided_by or "",
    }
    about = words(ABOUT[request.action], **names)
    if event == "unreachable":
        return words(
            "The approval card for {about} did not reach {admin}: their Teams refuses the Phone "
            "Connector bot (it was removed or blocked). Ask them to add the app in Teams again; the "
            "card reaches them as soon as they do. The other global admins of {tenant} have it.",
            about=about,
            admin=str((payload or {}).get("admin") or ""),
            tenant=request.tenant_name,
        )
    if request.action is not RequestAction.add and event in (
        "approved",
        "done",
        "rejected",
        "expired",
        "escalated",
        "failed",
        "stopped",
    ):
        return _action_text(request, event, about, words)
    if event == "portal":
        return words(
            "{about} waits for steps in the portal by a global admin of {tenant}: they have them on "
            "their approval card. You will hear from me when it is done.",
            about=about,
            tenant=request.tenant_name,
        )
    if event == "approved":
        return words(
            "{admin} approved {about}. Syncing and enabling calling now.", admin=names["admin"], about=about
        )
    if event == "done":
        return words(
            "Done: {upn} in {tenant} can now make and receive Teams calls on extension {extension} "
            "(request {request}, approved by {admin}).",
            extension=ext,
            **names,
        )
    if event == "rejected":
        return words(
            "{admin} rejected {about}. Reason: {reason}. {upn} is removed from the provisioning service "
            "again and extension {extension} freed.",
            admin=names["admin"],
            about=about,
            reason=stored(words, request.decision_note),
            upn=upn,
            extension=ext,
        )
    if event == "expired":
        return words(
            "{about} expired: no global admin of {tenant} approved or rejected it in time. {upn} is "
            "removed from the provisioning service again and extension {extension} freed; ask again "
            "when they are available.",
            about=about,
            tenant=request.tenant_name,
            upn=upn,
            extension=ext,
        )
    if event == "escalated" and request.state is RequestState.awaiting_admin_sign_in:
        return words(
            "No Global Admin of {tenant} has signed in to finish {about} after two reminders: all of "
            "them were told again. Calling stays off until one does; you may want to contact them.",
            tenant=request.tenant_name,
            about=about,
        )
    if event == "escalated":
        return words(
            "No global admin of {tenant} has answered {about} after two reminders: all of them were "
            "told again. If nobody decides, the request expires and {upn} is removed from the "
            "provisioning service again; you may want to contact them.",
            tenant=request.tenant_name,
            about=about,
            upn=upn,
        )
    if event == "failed":
        return words(
            "Enabling calling for {upn} in {tenant} did not work: {error} A global admin of {tenant} "
            "can try again from the approval card (request {request}).",
            error=stored(words, request.error),
            **names,
        )
    if event == "stopped":
        note = stored(words, request.decision_note) or words("Stopped")
        return words(
            "{note}: {about}. {upn} stays added at the provisioning service, without calling.",
            note=note,
            about=about,
            upn=upn,
        )
    if event == "sign_in_needed":
        return words(
            "{upn} is added and synced, but {tenant} has not allowed management by the service "
            "provider: calling is enabled once a Global Admin of {tenant} signs in from the approval "
            "card (request {request}). You will hear from me when it is done.",
            **names,
        )
    if event == "reminded" and request.state is RequestState.awaiting_admin_sign_in:
        return words(
            "No Global Admin of {tenant} has signed in yet to finish {about}. We reminded them; you "
            "may want to contact them too.",
            tenant=request.tenant_name,
            about=about,
        )
    if event == "reminded":
        return words(
            "No global admin of {tenant} has answered {about} yet. We reminded them; you may want to "
            "contact them too.",
            tenant=request.tenant_name,
            about=about,
        )
    state = decision_line(request, words=words) or words(STATE_LABELS[request.state])
    return words("Update on {about}: {state}.", about=about, state=state)


# What a partner's request is, in the partner's notices ("your request 1a2b3c4d to remove ...").
ABOUT = {
    RequestAction.add: N_("your request {request} to add {upn} to {tenant}"),
    RequestAction.change: N_("your request {request} to change {upn} in {tenant}"),
    RequestAction.reset_password: N_(
        "your request {request} for a new device password for {upn} in {tenant}"
    ),
    RequestAction.disable_calling: N_("your request {request} to disable calling for {upn} in {tenant}"),
    RequestAction.enable_calling: N_("your request {request} to enable calling for {upn} in {tenant}"),
    RequestAction.remove: N_("your request {request} to remove {upn} from {tenant}"),
}


def _action_text(request: ProvisioningRequest, event: str, about: str, words: Words) -> str:
    """A partner's change, new password, disable, enable or removal moved (an add has its own words)."""
    admin = request.decided_by or ""
    if event == "approved":
        return words("{admin} approved {about}. Working on it now.", admin=admin, about=about)
    if event == "done" and admin:
        return words("Done: {about} (approved by {admin}).", about=about, admin=admin)
    if event == "done":
        return words("Done: {about}.", about=about)
    if event == "rejected":
        return words(
            "{admin} rejected {about}. Reason: {reason}. Nothing was changed.",
            admin=admin,
            about=about,
            reason=stored(words, request.decision_note),
        )
    if event == "expired":
        return words(
            "{about} expired: no global admin of {tenant} approved or rejected it in time. Nothing was "
            "changed.",
            about=about,
            tenant=request.tenant_name,
        )
    if event == "escalated":
        return words(
            "No global admin of {tenant} has answered {about} after two reminders: all of them were "
            "told again. If nobody decides, the request expires; you may want to contact them.",
            tenant=request.tenant_name,
            about=about,
        )
    if event == "failed":
        return words(
            "{about} did not work: {error} A global admin of {tenant} can try again from the approval card.",
            about=about,
            error=stored(words, request.error),
            tenant=request.tenant_name,
        )
    note = stored(words, request.decision_note) or words("Stopped")
    return words("{note}: {about}. Nothing more was changed.", note=note, about=about)


def stored(words: Words, text: str | None) -> str:
    """A text the database keeps (an error, a decision's note): a `Text` in `words`, data as it is."""
    return words(text) if text else ""


def reminder_text(request: ProvisioningRequest, words: Words = ENGLISH_WORDS) -> str:
    """The reminder a global admin gets when a request has waited for them too long, in their words."""
    names = {
        "requester": request.requester_name,
        "request": request.short_id,
        "upn": request.person,
        "tenant": request.tenant_name,
    }
    if request.reminders >= FOLLOW_UPS and request.state is RequestState.awaiting_admin_sign_in:
        return words(
            "Escalation: {requester}'s request {request} to add {upn} was approved, but no Global Admin "
            "of {tenant} has signed in since {time}, after two reminders: calling stays off until one "
            "does. Type **pending** to sign in from its card, or stop it there.",
            time=words.when(request.updated_at),
            **names,
        )
    if request.reminders >= FOLLOW_UPS:
        return words(
            "Escalation: {requester}'s request {request} ({action}) has waited for a global admin of "
            "{tenant} since {time}, after two reminders. If nobody decides, it expires. Type "
            "**pending** to see it.",
            action=action_title(request, words)
            if request.action is not RequestAction.add
            else request.values.get("teams_user", ""),
            time=words.when(request.updated_at),
            **names,
        )
    if request.action is not RequestAction.add and request.state is RequestState.awaiting_approval:
        return words(
            "Reminder: {requester}'s request {request} ({action}) is still waiting for your approval. "
            "Type **pending** to see it.",
            action=action_title(request, words),
            **names,
        )
    if request.state is RequestState.awaiting_admin_sign_in:
        return words(
            "Reminder: {requester}'s request {request} to add {upn} as a phone user was approved, but "
            "calling is enabled only once a Global Admin of {tenant} signs in. Type **pending** to "
            "find it and sign in from its card (click **Get a new sign-in link** first if the link "
            "has expired).",
            **names,
        )
    return words(
        "Reminder: {requester}'s request {request} to add {upn} as a phone user is still waiting "
        "for your approval. Type **pending** to see it.",
        **names,
    )


def batch_requester_text(
    approval: BatchApproval,
    event: str,
    words: Words = ENGLISH_WORDS,
    payload: Mapping[str, Any] | None = None,
) -> str:
    """What a partner hears when a global admin decides its bulk add (or nobody does), once per batch."""
    count = int((payload or {}).get("count") or 0)
    names = {"tenant": approval.tenant_name, "admin": approval.decided_by or "", "count": count}
    if event == "approved":
        return words(
            "{admin} approved your bulk add for {tenant}: Teams users are synced and calling is enabled "
            "for its {count} user(s) now; its card follows, and the results come when it ends.",
            **names,
        )
    if event == "rejected":
        return words(
            "{admin} rejected your bulk add for {tenant}: {reason}. Its {count} user(s) are removed from "
            "the service again, and their extensions freed.",
            reason=approval.decision_note or "",
            **names,
        )
    return words(
        "Your bulk add for {tenant} expired: no global admin decided in time. Its {count} user(s) are "
        "removed from the service again, and their extensions freed.",
        **names,
    )
