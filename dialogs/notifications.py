"""Delivers the outbox: approval cards, updates of every approver's copy, notices to partners,
reminders. Each notice is rendered when it is delivered, so it always shows the current state,
and in its recipient's words: their own language and time zone, kept with their conversation."""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import timedelta
from typing import Any

from microsoft_teams.cards import AdaptiveCard

from cards.actions import action_title
from cards.approval import approval_card
from cards.common import decision_line
from cards.progress import STATE_LABELS, progress_card
from dialogs.ports import DeliveryFailed, DeliveryRetry, Messenger
from i18n import ENGLISH_WORDS, N_, Text, Words, language_of, time_zone
from services.errors import RequestNotFound
from services.models import Actor, ProvisioningRequest, RequestAction, RequestState, Role
from services.notify.conversations import Contact, ConversationBook
from services.notify.outbox import NoticeKind, Outbox, OutboxRow
from services.provisioning.protocol import ProvisioningService
from services.requests.service import RequestService

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 300.0


def recipient_words(contact: Contact | None, card_ref: dict[str, Any] | None = None) -> Words:
    """The words of someone who is not the one talking: the language they chose, else their Teams
    client's (the locale of their last turn), and the time zone their client gave. Without a
    conversation, the locale of the turn that made their card, else English."""
    if contact is not None:
        language = contact.language or language_of(contact.reference.get("locale"))
        return Words(language, time_zone(contact.time_zone))
    conversation = (card_ref or {}).get("conversation")
    if isinstance(conversation, dict) and conversation.get("locale"):
        return Words(language_of(conversation["locale"]))
    return ENGLISH_WORDS


