"""The add-user conversation: form, review, provisioning with a progress card, retry and cancel.

The conversation's state is the persisted request (services/requests/), not a dialog stack:
every click carries the request id and version, is re-checked against the database and the
clicking user's role, and answers with the card that replaces the clicked one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from microsoft_teams.cards import AdaptiveCard

from cards.actions import action_confirm_card
from cards.add_user_form import add_user_form, form_values
from cards.common import (
    VERB_CANCEL,
    VERB_CONFIRM,
    VERB_DISMISS,
    VERB_EDIT,
    VERB_PORTAL_DONE,
    VERB_REFRESH,
    VERB_RETRY,
    VERB_START_FOR,
    VERB_SUBMIT_FORM,
)
from cards.enterprise_picker import dismissed_card, enterprise_picker_card
from cards.notice import notice_card
from cards.progress import cancelled_card, progress_card
from cards.review import review_card
from dialogs.card_updates import CoalescedCards
from dialogs.notice_texts import stored
from dialogs.notifications import Notifier
from dialogs.partner_updates import tell_partner_who_approves
from dialogs.ports import Background, Chat, Messenger, SignInParser
from dialogs.prefill import AddUserLine, carried, carried_line, prefill_draft
from dialogs.typeahead import Typeahead
from i18n import ENGLISH, ENGLISH_WORDS, N_, Words
from services import inbound
from services.errors import (
    DomainError,
    NotAuthorised,
    ProvisioningError,
    RequestNotFound,
    SignInLinkInvalid,
    StaleRequest,
)
from services.models import (
    WORKING_STATES,
    Actor,
    ProvisioningRequest,
    RequestAction,
    RequestKind,
    RequestState,
)
from services.provisioning.protocol import ProvisioningService
from services.requests import access
from services.requests.drafts import FormResult
from services.requests.service import RequestService

log = logging.getLogger(__name__)

CARD_ACTIONS = {
    VERB_SUBMIT_FORM,
    VERB_CONFIRM,
    VERB_EDIT,
    VERB_CANCEL,
    VERB_RETRY,
    VERB_REFRESH,
    VERB_START_FOR,
    VERB_DISMISS,
    VERB_PORTAL_DONE,
}

# Actions confirmed with one click (no form): their draft is a confirmation card.
CONFIRMED_ACTIONS = frozenset(
    {
        RequestAction.reset_password,
        RequestAction.disable_calling,
        RequestAction.enable_calling,
        RequestAction.remove,
    }
)

NOT_ALLOWED = N_("Not allowed")
DID_NOT_WORK = N_("That did not work")
BUTTON_NOT_KNOWN = N_("That button is not known. Type **help** to see what I can do.")
SIGN_IN_NOT_UNDERSTOOD = N_("Sign-in not understood")


@dataclass(frozen=True)
class SignInAnswer:
    """What the Global Admin sign-in callback answers: an HTTP status and a page for a person, in
    `language`."""

    status: int
    title: str
    message: str
    language: str = ENGLISH


class AddUserConversation:
    """The add-user conversation: a partner's enterprise picker, the form, the review, the progress
    card that updates in place, "Try again", cancel, and the Global Admin sign-in's callback. Its
    state is the persisted request (services/requests/); each click re-reads it."""

    def __init__(
        self,
        requests: RequestService,
        provisioning: ProvisioningService,
        messenger: Messenger,
        background: Background,
        notifier: Notifier,
        parse_sign_in: SignInParser,
    ) -> None:
        self._requests = requests
        self._parse_sign_in = parse_sign_in
        self._provisioning = provisioning
        self._messenger = messenger
        self._background = background
        self._notifier = notifier
        # The request's card updated in place: a step's update waits up to a second for the next;
        # where the work stops (done, failed, cancelled, waiting) it goes at once.
        self._progress = CoalescedCards(messenger, background)

    # -- starting ----------------------------------------------------------------------------

    async def start(
        self, chat: Chat, actor: Actor, tenant_id: str | None = None, prefill: AddUserLine | None = None
    ) -> None:
        """ "add user": a new draft and its form card, or the open one if there is one, filled in
        with a one-line add's values (`prefill`). A partner first picks which of its enterprises."""
        if access.may_pick_enterprise(actor) and tenant_id is None:
            draft = await self._requests.open_draft_of(actor)
            if draft is None:
                enterprises = await self._provisioning.enterprises_of(actor.tenant_id)
                picker = enterprise_picker_card(enterprises, words=chat.words, next_data=carried(prefill))
                await chat.send_card(picker)
                return
            tenant_id = draft.tenant_id
        try:
            request = await self._requests.open_draft_of(actor)
            if request is not None and (tenant_id is None or request.tenant_id == tenant_id):
                await chat.send_text(
                    chat.words(
                        "You already have a phone user in progress: here is its form again. "
                        "Type **cancel** to drop it."
                    )
                )
            else:
                request = await self._requests.start_draft(actor, tenant_id)
            options = await self._requests.form_options(request)
            request, errors = await prefill_draft(self._requests, self._provisioning, actor, request, prefill)
        except DomainError as exc:
            await chat.send_text(chat.words(exc.text))
            return
        card_ref = await chat.send_card(add_user_form(request, options, errors, words=chat.words))
        await self._requests.set_card_ref(request.request_id, card_ref)

    async def cancel_open(self, chat: Chat, actor: Actor) -> bool:
        """ "cancel" typed: drop the open draft. Returns False when there was nothing to cancel."""
        request = await self._requests.open_draft_of(actor)
        if request is None:
            return False
        request = await self._requests.cancel(actor, request.request_id)
        card_ref = await self._requests.card_ref(request.request_id)
        if card_ref:
            cancelled = partial(cancelled_card, request, words=chat.words)
            await self._progress.update(card_ref, cancelled, settled=True)
        return True

    # -- clicks --------------------------------------------------------------------------------

    async def on_card_action(
        self, chat: Chat, actor: Actor, verb: str, data: Mapping[str, Any]
    ) -> AdaptiveCard:
        """Handle one click; returns the card that replaces the clicked one, in the clicker's words."""
        words = chat.words
        if verb in (VERB_START_FOR, VERB_DISMISS):
            return await self._enterprise_chosen(chat, actor, verb, data)
        request_id = str(data.get("requestId") or "")
        version = inbound.card_int(data.get("version"))
        if not request_id or version is None:
            await self._requests.audit(
                actor,
                actor.tenant_id,
                request_id or None,
                "refused",
                None,
                None,
                f"malformed card data for {verb}",
            )
            return notice_card(
                words("This card is not valid"),
                words("Type **add user** to start again."),
                attention=True,
                words=words,
            )
        try:
            return await self._dispatch(chat, actor, verb, request_id, version, data)
        except StaleRequest as exc:
            return await self._current_card(actor, request_id, words(exc.text), words)
        except (NotAuthorised, RequestNotFound) as exc:
            return notice_card(NOT_ALLOWED, exc.text, attention=True, words=words)
        except DomainError as exc:
            return notice_card(DID_NOT_WORK, exc.text, attention=True, words=words)

    async def _enterprise_chosen(
        self, chat: Chat, actor: Actor, verb: str, data: Mapping[str, Any]
    ) -> AdaptiveCard:
        words = chat.words
        if verb == VERB_DISMISS:
            return dismissed_card(words=words)
        if not access.may_pick_enterprise(actor):
            await self._requests.audit(
                actor, actor.tenant_id, None, "refused", None, None, "pick enterprise: not a partner"
            )
            return notice_card(
                NOT_ALLOWED, words("Only partners pick an enterprise."), attention=True, words=words
            )
        enterprise = data.get("enterpriseId")
        enterprises = await self._provisioning.enterprises_of(actor.tenant_id)
        if not isinstance(enterprise, str) or not enterprise:
            return enterprise_picker_card(enterprises, words("Choose an enterprise."), words=words)
        try:
            request = await self._requests.start_draft(actor, enterprise)
        except NotAuthorised as exc:
            return enterprise_picker_card(enterprises, exc.text, words=words)
        except DomainError as exc:
            return notice_card(DID_NOT_WORK, exc.text, attention=True, words=words)
        clicked = chat.clicked_card_ref()
        if clicked:
            await self._requests.set_card_ref(request.request_id, clicked)
        line = carried_line(data)
        request, errors = await prefill_draft(self._requests, self._provisioning, actor, request, line)
        return add_user_form(request, await self._requests.form_options(request), errors, words=words)

    async def _dispatch(
        self,
        chat: Chat,
        actor: Actor,
        verb: str,
        request_id: str,
        version: int,
        data: Mapping[str, Any],
    ) -> AdaptiveCard:
        if not access.may_start_add(actor):
            # Roles are re-checked on every click: a user who lost the role can no longer act.
            await self._requests.audit(actor, actor.tenant_id, request_id, "refused", None, None, "no role")
            return notice_card(
                NOT_ALLOWED,
                chat.words("Only a global administrator or a managing partner can do that."),
                attention=True,
                words=chat.words,
            )
        card, request = await self._act(actor, chat.words, verb, request_id, version, data)
        clicked = chat.clicked_card_ref()
        if clicked and request is not None and access.is_requester(actor, request):
            # The clicked card becomes the request's progress card: only the requester's (an
            # approver's copy, or an unauthorised click, must not take the requester's updates).
            # Work started by the click waits until the answer is out (bot/background.py).
            await self._requests.set_card_ref(request.request_id, clicked)
        return card

    async def _act(
        self, actor: Actor, words: Words, verb: str, request_id: str, version: int, data: Mapping[str, Any]
    ) -> tuple[AdaptiveCard, ProvisioningRequest | None]:
        if verb == VERB_SUBMIT_FORM:
            values, card_errors = form_values(data)
            result = await self._requests.save_form(actor, request_id, version, values, card_errors)
            return _form_or_review(result, words), result.request
        if verb == VERB_EDIT:
            result = await self._requests.reopen_form(actor, request_id, version)
            return add_user_form(result.request, result.options, words=words), result.request
        if verb == VERB_CANCEL:
            request = await self._requests.cancel(actor, request_id, version)
            if request.kind is RequestKind.partner:
                self._notifier.wake()  # the other approvers' copies, and the partner
            return await self.card_for_viewer(actor, request, words), request
        if verb == VERB_CONFIRM:
            result = await self._requests.submit(actor, request_id, version)
            if result.request.state is RequestState.draft:
                return add_user_form(
                    result.request, result.options, result.errors, words=words
                ), result.request
            self._run_in_background(result.request, actor)
            return progress_card(result.request, words=words), result.request
        if verb == VERB_RETRY:
            request = await self._requests.retry(actor, request_id, version)
            self._run_in_background(request, actor)
            return await self.card_for_viewer(actor, request, words), request
        if verb == VERB_PORTAL_DONE:
            request = await self._requests.portal_steps_done(actor, request_id, version)
            self._run_in_background(request, actor)
            return await self.card_for_viewer(actor, request, words), request
        if verb == VERB_REFRESH:
            return await self._current_card(actor, request_id, None, words), None
        return notice_card(DID_NOT_WORK, BUTTON_NOT_KNOWN, attention=True, words=words), None

    async def _current_card(
        self, actor: Actor, request_id: str, note: str | None, words: Words
    ) -> AdaptiveCard:
        request = await self._requests.get_for(actor, request_id)
        if not access.is_requester(actor, request):
            return await self.card_for_viewer(actor, request, words)
        return await self.card_for(request, words, note)

    async def card_for_viewer(self, actor: Actor, request: ProvisioningRequest, words: Words) -> AdaptiveCard:
        """A global admin looking at a partner's request sees the approval card; others the progress."""
        if request.kind is RequestKind.partner and access.may_approve(actor, request):
            return await self._notifier.approval_card_for(request, words)
        return await self.card_for(request, words)

    async def card_for(
        self, request: ProvisioningRequest, words: Words, note: str | None = None
    ) -> AdaptiveCard:
        """The card of `request` as its requester sees it now (`note`: already in `words`)."""
        if request.state is RequestState.draft and request.action in CONFIRMED_ACTIONS:
            return action_confirm_card(request, words=words)
        if request.state is RequestState.draft:
            options = await self._requests.form_options(request)
            if request.values.get("reviewed"):
                return review_card(request, words=words)
            return add_user_form(request, options, {"form": note} if note else None, words=words)
        if request.state is RequestState.cancelled:
            return cancelled_card(request, words=words)
        return progress_card(request, words=words)

    # -- slow work -----------------------------------------------------------------------------

    def _run_in_background(self, request: ProvisioningRequest, actor: Actor | None = None) -> None:
        self._background.spawn(self.run(request.request_id, actor), name=f"provision-{request.short_id}")

    async def run(self, request_id: str, actor: Actor | None = None) -> None:
        """Run the pipeline; the requester's progress card follows its steps (dialogs/card_updates.py)."""

        await self._requests.run(request_id, self._show_progress, actor=actor)

    async def _show_progress(self, request: ProvisioningRequest) -> None:
        card_ref = await self._requests.card_ref(request.request_id)
        # The requester's card and messages, in the requester's words (whoever's click started the work).
        words: Words | None = None
        if card_ref:
            words = await self._notifier.words_of(request.requester_tenant_id, request.requester_id, card_ref)
            settled = request.state not in WORKING_STATES  # the pipeline stops here: shown at once
            await self._progress.update(
                card_ref, partial(progress_card, request, words=words), settled=settled
            )
        if request.kind is RequestKind.partner:
            self._notifier.wake()  # the approvers' cards and the partner's notices
            if request.state is RequestState.awaiting_approval and card_ref and words is not None:
                await tell_partner_who_approves(self._messenger, self._notifier, request, card_ref, words)

    async def admin_signed_in(
        self, query: Mapping[str, str], body: Any, browser: str = ENGLISH
    ) -> SignInAnswer:
        """The provisioning platform's callback after a Global Admin signed in (or the GA's browser
        landing on it): finish enabling calling and update the cards. The page is in the language
        of the tenant's Global Admins when the request is known and they all read one, else in
        `browser`'s (the browser's Accept-Language)."""
        words = Words(browser)
        try:
            result = self._parse_sign_in(query, body)
        except ProvisioningError as exc:
            return SignInAnswer(400, words(SIGN_IN_NOT_UNDERSTOOD), words(exc.text), words.language)
        if not result.state:
            return SignInAnswer(
                400,
                words(SIGN_IN_NOT_UNDERSTOOD),
                words(
                    "The sign-in result does not say which request it is for. Use the sign-in button on "
                    "the request's card in Teams."
                ),
                words.language,
            )
        try:
            request = await self._requests.complete_admin_sign_in(result.state, result)
        except SignInLinkInvalid as exc:
            return SignInAnswer(
                410 if exc.known else 404,
                words("This sign-in link cannot be used"),
                words(exc.text),
                words.language,
            )
        words = Words(await self._notifier.admins_language(request.tenant_id) or browser)
        names = {"upn": request.values.get("teams_user", ""), "tenant": request.tenant_name}
        if request.state in (RequestState.admin_signed_in, RequestState.calling_enabled, RequestState.done):
            if request.state is not RequestState.done:
                self._run_in_background(request)  # idempotent: a repeat finds it running or done
            return SignInAnswer(
                200,
                words("Signed in: calling is enabled"),
                words(
                    "Thank you. Calling is enabled for {upn} in {tenant} (request {request}); the card "
                    "in Teams shows it. You can close this window.",
                    request=request.short_id,
                    **names,
                ),
                words.language,
            )
        await self._show_progress(request)
        error = stored(words, request.error)
        return SignInAnswer(
            422,
            words("Calling was not enabled"),
            words(
                '{error} In Teams, click "Try again" on the request\'s card to get a new sign-in link.',
                error=error or words("The provisioning service did not accept the sign-in."),
            ),
            words.language,
        )

    async def resume_interrupted(self) -> int:
        """After a restart: continue every request whose pipeline was cut off."""
        pending = await self._requests.in_flight()
        for request in pending:
            self._run_in_background(request)
        return len(pending)

    async def search(
        self, actor: Actor, dataset: str, query: str, limit: int, words: Words = ENGLISH_WORDS
    ) -> list[tuple[str, str]]:
        """Teams' typeahead on the form and the enterprise picker (dialogs/typeahead.py)."""
        return await Typeahead(self._requests, self._provisioning).answer(actor, dataset, query, limit, words)


def _form_or_review(result: FormResult, words: Words) -> AdaptiveCard:
    if result.ready_for_review:
        return review_card(result.request, words=words)
    return add_user_form(
        result.request,
        result.options,
        result.errors,
        confirm_voicemail=result.confirm_voicemail,
        confirm_dial_plan=result.confirm_dial_plan,
        words=words,
    )
