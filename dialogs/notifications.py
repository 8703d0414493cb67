"""Delivers the outbox: approval cards, updates of every approver's copy, notices to partners,
reminders. Each notice is rendered when it is delivered, so it always shows the current state."""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import timedelta
from typing import Any

from microsoft_teams.cards import AdaptiveCard

from cards.approval import approval_card
from cards.common import decision_line
from cards.progress import progress_card
from dialogs.ports import DeliveryFailed, DeliveryRetry, Messenger
from services.errors import RequestNotFound
from services.models import Actor, ProvisioningRequest, RequestState
from services.notify.conversations import ConversationBook
from services.notify.outbox import NoticeKind, Outbox, OutboxRow
from services.provisioning.protocol import ProvisioningService
from services.requests.service import RequestService

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 300.0


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

    async def remember(self, actor: Actor, user_id: str, name: str, reference: dict[str, Any]) -> None:
        """Every activity updates the sender's conversation reference; parked notices for a
        newly reachable person become due."""
        if not actor.tenant_id or not actor.aad_object_id:
            return
        is_new = await self._conversations.remember(
            actor.tenant_id, actor.aad_object_id, user_id, name, reference
        )
        if is_new and await self._outbox.recipient_reachable(actor.tenant_id, actor.aad_object_id):
            self.wake()

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

    async def approval_card_for(self, request: ProvisioningRequest, error: str | None = None) -> AdaptiveCard:
        org = await self._provisioning.tenant(request.requester_tenant_id)
        return approval_card(
            request, org.name if org else "partner", await self.approver_user_ids(request), error
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
                contact.reference, await self.approval_card_for(request)
            )
            await self._requests.set_approval_card(
                request.request_id, contact.tenant_id, contact.aad_object_id, card_ref
            )
            return True
        if row.kind is NoticeKind.approvers_update:
            card = await self.approval_card_for(request)
            for _, _, card_ref in await self._requests.approval_cards(request.request_id):
                await self._messenger.update(card_ref, card)
            return True
        if row.kind is NoticeKind.requester_notice:
            contact = await self._conversations.contact(request.requester_tenant_id, request.requester_id)
            card_ref = await self._requests.card_ref(request.request_id)
            if card_ref:
                await self._messenger.update(card_ref, progress_card(request))
            if contact is None:
                return False
            await self._messenger.send_text(
                contact.reference, requester_text(request, row.payload.get("event", ""))
            )
            return True
        if row.kind is NoticeKind.admin_reminder:
            contact = await self._conversations.contact(row.recipient_tenant_id or "", row.recipient_id or "")
            if contact is None:
                return False
            await self._messenger.send_text(contact.reference, reminder_text(request))
            return True
        raise DeliveryFailed(f"unknown notice kind {row.kind}")

    async def remind_overdue(self) -> int:
        count = 0
        for request in await self._requests.due_for_reminder(self._reminder_after):
            if await self._requests.remind(request):
                count += 1
        return count


def _backoff(attempts: int) -> float:
    return min(MAX_BACKOFF_SECONDS, 2.0**attempts) * (0.5 + random.random() / 2)


def requester_text(request: ProvisioningRequest, event: str) -> str:
    upn = request.values.get("teams_user", "")
    ext = request.values.get("extension", "")
    about = f"your request {request.short_id} to add {upn} to {request.tenant_name}"
    if event == "approved":
        return f"{request.decided_by} approved {about}. Syncing and enabling calling now."
    if event == "done":
        return (
            f"Done: {upn} in {request.tenant_name} can now make and receive Teams calls on extension {ext} "
            f"(request {request.short_id}, approved by {request.decided_by})."
        )
    if event == "rejected":
        return (
            f"{request.decided_by} rejected {about}. Reason: {request.decision_note}. The user was added at "
            "the provisioning service, but calling was not enabled."
        )
    if event == "failed":
        return (
            f"Enabling calling for {upn} in {request.tenant_name} did not work: {request.error} "
            f"A global admin of {request.tenant_name} can try again from the approval card "
            f"(request {request.short_id})."
        )
    if event == "stopped":
        return (
            f"{request.decision_note or 'Stopped'}: {about}. {upn} stays added at the provisioning service, "
            "without calling."
        )
    if event == "sign_in_needed":
        return (
            f"{upn} is added and synced, but {request.tenant_name} has not allowed management by the service "
            f"provider: calling is enabled once a Global Admin of {request.tenant_name} signs in from the "
            f"approval card (request {request.short_id}). You will hear from me when it is done."
        )
    if event == "reminded" and request.state is RequestState.awaiting_admin_sign_in:
        return (
            f"No Global Admin of {request.tenant_name} has signed in yet to finish {about}. We reminded "
            "them; you may want to contact them too."
        )
    if event == "reminded":
        return (
            f"No global admin of {request.tenant_name} has answered {about} yet. We reminded them; you may "
            "want to contact them too."
        )
    line = decision_line(request)
    return f"Update on {about}: {line or request.state.value}."


def reminder_text(request: ProvisioningRequest) -> str:
    upn = request.values.get("teams_user", "")
    if request.state is RequestState.awaiting_admin_sign_in:
        return (
            f"Reminder: {request.requester_name}'s request {request.short_id} to add {upn} as a phone user was "
            f"approved, but calling is enabled only once a Global Admin of {request.tenant_name} signs in. "
            "Type **pending** to find it and sign in from its card (click **Get a new sign-in link** first "
            "if the link has expired)."
        )
    return (
        f"Reminder: {request.requester_name}'s request {request.short_id} to add {upn} as a phone user is still "
        "waiting for your approval. Type **pending** to see it."
    )
