"""Delivers the outbox: approval cards, updates of every approver's copy, notices to partners,
reminders. Each notice is rendered when it is delivered, so it always shows the current state,
and in its recipient's words: their own language and time zone, kept with their conversation."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from microsoft_teams.cards import AdaptiveCard

from cards.approval import approval_card
from cards.progress import progress_card
from dialogs.batch_notices import BATCH_KINDS, BatchNotices
from dialogs.notice_texts import reminder_text, requester_text
from dialogs.ports import ChatRefused, DeliveryFailed, Messenger
from dialogs.recipients import recipient_words, update_copies
from dialogs.sender import OutboxSender
from i18n import Text, Words
from services.models import Actor, ProvisioningRequest, RequestKind, Role
from services.notify.conversations import Contact, ConversationBook
from services.notify.outbox import Notice, NoticeKind, Outbox, OutboxRow
from services.provisioning.protocol import ProvisioningService
from services.requests.service import RequestService

log = logging.getLogger(__name__)


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
        expiry_days: float = 7.0,
        poll_seconds: float = 2.0,
        concurrency: int = 16,
    ) -> None:
        self._requests = requests
        self._conversations = conversations
        self._outbox = outbox
        self._messenger = messenger
        self._provisioning = provisioning
        self._reminder_after = reminder_after
        self._expiry_days = expiry_days
        # A partner's bulk add: its one approval card, its copies, the partner's word of it.
        self.batches = BatchNotices(requests, conversations, messenger, provisioning)
        # The background sender: up to `concurrency` conversations at once (dialogs/sender.py).
        self._sender = OutboxSender(
            outbox,
            self.deliver,
            concurrency=concurrency,
            poll_seconds=poll_seconds,
            housekeeping=self.remind_overdue,
        )

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

    # -- the sender (dialogs/sender.py delivers; what each notice is, is here) ---------------

    def wake(self) -> None:
        self._sender.wake()

    def pause(self) -> None:
        """Tests: stop delivering (as if the process died before sending)."""
        self._sender.pause()

    def resume(self) -> None:
        self._sender.resume()

    async def run_forever(self) -> None:
        await self._sender.run_forever()

    async def stop(self) -> None:
        await self._sender.stop()

    async def deliver_due(self) -> int:
        return await self._sender.deliver_due()

    async def deliver(self, row: OutboxRow) -> bool:
        """Deliver one notice; False when the recipient has no conversation with the bot yet."""
        if row.kind is NoticeKind.reply:
            await self._deliver_reply(row)
            return True
        if row.kind in BATCH_KINDS:
            return await self.batches.deliver(row)
        request = await self._requests.get(row.request_id or "")
        reminded_of = row.payload.get("state")
        if reminded_of and reminded_of != request.state.value:
            # A reminder (or the partner's word of it) for a wait that is over: nothing to say.
            return True
        if row.kind is NoticeKind.approval_card:
            contact = await self._conversations.contact(row.recipient_tenant_id or "", row.recipient_id or "")
            if contact is None:
                return False
            card = await self.approval_card_for(request, recipient_words(contact))
            if row.interrupted and (copy := await self._approval_copy(request, contact)):
                # A sender died delivering this row after the card's reference was kept: the card
                # reached the chat, so it is brought up to date instead of sent a second time.
                await self._messenger.update(copy, card)
                return True
            try:
                card_ref = await self._messenger.send_card(contact.reference, card)
            except ChatRefused:
                await self._unreachable(request, contact)
                return False  # waits until they open the bot again
            # Kept at once, before the row is marked sent: from here on a crash repeats nothing.
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
                requester_text(request, row.payload.get("event", ""), recipient_words(contact), row.payload),
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

    async def _unreachable(self, request: ProvisioningRequest, contact: Contact) -> None:
        """A global admin's chat refused their approval card (they removed or blocked the bot):
        their reference is dropped, so they are named as unreachable from now on, and the partner,
        who was told the card went to them, is told it did not."""
        log.info("approval card refused by an admin's chat; their conversation is forgotten")
        await self._conversations.forget(contact.tenant_id, contact.aad_object_id)
        if request.kind is RequestKind.partner:
            notice = Notice(
                kind=NoticeKind.requester_notice,
                request_id=request.request_id,
                recipient_tenant_id=request.requester_tenant_id,
                recipient_id=request.requester_id,
                payload={"event": "unreachable", "admin": contact.name, "state": request.state.value},
            )
            await self._outbox.add([notice])

    async def _approval_copy(self, request: ProvisioningRequest, contact: Contact) -> dict[str, Any] | None:
        """The reference of `contact`'s copy of the request's approval card, if one is kept."""
        for tenant_id, aad_object_id, card_ref in await self._requests.approval_cards(request.request_id):
            if (tenant_id, aad_object_id) == (contact.tenant_id, contact.aad_object_id):
                return card_ref
        return None

    async def _deliver_reply(self, row: OutboxRow) -> None:
        """A reply the channel refused during its turn (bot/chat.py, RefusedReplies), sent now as it
        was. A card the turn kept a reference to (its request's card, an approver's copy) is kept
        from now on under the reference of the card that arrived, unless something newer took
        its place meanwhile."""
        payload = row.payload
        arrived = await self._messenger.send_stored(
            payload["conversation"], payload["activity"], payload.get("update_of")
        )
        placeholder = payload.get("placeholder")
        if not placeholder or not row.request_id:
            return
        if await self._requests.card_ref(row.request_id) == placeholder:
            await self._requests.set_card_ref(row.request_id, arrived)
        for tenant_id, aad_object_id, card_ref in await self._requests.approval_cards(row.request_id):
            if card_ref == placeholder:
                await self._requests.set_approval_card(row.request_id, tenant_id, aad_object_id, arrived)

    async def _update_approvers(self, request: ProvisioningRequest) -> None:
        copies = await self._requests.approval_cards(request.request_id)
        await update_copies(
            self._messenger, self._conversations, copies, lambda words: self.approval_card_for(request, words)
        )

    async def remind_overdue(self) -> int:
        """Expires the approvals nobody gave within REQUEST_EXPIRY_DAYS, single or a bulk add's
        (their clean-up removals are run by the pipeline sweeper), asks for a bulk add's approval
        its runner could not ask for, then sends each waiting request's next follow-up."""
        count = 0
        for request in await self._requests.due_for_expiry(timedelta(days=self._expiry_days)):
            if await self._requests.expire(request, self._expiry_days):
                count += 1
        for batch_id in await self._requests.batches_due_for_expiry(timedelta(days=self._expiry_days)):
            if await self._requests.expire_batch(batch_id, self._expiry_days):
                count += 1
        # A bulk add whose runner stopped (a restart) after its rows were added: asked for now.
        for batch_id in await self._requests.batches_to_ask():
            if await self._requests.ask_batch_approval(batch_id):
                count += 1
        for request in await self._requests.due_for_reminder(self._reminder_after):
            if await self._requests.remind(request):
                count += 1
        return count
