"""The bulk-add conversation (issue 18): `bulk add` with the rows pasted after it, the report card,
"Add N users", and the runner that starts the rows a few at a time while one progress card shows
the latest counts, updated at most every UPDATE_SECONDS (far under Teams' per-chat send limit)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from microsoft_teams.cards import AdaptiveCard

from cards.bulk import (
    VERB_BULK_ADD,
    VERB_BULK_CANCEL,
    VERB_BULK_CHECK,
    VERB_BULK_FOR,
    VERB_BULK_RETRY,
    bulk_help_card,
    bulk_progress_card,
    bulk_report_card,
)
from cards.bulk_approval import VERB_BULK_APPROVE, VERB_BULK_REJECT
from cards.enterprise_picker import enterprise_picker_card
from cards.notice import notice_card
from cards.request_state import STATE_LABELS
from dialogs.add_user import DID_NOT_WORK, NOT_ALLOWED
from dialogs.notifications import Notifier
from dialogs.ports import Background, Chat, Downloads, Messenger
from i18n import Words
from services import inbound
from services.errors import DomainError, NotAuthorised, RejectionReasonMissing, StaleRequest
from services.models import Actor, RequestState
from services.requests.access import may_pick_enterprise
from services.requests.batch_file import write_csv
from services.requests.batches import PICK_FIRST
from services.requests.service import RequestService

log = logging.getLogger(__name__)

BULK_ACTIONS = {
    VERB_BULK_CHECK,
    VERB_BULK_ADD,
    VERB_BULK_CANCEL,
    VERB_BULK_RETRY,
    VERB_BULK_FOR,
    VERB_BULK_APPROVE,
    VERB_BULK_REJECT,
}
UPDATE_SECONDS = 2.0


class BulkConversation:
    def __init__(
        self,
        requests: RequestService,
        messenger: Messenger,
        background: Background,
        notifier: Notifier,
        downloads: Downloads,
        *,
        concurrency: int = 8,
        update_seconds: float = UPDATE_SECONDS,
    ) -> None:
        self._requests = requests
        self._messenger = messenger
        self._background = background
        self._notifier = notifier
        self._downloads = downloads
        self._concurrency = concurrency
        self._update_seconds = update_seconds

    async def start(self, chat: Chat, actor: Actor, rows: str) -> None:
        """`bulk add` alone: what to send (a partner picks the enterprise first); with rows: every
        row checked, the report."""
        if not rows.strip():
            if may_pick_enterprise(actor):
                await chat.send_card(await self._picker(actor, chat.words))
            else:
                await chat.send_card(bulk_help_card(chat.words))
            return
        if not await self._has_target(chat, actor):
            return
        try:
            report = await self._requests.check_file(actor, rows)
        except DomainError as exc:
            await chat.send_text(chat.words(exc.text))
            return
        await chat.send_card(bulk_report_card(report, chat.words))

    async def start_files(self, chat: Chat, actor: Actor) -> None:
        """A file sent in the chat: read as a bulk add's rows (the first file only)."""
        name, url = chat.files()[0]
        if not await self._has_target(chat, actor):
            return
        try:
            await self._requests.refuse_unless_bulk(actor)
            data = await self._downloads.fetch(url)
            report = await self._requests.check_file(actor, data)
        except DomainError as exc:
            await chat.send_text(chat.words(exc.text))
            return
        log.info("bulk add file read", extra={"bytes": len(data), "named_csv": name.lower().endswith(".csv")})
        await chat.send_card(bulk_report_card(report, chat.words))

    async def _check_pasted(self, chat: Chat, actor: Actor, rows: str) -> AdaptiveCard:
        """The rows pasted in the help card's box: the report takes the card's place (a partner's
        go to the enterprise it picked on the card before)."""
        words = chat.words
        if not rows.strip():
            return notice_card(
                words("Paste the rows first."), words("Type **bulk add** to start again."), words=words
            )
        try:
            return bulk_report_card(await self._requests.check_file(actor, rows), words)
        except NotAuthorised as exc:
            return notice_card(NOT_ALLOWED, exc.text, attention=True, words=words)
        except DomainError as exc:
            return notice_card(DID_NOT_WORK, exc.text, attention=True, words=words)

    async def _picker(self, actor: Actor, words: Words, error: str | None = None) -> AdaptiveCard:
        return enterprise_picker_card(
            await self._requests.bulk_enterprises(actor),
            error,
            words,
            next_verb=VERB_BULK_FOR,
            title=words("Add many phone users at once"),
            question=words("Which enterprise are the users in? You can type to search."),
        )

    async def _has_target(self, chat: Chat, actor: Actor) -> bool:
        """A partner's rows go to the enterprise it picked: without one, it picks first."""
        if not may_pick_enterprise(actor) or await self._requests.bulk_tenant(actor) is not None:
            return True
        await chat.send_text(chat.words(PICK_FIRST))
        await chat.send_card(await self._picker(actor, chat.words))
        return False

    async def on_card_action(
        self, chat: Chat, actor: Actor, verb: str, data: Mapping[str, Any]
    ) -> AdaptiveCard:
        words = chat.words
        if verb == VERB_BULK_FOR:
            try:
                tenant = await self._requests.choose_bulk_tenant(actor, str(data.get("enterpriseId") or ""))
            except DomainError as exc:
                return await self._picker(actor, words, words(exc.text))
            return bulk_help_card(words, partner_for=tenant.name)
        if verb == VERB_BULK_CHECK:
            return await self._check_pasted(chat, actor, str(data.get("rows") or ""))
        batch_id = data.get("batchId")
        if not isinstance(batch_id, str) or not batch_id or len(batch_id) > 36:
            return notice_card(
                words("This card is not valid"), words("Type **bulk add** to start again."), words=words
            )
        if verb in (VERB_BULK_APPROVE, VERB_BULK_REJECT):
            return await self._decide(chat, actor, verb, batch_id, data)
        try:
            if verb == VERB_BULK_CANCEL:
                await self._requests.cancel_batch(actor, batch_id)
            elif verb == VERB_BULK_RETRY:
                retried = await self._requests.retry_failed(actor, batch_id)
                if retried:
                    card_ref = chat.clicked_card_ref()
                    self._background.spawn(
                        self.rerun(batch_id, retried, card_ref), name=f"bulk-{batch_id[:8]}"
                    )
            else:
                queued = await self._requests.queue_batch(actor, batch_id)
                card_ref = chat.clicked_card_ref()
                if queued:
                    if card_ref:
                        await self._requests.keep_batch_card(batch_id, card_ref)
                    self._background.spawn(self.run(batch_id, card_ref), name=f"bulk-{batch_id[:8]}")
            status = await self._requests.batch_status(actor, batch_id)
        except NotAuthorised as exc:
            return notice_card(NOT_ALLOWED, exc.text, attention=True, words=words)
        except DomainError as exc:
            return notice_card(DID_NOT_WORK, exc.text, attention=True, words=words)
        return bulk_progress_card(status, words)

    async def _decide(
        self, chat: Chat, actor: Actor, verb: str, batch_id: str, data: Mapping[str, Any]
    ) -> AdaptiveCard:
        """A global admin's "Approve all" or "Reject" on a partner's batch: one conditional write
        decides; the approved rows then run here, the partner's card following them."""
        words, version = chat.words, inbound.card_int(data.get("version"))
        cards = self._notifier.batches
        try:
            if verb == VERB_BULK_APPROVE:
                approved = await self._requests.approve_batch(
                    actor, batch_id, -1 if version is None else version
                )
                card_ref = await self._requests.batch_card(batch_id)
                self._background.spawn(
                    self._run_rows(batch_id, approved, card_ref, queued=False, actor=actor),
                    name=f"bulk-approved-{batch_id[:8]}",
                )
            else:
                reason = str(data.get("reason") or "")
                removals = await self._requests.reject_batch(
                    actor, batch_id, -1 if version is None else version, reason
                )
                self._background.spawn(self._undo(removals, actor), name=f"bulk-undo-{batch_id[:8]}")
            self._remember_copy(chat, actor, batch_id)
            self._notifier.wake()
        except RejectionReasonMissing as exc:
            return await cards.card_for(await self._requests.batch_approval(batch_id), words, exc.text)
        except NotAuthorised as exc:
            return notice_card(NOT_ALLOWED, exc.text, attention=True, words=words)
        except StaleRequest as exc:
            try:
                return await cards.card_for(await self._requests.batch_approval(batch_id), words)
            except StaleRequest:
                return notice_card(DID_NOT_WORK, exc.text, attention=True, words=words)
        return await cards.card_for(await self._requests.batch_approval(batch_id), words)

    def _remember_copy(self, chat: Chat, actor: Actor, batch_id: str) -> None:
        """The clicked card is this approver's copy: it is redrawn as the batch moves."""
        card_ref = chat.clicked_card_ref()
        if card_ref:
            self._background.spawn(
                self._requests.set_approval_card(batch_id, actor.tenant_id, actor.aad_object_id, card_ref),
                name="remember-batch-approval-card",
            )

    async def _undo(self, removals: list[str], actor: Actor) -> None:
        """The removals a rejection created, a few at a time (the sweeper resumes any left)."""
        slots = asyncio.Semaphore(self._concurrency)

        async def one(request_id: str) -> None:
            async with slots:
                try:
                    await self._requests.run(request_id, actor=actor)
                except Exception:
                    log.exception("bulk add removal failed to run", extra={"request_id": request_id})

        await asyncio.gather(*(one(r) for r in removals))
        self._notifier.wake()

    async def run(self, batch_id: str, card_ref: dict[str, Any] | None) -> None:
        """Starts the batch's queued rows and keeps its card up to date until every row has ended.
        Safe to run twice (after a restart, on two instances): a row is started by whoever moves it
        queued -> submitted first."""
        await self._run_rows(batch_id, await self._requests.queued_rows(batch_id), card_ref, queued=True)

    async def rerun(self, batch_id: str, request_ids: list[str], card_ref: dict[str, Any] | None) -> None:
        """The failed rows moved back by "Try the failed rows again", with the card."""
        await self._run_rows(batch_id, request_ids, card_ref, queued=False)

    async def _run_rows(
        self,
        batch_id: str,
        request_ids: list[str],
        card_ref: dict[str, Any] | None,
        *,
        queued: bool,
        actor: Actor | None = None,
    ) -> None:
        """The rows' pipelines, at most `concurrency` at a time (a queued row is started first);
        the card is updated every few seconds meanwhile, and the results are sent at the end. A
        partner's batch then asks for its approval (or, approved, its approvers' cards show how
        it went). `actor`: who the steps are done for (the approver), else the bot."""
        if not request_ids:
            return  # nothing of this batch to run (its rows were started elsewhere)
        slots = asyncio.Semaphore(self._concurrency)

        async def one(request_id: str) -> None:
            async with slots:
                try:
                    if not queued or await self._requests.start_queued(request_id) is not None:
                        await self._requests.run(request_id, actor=actor)
                except Exception:
                    log.exception("bulk add row failed to run", extra={"request_id": request_id})

        updater = asyncio.ensure_future(self._keep_card(batch_id, card_ref))
        try:
            await asyncio.gather(*(one(r) for r in request_ids))
        finally:
            updater.cancel()
            await asyncio.gather(updater, return_exceptions=True)
            await self._show(batch_id, card_ref)
        await self._send_results(batch_id, card_ref)
        try:
            if await self._requests.ask_batch_approval(batch_id):
                log.info("bulk add sent for approval", extra={"batch": batch_id[:8]})
            self._notifier.wake()
        except Exception:
            log.warning("could not ask for the bulk add's approval; the sweeper will", exc_info=True)

    async def _keep_card(self, batch_id: str, card_ref: dict[str, Any] | None) -> None:
        while True:
            await asyncio.sleep(self._update_seconds)
            await self._show(batch_id, card_ref)

    async def _show(self, batch_id: str, card_ref: dict[str, Any] | None) -> None:
        if not card_ref:
            return
        try:
            status = await self._requests.batch_status(None, batch_id)
            words: Words = await self._notifier.words_of(*status.requester, card_ref)
            await self._messenger.update(card_ref, bulk_progress_card(status, words))
        except Exception:
            log.warning("could not update the bulk add card", exc_info=True)

    async def _send_results(self, batch_id: str, card_ref: dict[str, Any] | None) -> None:
        """Once every row has ended: the results as CSV to copy into Excel (each row, or only the
        ones that did not work when all of them would not fit in one Teams message)."""
        if not card_ref or not isinstance(card_ref.get("conversation"), dict):
            return
        try:
            status = await self._requests.batch_status(None, batch_id)
            if status.running:
                return
            words = await self._notifier.words_of(*status.requester, card_ref)
            rows = status.rows
            text = results_text(rows, words, status.problems)
            if len(text) > MAX_RESULTS_CHARS:
                rows = [r for r in rows if r[3] is not RequestState.done]
                text = results_text(rows, words, status.problems, only_failures=True)
            await self._messenger.send_text(card_ref["conversation"], text)
        except Exception:
            log.warning("could not send the bulk add's results", exc_info=True)

    async def resume(self) -> int:
        """After a restart: batches with rows still waiting start again, and their card follows."""
        batches = await self._requests.queued_batches()
        for batch_id in batches:
            card_ref = await self._requests.batch_card(batch_id)
            self._background.spawn(self.run(batch_id, card_ref), name=f"bulk-{batch_id[:8]}")
        return len(batches)


# Under Teams' message size (about 28 KB), with room for the words around the rows.
MAX_RESULTS_CHARS = 20_000


def results_text(
    rows: list[tuple[int, str, str, RequestState, Any]],
    words: Words,
    left_out: list[tuple[int, Any, str, str]] | None = None,
    *,
    only_failures: bool = False,
) -> str:
    """The results as CSV in a code block (formula-like cells made safe by write_csv), in the
    file's order: the rows run, and those the check left out (`left_out`: line, why, user,
    extension, as the file gave them)."""
    header = [words("line"), words("Teams user"), words("Extension"), words("result"), words("reason")]
    results = [
        (line, [str(line), user, extension, words(STATE_LABELS[state]), words(why) if why else ""])
        for line, user, extension, state, why in rows
    ]
    results += [
        (line, [str(line), user, extension, words("Not added"), words(why)])
        for line, why, user, extension in left_out or []
    ]
    table = [header] + [cells for _, cells in sorted(results, key=lambda r: r[0])]
    intro = (
        words("The rows that did not work, as CSV to copy into Excel:")
        if only_failures
        else words("The results, as CSV to copy into Excel:")
    )
    return f"{intro}\n\n```\n{write_csv(table)}```"