class Notifier:
    """Messages to other people: remembers how to reach each person, queues approval cards and
    notices in the outbox, delivers them in the background, and sends the reminders."""

    def __init__(
        self,
        requests: RequestService,
        conversations: ConversationBook,
        outbox: Outbox,
        messenger: Messenger,
        provisioning: ProvisioningService,
        *,
        reminder_after: timedelta,
        poll_seconds: float = 2.0,
    ) -> None:
        self._requests = requests
        self._conversations = conversations
        self._outbox = outbox
        self._messenger = messenger
        self._provisioning = provisioning
        self._reminder_after = reminder_after
        self._poll = poll_seconds
        self._wake = asyncio.Event()
        self._stopping = False
        self._paused = False

    # -- who can be reached --------------------------------------------------------------------

    async def remember(
        self,
        actor: Actor,
        user_id: str,
        name: str,
        reference: dict[str, Any],
        time_zone_name: str | None = None,
    ) -> None:
        """Every activity updates the sender's conversation reference (with their client's locale)
        and time zone; parked notices for a newly reachable person become due.

        Only people the directory knows are remembered: someone with a role, or anyone of a known
        customer or partner tenant (who may choose a language, kept with the reference). Anyone else
        would grow the table with every installation and conversationUpdate a stranger sends."""
        if not actor.tenant_id or not actor.aad_object_id:
            return
        if actor.role is Role.none and not actor.known_tenant:
            return
        is_new = await self._conversations.remember(
            actor.tenant_id, actor.aad_object_id, user_id, name, reference, time_zone_name
        )
        if is_new and await self._outbox.recipient_reachable(actor.tenant_id, actor.aad_object_id):
            self.wake()

    async def chosen_language(self, actor: Actor) -> str | None:
        """The language this person chose with `language` / `langue`, if they did."""
        if not actor.tenant_id or not actor.aad_object_id:
            return None
        return await self._conversations.chosen_language(actor.tenant_id, actor.aad_object_id)

    async def choose_language(self, actor: Actor, language: str) -> bool:
        """Keep this person's choice, for their turns and for what is sent to them."""
        if not actor.tenant_id or not actor.aad_object_id:
            return False
        return await self._conversations.choose_language(actor.tenant_id, actor.aad_object_id, language)

    async def words_of(
        self, tenant_id: str, aad_object_id: str, card_ref: dict[str, Any] | None = None
    ) -> Words:
        """The words of a person the bot writes to outside of their turn (see `recipient_words`)."""
        return recipient_words(await self._conversations.contact(tenant_id, aad_object_id), card_ref)

    async def admins_language(self, tenant_id: str) -> str | None:
        """The language of a tenant's global admins the bot knows, when they all read the same one."""
        admins = await self._requests.global_admins(tenant_id)
        contacts = await self._conversations.contacts([(a.tenant_id, a.aad_object_id) for a in admins])
        languages = {recipient_words(c).language for c in contacts}
        return languages.pop() if len(languages) == 1 else None

    async def reachable_admins(self, tenant_id: str) -> tuple[list[str], list[str]]:
        """(names of global admins the bot can reach, addresses of those it cannot)."""
        admins = await self._requests.global_admins(tenant_id)
        contacts = await self._conversations.contacts([(a.tenant_id, a.aad_object_id) for a in admins])
        reachable = {c.aad_object_id for c in contacts}
        return (
            [a.display_name for a in admins if a.aad_object_id in reachable],
            [a.upn for a in admins if a.aad_object_id not in reachable],
        )

    async def approver_user_ids(self, request: ProvisioningRequest) -> list[str]:
        admins = await self._requests.global_admins(request.tenant_id)
        contacts = await self._conversations.contacts([(a.tenant_id, a.aad_object_id) for a in admins])
        return [c.user_id for c in contacts]

    async def approval_card_for(
        self, request: ProvisioningRequest, words: Words, error: str | Text | None = None
    ) -> AdaptiveCard:
        """The approval card as `words`' reader sees it."""
        org = await self._provisioning.tenant(request.requester_tenant_id)
        return approval_card(
            request,
            org.name if org else words("partner"),
            await self.approver_user_ids(request),
            error,
            words=words,
        )

    # -- the sender loop -----------------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    def pause(self) -> None:
        """Tests: stop delivering (as if the process died before sending)."""
        self._paused = True

    def resume(self) -> None:
        self._paused = False
        self.wake()

    async def run_forever(self) -> None:
        while not self._stopping:
            # Cleared before the work, so a wake-up that arrives during it is not lost.
            self._wake.clear()
            try:
                if not self._paused:
                    await self.remind_overdue()
                    while await self.deliver_due() and not self._stopping:
                        pass
            except Exception:
                log.exception("outbox sender failed; retrying")
            if self._stopping:
                break
            try:
                await asyncio.wait_for(self._wake.wait(), self._poll)
            except TimeoutError:
                pass

    async def stop(self) -> None:
        self._stopping = True
        self.wake()

    async def deliver_due(self) -> int:
        rows = await self._outbox.claim_due()
        for row in rows:
            await self._deliver_one(row)
        return len(rows)

    async def _deliver_one(self, row: OutboxRow) -> None:
        try:
            delivered = await self.deliver(row)
        except DeliveryRetry as exc:
            delay = exc.seconds if exc.seconds is not None else _backoff(row.attempts)
            log.info("outbox %s %s: retry in %.1fs (%s)", row.id, row.kind.value, delay, exc.reason)
            await self._outbox.retry(row, delay, exc.reason)
            return
        except (DeliveryFailed, RequestNotFound) as exc:
            log.warning("outbox %s %s: giving up (%s)", row.id, row.kind.value, exc)
            await self._outbox.retry(row.model_copy(update={"attempts": 10**6}), 0, str(exc))
            return
        except Exception as exc:
            log.exception("outbox %s %s: unexpected failure", row.id, row.kind.value)
            await self._outbox.retry(row, _backoff(row.attempts), type(exc).__name__)
            return
        if delivered:
            await self._outbox.sent(row.id)
        else:
            await self._outbox.wait_for_conversation(row)

    async def deliver(self, row: OutboxRow) -> bool:
        """Deliver one notice; False when the recipient has no conversation with the bot yet."""
        request = await self._requests.get(row.request_id)
        reminded_of = row.payload.get("state")
        if reminded_of and reminded_of != request.state.value:
            # A reminder (or the partner's word of it) for a wait that is over: nothing to say.
            return True
        if row.kind is NoticeKind.approval_card:
            contact = await self._conversations.contact(row.recipient_tenant_id or "", row.recipient_id or "")
            if contact is None:
                return False
            card_ref = await self._messenger.send_card(
                contact.reference, await self.approval_card_for(request, recipient_words(contact))
            )
            await self._requests.set_approval_card(
                request.request_id, contact.tenant_id, contact.aad_object_id, card_ref
            )
            return True
        if row.kind is NoticeKind.approvers_update:
            await self._update_approvers(request)
            return True
        if row.kind is NoticeKind.requester_notice:
            contact = await self._conversations.contact(request.requester_tenant_id, request.requester_id)
            card_ref = await self._requests.card_ref(request.request_id)
            if card_ref:
                words = recipient_words(contact, card_ref)
                await self._messenger.update(card_ref, progress_card(request, words=words))
            if contact is None:
                return False
            await self._messenger.send_text(
                contact.reference,
                requester_text(request, row.payload.get("event", ""), recipient_words(contact)),
            )
            return True
        if row.kind is NoticeKind.admin_reminder:
            contact = await self._conversations.contact(row.recipient_tenant_id or "", row.recipient_id or "")
            if contact is None:
                return False
            await self._messenger.send_text(
                contact.reference, reminder_text(request, recipient_words(contact))
            )
            return True
        raise DeliveryFailed(f"unknown notice kind {row.kind}")

    async def _update_approvers(self, request: ProvisioningRequest) -> None:
        """Every approver's copy of the approval card, each drawn in its owner's words (one
        drawing per language and time zone)."""
        copies = await self._requests.approval_cards(request.request_id)
        contacts = await self._conversations.contacts([(t, a) for t, a, _ in copies])
        by_person = {(c.tenant_id, c.aad_object_id): c for c in contacts}
        drawn: dict[tuple[str, str], AdaptiveCard] = {}
        for tenant_id, aad_object_id, card_ref in copies:
            words = recipient_words(by_person.get((tenant_id, aad_object_id)), card_ref)
            key = (words.language, words.zone.key if words.zone else "")
            if key not in drawn:
                drawn[key] = await self.approval_card_for(request, words)
            await self._messenger.update(card_ref, drawn[key])

    async def remind_overdue(self) -> int:
        count = 0
        for request in await self._requests.due_for_reminder(self._reminder_after):
            if await self._requests.remind(request):
                count += 1
        return count


def _backoff(attempts: int) -> float:
    return min(MAX_BACKOFF_SECONDS, 2.0**attempts) * (0.5 + random.random() / 2)


def requester_text(request: ProvisioningRequest, event: str, words: Words = ENGLISH_WORDS) -> str:
    """What the requester (a partner) hears when their request moves, in their words."""
    upn = request.values.get("teams_user", "")
    ext = request.values.get("extension", "")
    names = {
        "upn": upn,
        "tenant": request.tenant_name,
        "request": request.short_id,
        "admin": request.decided_by or "",
    }
    about = words(ABOUT[request.action], **names)
    if request.action is not RequestAction.add and event in (
        "approved",
        "done",
        "rejected",
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
            "{admin} rejected {about}. Reason: {reason}. The user was added at the provisioning "
            "service, but calling was not enabled.",
            admin=names["admin"],
            about=about,
            reason=stored(words, request.decision_note),
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
        "upn": request.values.get("teams_user", ""),
        "tenant": request.tenant_name,
    }
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
