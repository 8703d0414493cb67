"""The global admin's side of a partner request: Approve, Reject with a reason, "pending", "audit".

A decision is one conditional write in services/requests/decisions.py; this module only answers the click
with the current card and starts the admin's half of the procedure (sync, enable calling)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from microsoft_teams.cards import AdaptiveCard

from cards.audit import VERB_AUDIT_PAGE, audit_card
from cards.common import VERB_APPROVAL_REFRESH, VERB_APPROVE, VERB_REJECT
from cards.notice import notice_card
from dialogs.add_user import NOT_ALLOWED
from dialogs.notifications import Notifier
from dialogs.ports import Background, Chat
from i18n import N_, T, Words
from services import inbound
from services.errors import DomainError, NotAuthorised, RejectionReasonMissing, RequestNotFound, StaleRequest
from services.models import Actor, RequestState
from services.requests import access
from services.requests.cleanup import CLEANUP_REQUEST
from services.requests.service import RequestService

APPROVAL_ACTIONS = {VERB_APPROVE, VERB_REJECT, VERB_APPROVAL_REFRESH, VERB_AUDIT_PAGE}
AUDIT_NOT_ALLOWED = N_("Only a tenant's global admins can read its audit trail.")


class ApprovalConversation:
    """A global admin's side of a partner's request: Approve, Reject with a reason, the refresh of
    their copy of the approval card, `pending` and `audit`."""

    def __init__(self, requests: RequestService, notifier: Notifier, background: Background) -> None:
        self._requests = requests
        self._notifier = notifier
        self._background = background

    async def on_card_action(
        self, chat: Chat, actor: Actor, verb: str, data: Mapping[str, Any]
    ) -> AdaptiveCard:
        """Handle one click; returns the approval card (or the audit's page) as the clicking admin reads it."""
        words = chat.words
        if verb == VERB_AUDIT_PAGE:
            return await self.audit_page(actor, data, words)
        request_id = str(data.get("requestId") or "")
        # A version that is no version of ours (1e999, a bool, a huge number) is stale: the click
        # is refused and the card shown as it is now.
        version = inbound.card_int(data.get("version"))
        if version is None:
            version = -1
        try:
            request = await self._requests.get(request_id)
        except RequestNotFound as exc:
            await self._requests.audit(
                actor,
                actor.tenant_id,
                request_id or None,
                "refused",
                None,
                None,
                "approval card for unknown request",
            )
            return notice_card(words("Not found"), exc.text, attention=True, words=words)
        try:
            if verb == VERB_APPROVAL_REFRESH:
                if not access.may_approve(actor, request):
                    return notice_card(
                        NOT_ALLOWED,
                        words("Only the tenant's global admins see this card."),
                        attention=True,
                        words=words,
                    )
            elif verb == VERB_APPROVE:
                request = await self._requests.approve(actor, request_id, version)
                self._remember_card(chat, actor, request_id)
                self._background.spawn(self._complete(request_id, actor), name=f"approve-{request.short_id}")
                self._notifier.wake()
            elif verb == VERB_REJECT:
                request = await self._requests.reject(
                    actor, request_id, version, str(data.get("reason") or "")
                )
                self._remember_card(chat, actor, request_id)
                removal = str(request.values.get(CLEANUP_REQUEST) or "")
                if removal:  # the user the partner's half added goes again
                    self._background.spawn(self._complete(removal, actor), name=f"undo-{request.short_id}")
                self._notifier.wake()
        except RejectionReasonMissing as exc:
            return await self._notifier.approval_card_for(request, words, exc.text)
        except StaleRequest:
            request = await self._requests.get(request_id)
        except NotAuthorised as exc:
            return notice_card(NOT_ALLOWED, exc.text, attention=True, words=words)
        return await self._notifier.approval_card_for(request, words)

    def _remember_card(self, chat: Chat, actor: Actor, request_id: str) -> None:
        card_ref = chat.clicked_card_ref()
        if card_ref:
            self._background.spawn(
                self._requests.set_approval_card(request_id, actor.tenant_id, actor.aad_object_id, card_ref),
                name="remember-approval-card",
            )

    async def _complete(self, request_id: str, approver: Actor) -> None:
        """The admin's half of the seed: sync if needed, enable calling; the approver is the actor."""

        async def progress(_request: Any) -> None:
            self._notifier.wake()

        await self._requests.run(request_id, progress, actor=approver)
        self._notifier.wake()

    async def show_pending(self, chat: Chat, actor: Actor) -> None:
        words = chat.words
        if not access.may_list_pending(actor):
            await chat.send_text(words("Only a tenant's global admins approve requests."))
            return
        pending = await self._requests.awaiting_approval(actor.tenant_id)
        batches = await self._requests.pending_batches(actor.tenant_id)
        if not pending and not batches:
            await chat.send_text(words("No requests are waiting for your approval."))
            return
        for batch in batches:  # a partner's bulk add: one card for all its users
            card_ref = await chat.send_card(await self._notifier.batches.card_for(batch, words))
            await self._requests.set_approval_card(
                batch.batch_id, actor.tenant_id, actor.aad_object_id, card_ref
            )
        if not pending:
            return
        signing = sum(r.state is RequestState.awaiting_admin_sign_in for r in pending)
        if len(pending) == 1:
            said = (
                words("One request is waiting for you, approved and waiting for a Global Admin to sign in:")
                if signing
                else words("One request is waiting for you:")
            )
        elif signing:
            said = words(
                "{count} requests are waiting for you; approved, waiting for a Global Admin to sign in: "
                "{signing}.",
                count=len(pending),
                signing=signing,
            )
        else:
            said = words("{count} requests are waiting for you:", count=len(pending))
        await chat.send_text(said)
        for request in pending:
            card_ref = await chat.send_card(await self._notifier.approval_card_for(request, words))
            await self._requests.set_approval_card(
                request.request_id, actor.tenant_id, actor.aad_object_id, card_ref
            )

    async def show_audit(self, chat: Chat, actor: Actor, *, everything: bool = False) -> None:
        """`audit` (`audit all`: with the drafts and cancels): the newest page of the tenant's trail."""
        if not access.may_read_audit(actor):
            await chat.send_text(chat.words(AUDIT_NOT_ALLOWED))
            return
        page = await self._requests.audit_page(actor.tenant_id, everything=everything)
        await chat.send_card(audit_card(page, words=chat.words))

    async def audit_page(self, actor: Actor, data: Mapping[str, Any], words: Words) -> AdaptiveCard:
        """Older, Newer, Show everything: the page the card's data names (entry ids, a flag), of the
        clicking admin's own tenant, whatever tenant the card was drawn for."""
        if not access.may_read_audit(actor):
            await self._requests.audit(
                actor, actor.tenant_id, None, "refused", None, None, T("audit: not a GA")
            )
            return notice_card(NOT_ALLOWED, AUDIT_NOT_ALLOWED, attention=True, words=words)
        older = inbound.card_int(data.get("olderThan"))
        newer = None if older is not None else inbound.card_int(data.get("newerThan"))
        page = await self._requests.audit_page(
            actor.tenant_id, everything=data.get("all") is True, older_than=older, newer_than=newer
        )
        return audit_card(page, words=words)


__all__ = ["APPROVAL_ACTIONS", "ApprovalConversation", "DomainError"]
