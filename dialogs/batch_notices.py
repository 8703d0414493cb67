"""The outbox's notices about a partner's bulk add (issue 18): its one approval card to each global
admin of the tenant, the update of every copy once decided, and the partner's word of the outcome
(with its progress card redrawn). Rendered when delivered, in each reader's words, like a single
request's (dialogs/notifications.py hands these kinds here)."""

from __future__ import annotations

import logging
from typing import Any

from microsoft_teams.cards import AdaptiveCard

from cards.bulk import bulk_progress_card
from cards.bulk_approval import batch_approval_card
from dialogs.notice_texts import batch_requester_text
from dialogs.ports import ChatRefused, Messenger
from dialogs.recipients import recipient_words, update_copies
from i18n import Text, Words
from services.notify.conversations import Contact, ConversationBook
from services.notify.outbox import NoticeKind, OutboxRow
from services.provisioning.protocol import ProvisioningService
from services.requests.batch_approvals import BatchApproval
from services.requests.service import RequestService

log = logging.getLogger(__name__)

BATCH_KINDS = frozenset(
    {NoticeKind.batch_approval_card, NoticeKind.batch_approvers_update, NoticeKind.batch_requester_notice}
)


class BatchNotices:
    def __init__(
        self,
        requests: RequestService,
        conversations: ConversationBook,
        messenger: Messenger,
        provisioning: ProvisioningService,
    ) -> None:
        self._requests = requests
        self._conversations = conversations
        self._messenger = messenger
        self._provisioning = provisioning

    async def card_for(
        self, approval: BatchApproval, words: Words, error: str | Text | None = None
    ) -> AdaptiveCard:
        """The batch's approval card as `words`' reader sees it."""
        org = await self._provisioning.tenant(approval.requester_tenant_id)
        return batch_approval_card(approval, org.name if org else words("partner"), error, words=words)

    async def deliver(self, row: OutboxRow) -> bool:
        """One notice; False when its recipient has no conversation with the bot yet."""
        batch_id = row.request_id or ""
        approval = await self._requests.batch_approval(batch_id)
        if row.kind is NoticeKind.batch_approval_card:
            contact = await self._conversations.contact(row.recipient_tenant_id or "", row.recipient_id or "")
            if contact is None:
                return False
            card = await self.card_for(approval, recipient_words(contact))
            if row.interrupted and (copy := await self._copy_of(batch_id, contact)):
                await self._messenger.update(copy, card)  # it reached the chat before a crash
                return True
            try:
                card_ref = await self._messenger.send_card(contact.reference, card)
            except ChatRefused:
                log.info("a bulk add's approval card was refused by an admin's chat; forgotten")
                await self._conversations.forget(contact.tenant_id, contact.aad_object_id)
                return False
            await self._requests.set_approval_card(
                batch_id, contact.tenant_id, contact.aad_object_id, card_ref
            )
            return True
        if row.kind is NoticeKind.batch_approvers_update:
            await self._update_copies(approval)
            return True
        # The partner: its progress card redrawn, and the outcome in words.
        status = await self._requests.batch_status(None, batch_id)
        contact = await self._conversations.contact(*status.requester)
        card_ref = await self._requests.batch_card(batch_id)
        if card_ref:
            await self._messenger.update(
                card_ref, bulk_progress_card(status, recipient_words(contact, card_ref))
            )
        if contact is None:
            return False
        words = recipient_words(contact)
        await self._messenger.send_text(
            contact.reference,
            batch_requester_text(approval, str(row.payload.get("event")), words, row.payload),
        )
        return True

    async def _copy_of(self, batch_id: str, contact: Contact) -> dict[str, Any] | None:
        for tenant_id, aad_object_id, card_ref in await self._requests.approval_cards(batch_id):
            if (tenant_id, aad_object_id) == (contact.tenant_id, contact.aad_object_id):
                return card_ref
        return None

    async def _update_copies(self, approval: BatchApproval) -> None:
        copies = await self._requests.approval_cards(approval.batch_id)
        await update_copies(
            self._messenger, self._conversations, copies, lambda words: self.card_for(approval, words)
        )
