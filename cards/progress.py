"""The progress card: one card, updated in place, with each step's outcome and a summary."""

from __future__ import annotations

from microsoft_teams.cards import AdaptiveCard, CardElement

from cards.actions import action_progress_card
from cards.common import (
    VERB_CANCEL,
    VERB_EDIT,
    VERB_RETRY,
    banner,
    card,
    decision_line,
    execute,
    facts,
    heading,
    label_line,
    paragraph,
    request_data,
    sign_in_block,
)
from cards.request_state import (
    ICONS,
    NOT_RUN,
    NOTHING_SENT,
    STATE_LABELS,
    TURNED_DOWN,
    WORKING,
    did_not_work,
    undone_text,
)
from cards.review import request_facts
from i18n import ENGLISH_WORDS, Text, Words
from services.models import ProvisioningRequest, RequestAction, RequestKind, RequestState, StepOutcome

__all__ = ["STATE_LABELS", "WORKING", "cancelled_card", "did_not_work", "progress_card", "step_lines"]


def step_lines(request: ProvisioningRequest, words: Words = ENGLISH_WORDS) -> list[str]:
    s = request.steps
    # Once a request has stopped (failed, rejected, waiting for approval), a step that has not run
    # is "not run", not "running".
    stopped = request.state in (
        RequestState.failed,
        RequestState.rejected,
        RequestState.expired,
        RequestState.awaiting_approval,
        RequestState.cancelled,
    )

    def line(outcome: StepOutcome, step: str, note: str | Text) -> str:
        icon = NOT_RUN if stopped and outcome is StepOutcome.pending else ICONS[outcome]
        return f"{icon} " + (label_line(step, words(note), words) if note else step)

    upn = request.person
    return [
        line(
            s.add_user,
            words("Add {user} at the provisioning service", user=upn),
            s.text_of("add_user") if s.add_user is StepOutcome.failed else "",
        ),
        line(s.sync, words("Sync Teams users"), s.text_of("sync")),
        line(s.calling, words("Enable calling"), s.text_of("calling")),
    ]


def progress_card(request: ProvisioningRequest, words: Words = ENGLISH_WORDS) -> AdaptiveCard:
    if request.action is not RequestAction.add:
        return action_progress_card(request, words)
    upn = request.person
    extension = str(request.values.get("extension", ""))
    state = request.state
    body: list[CardElement] = [
        heading(words("Adding {user} (extension {extension})", user=upn, extension=extension))
    ]
    body.append(
        paragraph(
            words("Request {request} · {state}", request=request.short_id, state=words(STATE_LABELS[state])),
            subtle=True,
        )
    )
    if request.kind is RequestKind.partner and (request.decided_by or state in TURNED_DOWN):
        body.append(
            banner(
                f"**{decision_line(request, words)}**",
                "attention" if state in TURNED_DOWN else "good",
            )
        )
    body.append(paragraph("\n\n".join(step_lines(request, words))))
    actions = []
    data = request_data(request.request_id, request.version)
    if state is RequestState.done:
        body.append(
            banner(
                words(
                    "**Done.** {user} can make and receive Teams calls on extension {extension}.",
                    user=upn,
                    extension=extension,
                ),
                "good",
            )
        )
    elif state is RequestState.failed:
        body.append(banner(did_not_work(request, words), "attention"))
        if request.resume_state is not None:
            body.append(paragraph(words("Nothing you entered is lost: try again when ready."), subtle=True))
            actions.append(execute(words("Try again"), VERB_RETRY, data, style="positive"))
        if request.resume_state is RequestState.submitted:
            actions.append(execute(words("Edit"), VERB_EDIT, data))
            actions.append(execute(words("Cancel"), VERB_CANCEL, data))
    elif state is RequestState.awaiting_admin_sign_in:
        # The requester of an admin's own add is an admin of the tenant; a partner only waits.
        block, actions = sign_in_block(request, can_sign_in=request.kind is RequestKind.admin, words=words)
        body += block
    elif state is RequestState.awaiting_approval and request.kind is RequestKind.partner:
        body.append(
            paragraph(
                words(
                    "User added. Waiting for a global admin of {tenant} to enable calling.",
                    tenant=request.tenant_name,
                ),
            )
        )
    elif state in TURNED_DOWN:
        body.append(paragraph(undone_text(request, words), color="Attention"))
    elif state is RequestState.cancelled:
        body.append(paragraph(cancelled_text(request, words)))
    else:
        body.append(paragraph(words(WORKING), subtle=True))
    body.append(facts(request_facts(request, words)))
    return card(body, actions)


def cancelled_text(request: ProvisioningRequest, words: Words = ENGLISH_WORDS) -> str:
    if request.steps.add_user is StepOutcome.done:
        return words(
            "{note}. {user} stays added at the provisioning service; calling was not enabled.",
            # Who stopped it, as services/ wrote it (a Text, or the plain string of an old row).
            note=words(request.decision_note_text) if request.decision_note_text else words("Stopped"),
            user=request.person,
        )
    return words(NOTHING_SENT)


def cancelled_card(request: ProvisioningRequest, words: Words = ENGLISH_WORDS) -> AdaptiveCard:
    if request.steps.add_user is StepOutcome.done or request.action is not RequestAction.add:
        return progress_card(request, words)
    return card(
        [
            heading(words("Add user cancelled")),
            paragraph(words("Nothing was sent to the provisioning service."), subtle=True),
        ]
    )
