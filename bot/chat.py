"""The `Chat` and `Messenger` ports of dialogs/, over the Agents SDK's TurnContext and adapter, and
the middleware that hands a turn's refused replies to the outbox."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlparse

from microsoft_agents.activity import Activity, ActivityTypes, ConversationReference, ResourceResponse
from microsoft_agents.hosting.core import ChannelAdapter, TurnContext
from microsoft_teams.cards import AdaptiveCard

from bot.cards import attachment, card_activity, text_activity
from bot.connector import ConnectorError, is_continuation
from bot.files import sent_files
from dialogs.ports import ChatRefused, DeliveryFailed, DeliveryRetry
from i18n import Words, language_of, time_zone
from services.notify.outbox import OUTBOX_RETRY, Notice, NoticeKind, Outbox
from services.retry import retry_after_seconds

log = logging.getLogger(__name__)

# Until a reply the channel refused is delivered from the outbox, the card reference the turn got
# for it has an activity id that starts with this (see RefusedReplies).
DEFERRED_PREFIX = "deferred:"
# A refused reply waits at least this long in the outbox: the chat just refused it several times,
# and the turn stores the reference it got for a card before the sender may replace it.
REPLY_FIRST_DELAY_SECONDS = 1.0
# What of a refused reply the outbox keeps: its content. Its addressing comes back from the
# conversation reference, and nothing of the turn's credentials is kept (cards hold no secrets).
KEPT_FIELDS = (
    "type",
    "text",
    "textFormat",
    "attachments",
    "attachmentLayout",
    "summary",
    "suggestedActions",
    "inputHint",
)

# Teams' published limits per bot per conversation: (messages, seconds).
TEAMS_CONVERSATION_LIMITS = ((7, 1.0), (8, 2.0), (60, 30.0))


class ConversationRateLimit:
    """Sliding windows per conversation: a send waits until every window has room."""

    def __init__(self, limits: tuple[tuple[int, float], ...] = TEAMS_CONVERSATION_LIMITS) -> None:
        self._limits = limits
        self._longest = max(seconds for _, seconds in limits)
        self._sent: dict[str, list[float]] = {}

    def delay(self, key: str, now: float) -> float:
        """Seconds to wait before the next send to `key` (0 if it may go now)."""
        times = [t for t in self._sent.get(key, []) if now - t < self._longest]
        self._sent[key] = times
        wait = 0.0
        for count, seconds in self._limits:
            recent = [t for t in times if now - t < seconds]
            if len(recent) >= count:
                wait = max(wait, recent[-count] + seconds - now)
        return wait

    def record(self, key: str, now: float) -> None:
        self._sent.setdefault(key, []).append(now)
        if len(self._sent) > 10_000:  # forget idle conversations
            cutoff = now - self._longest
            self._sent = {k: v for k, v in self._sent.items() if v and v[-1] > cutoff}


def reference_of(activity: Activity) -> dict[str, Any]:
    """The conversation reference of an activity, as plain JSON (the Bot Framework shape)."""
    return activity.get_conversation_reference().model_dump(mode="json", by_alias=True, exclude_none=True)


def load_reference(stored: dict[str, Any]) -> ConversationReference:
    """A stored reference, also one written by the botbuilder 4.17.1 release: that one names the
    tenant `conversation.tenantID`, which the SDK's model would drop."""
    conversation = stored.get("conversation")
    if isinstance(conversation, dict) and "tenantID" in conversation:
        conversation = {k: v for k, v in conversation.items() if k != "tenantID"}
        conversation.setdefault("tenantId", stored["conversation"]["tenantID"])
        stored = {**stored, "conversation": conversation}
    return ConversationReference.model_validate(stored)


def card_ref(turn: TurnContext, activity_id: str | None) -> dict[str, Any]:
    conversation = reference_of(turn.activity)
    # The id of the activity of this turn: a proactive update does not use it (it sends under a
    # new one), and without it every click on a card gives the same reference (no write).
    conversation.pop("activityId", None)
    return {"conversation": conversation, "activity_id": activity_id}


def words_of(activity: Activity, chosen: str | None = None) -> Words:
    """The person's language (their own choice if they made one, else the activity's locale, as
    Teams sets it from their client) and time zone (Teams' `clientInfo` entity), for what this
    turn shows them."""
    zone = time_zone(time_zone_name_of(activity))
    if chosen:
        return Words(chosen, zone)
    locale = activity.locale
    for entity in activity.entities or []:
        if not locale and getattr(entity, "type", None) == "clientInfo":
            found = getattr(entity, "locale", None)
            locale = found if isinstance(found, str) else None
    return Words(language_of(locale), zone)


def time_zone_name_of(activity: Activity) -> str | None:
    """The IANA time zone of the person's client (Teams' `clientInfo` entity), if it is a real one."""
    for entity in activity.entities or []:
        if getattr(entity, "type", None) == "clientInfo":
            name = getattr(entity, "timezone", None)
            if isinstance(name, str) and time_zone(name) is not None:
                return name
    return None


# Where a turn keeps the words of the person talking (bot/teams_bot.py), for its replies and for
# the apology when the turn fails (bot/web.py).
WORDS_KEY = "phone_connector.words"


def turn_words(turn: TurnContext) -> Words:
    """The words of the person of this turn: as worked out when the turn began, else from the activity."""
    words = turn.turn_state.get(WORDS_KEY)
    return words if isinstance(words, Words) else words_of(turn.activity)


class TurnChat:
    """The conversation of the current turn."""

    def __init__(self, turn: TurnContext) -> None:
        self._turn = turn
        self.words = turn_words(turn)

    async def send_card(self, card: AdaptiveCard) -> dict[str, Any]:
        response = await self._turn.send_activity(card_activity(card))
        return card_ref(self._turn, response.id if response else None)

    async def send_text(self, text: str) -> None:
        await self._turn.send_activity(text_activity(text))

    def clicked_card_ref(self) -> dict[str, Any] | None:
        reply_to = self._turn.activity.reply_to_id
        return card_ref(self._turn, reply_to) if reply_to else None

    def reference(self) -> dict[str, Any]:
        return reference_of(self._turn.activity)

    def files(self) -> list[tuple[str, str]]:
        return sent_files(self._turn.activity.attachments)


class ProactiveMessenger:
    """Sends and updates outside of a turn, through the adapter's continue_conversation."""

    def __init__(
        self,
        adapter: ChannelAdapter,
        app_id: str,
        trusted_hosts: tuple[str, ...] = (),
        authenticated: bool = True,
    ) -> None:
        self._adapter = adapter
        self._app_id = app_id
        self._trusted_hosts = tuple(h.lower() for h in trusted_hosts)
        self._authenticated = authenticated
        self._limit = ConversationRateLimit()
        # One lock per conversation while sends to it are under way (and how many hold or wait
        # for it): dropped once idle, so that a long-running bot does not keep one per chat ever seen.
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    async def send_card(self, conversation: dict[str, Any], card: AdaptiveCard) -> dict[str, Any]:
        sent: dict[str, Any] = {}

        async def callback(turn: TurnContext) -> None:
            response = await turn.send_activity(card_activity(card))
            sent.update(card_ref(turn, response.id if response else None))

        await self._continue(conversation, callback)
        return sent

    async def send_text(self, conversation: dict[str, Any], text: str) -> None:
        async def callback(turn: TurnContext) -> None:
            await turn.send_activity(text_activity(text))

        await self._continue(conversation, callback)

    async def send_stored(
        self, conversation: dict[str, Any], activity: dict[str, Any], update_of: str | None = None
    ) -> dict[str, Any]:
        """A reply kept in the outbox (RefusedReplies), sent as it was, or put in place of activity
        `update_of`; returns the reference of what arrived."""
        message = Activity.model_validate(activity)
        sent: dict[str, Any] = {}

        async def callback(turn: TurnContext) -> None:
            if update_of:
                message.id = update_of
                await turn.update_activity(message)
                sent.update(card_ref(turn, update_of))
            else:
                response = await turn.send_activity(message)
                sent.update(card_ref(turn, response.id if response else None))

        await self._continue(conversation, callback)
        return sent

    async def update(self, card_ref: dict[str, Any], card: AdaptiveCard) -> None:
        activity_id = card_ref.get("activity_id")
        if isinstance(activity_id, str) and activity_id.startswith(DEFERRED_PREFIX):
            # The card itself still waits in the outbox; once it is out, the reference is the real one.
            raise DeliveryRetry("the card is not delivered yet")

        async def callback(turn: TurnContext) -> None:
            if activity_id:
                await turn.update_activity(
                    Activity(type=ActivityTypes.message, id=activity_id, attachments=[attachment(card)])
                )
            else:
                await turn.send_activity(card_activity(card))

        await self._continue(card_ref["conversation"], callback)

    def is_trusted(self, service_url: str | None) -> bool:
        """The bot's token goes wherever a reference points: only Teams' service hosts over https.
        Loopback is allowed in local mode (no credentials), or when listed explicitly (tests)."""
        url = urlparse(service_url or "")
        host = (url.hostname or "").lower()
        loopback = host in ("127.0.0.1", "localhost", "::1")
        if (
            loopback
            and url.scheme in ("http", "https")
            and (not self._authenticated or host in self._trusted_hosts)
        ):
            return True
        return url.scheme == "https" and any(host == h or host.endswith("." + h) for h in self._trusted_hosts)

    async def _continue(self, conversation: dict[str, Any], callback: Any) -> None:
        try:
            reference = load_reference(conversation)
        except ValueError as exc:
            log.warning("refused a proactive send to an unreadable conversation reference")
            raise DeliveryFailed("conversation reference not readable") from exc
        if not self.is_trusted(reference.service_url):
            log.warning("refused a proactive send to an untrusted service URL host")
            raise DeliveryFailed("service URL not on the allowlist")
        key = reference.conversation.id if reference.conversation else ""
        lock, users = self._locks.get(key) or (asyncio.Lock(), 0)
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                await self._send_locked(key, reference, callback)
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    async def _send_locked(self, key: str, reference: Any, callback: Any) -> None:
        """One send, within the conversation's rate limit (the caller holds its lock)."""
        wait = self._limit.delay(key, time.monotonic())
        if wait > 0:
            await asyncio.sleep(wait)
        # The adapter hands exceptions raised in the callback to on_turn_error and returns
        # normally: catch them here, or a throttled send would count as delivered.
        failures: list[Exception] = []

        async def guarded(turn: TurnContext) -> None:
            try:
                await callback(turn)
            except Exception as exc:
                failures.append(exc)

        try:
            await self._adapter.continue_conversation(
                self._app_id, reference.get_continuation_activity(), guarded
            )
        except Exception as exc:
            raise classify(exc) from exc
        finally:
            self._limit.record(key, time.monotonic())
        if failures:
            raise classify(failures[0]) from failures[0]


def classify(error: Exception) -> Exception:
    """Turn a connector failure into DeliveryRetry (429, 5xx, network) or DeliveryFailed."""
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None)
    if status is None:
        return DeliveryRetry(f"{type(error).__name__}")
    if status == 429 or status >= 500 or status in (408, 412):
        headers = getattr(response, "headers", None)
        # Not capped: the outbox retries later in the background, so a long wait holds up no one.
        retry_after = retry_after_seconds(headers) if isinstance(headers, Mapping) else None
        return DeliveryRetry(f"HTTP {status}", retry_after)
    if status in (403, 404):
        return ChatRefused(f"HTTP {status}")
    return DeliveryFailed(f"HTTP {status}")


class RefusedReplies:
    """Agents SDK middleware (app.py): a reply the channel refuses during a turn (429 beyond the
    in-turn retries, 5xx, no answer) goes to the outbox and is delivered later, never dropped
    (issue 17). The turn carries on as if it had been sent.

    Once one reply of a turn is refused, the turn's later replies follow it into the outbox without
    trying: they keep their order, and a throttled chat is not pressed again. A card the turn keeps
    a reference to (the add form as its request's card, an approval card listed by `pending`) gets
    a reference whose activity id starts with DEFERRED_PREFIX; the sender replaces it with the real
    one when the card arrives (dialogs/notifications.py). A refusal for good (403: the user removed
    the bot) is not kept: it fails the turn as before."""

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    async def on_turn(self, turn: TurnContext, logic: Callable[[TurnContext], Awaitable[Any]]) -> None:
        if not is_continuation(turn.activity):  # a proactive send's refusal goes back to the outbox
            replies = _TurnReplies(self._outbox, turn)
            turn.on_send_activities(replies.send)
            turn.on_update_activity(replies.update)
        await logic(turn)


class _TurnReplies:
    def __init__(self, outbox: Outbox, turn: TurnContext) -> None:
        self._outbox = outbox
        self._turn = turn
        self._refused: DeliveryRetry | None = None

    async def send(
        self,
        turn: TurnContext,
        activities: list[Activity],
        send: Callable[[], Awaitable[list[ResourceResponse]]],
    ) -> list[ResourceResponse]:
        if self._refused is None or any(a.type != ActivityTypes.message for a in activities):
            try:
                return await send()
            except ConnectorError as exc:
                self._refused = self._refusal(exc)
        placeholders = [f"{DEFERRED_PREFIX}{uuid.uuid4().hex}" for _ in activities]
        await self._keep([(a, p, None) for a, p in zip(activities, placeholders, strict=True)])
        return [ResourceResponse(id=p) for p in placeholders]

    async def update(
        self, turn: TurnContext, activity: Activity, update: Callable[[], Awaitable[ResourceResponse]]
    ) -> ResourceResponse:
        if self._refused is None:
            try:
                return await update()
            except ConnectorError as exc:
                self._refused = self._refusal(exc)
        await self._keep([(activity, None, activity.id)])
        return ResourceResponse(id=activity.id)

    def _refusal(self, error: ConnectorError) -> DeliveryRetry:
        refused = classify(error)
        if not isinstance(refused, DeliveryRetry):
            raise error
        log.warning("the channel refused a reply (%s): it goes to the outbox", refused.reason)
        return refused

    async def _keep(self, replies: list[tuple[Activity, str | None, str | None]]) -> None:
        """Into the outbox: each reply's content and its conversation's reference, to its sender."""
        from bot.teams_bot import tenant_of  # the one home of that rule; it imports this module

        assert self._refused is not None
        sender = self._turn.activity.from_property
        tenant, person = tenant_of(self._turn.activity) or None, sender.aad_object_id if sender else None
        notices = []
        for activity, placeholder, update_of in replies:
            content = activity.model_dump(mode="json", by_alias=True, exclude_none=True)
            kept = {k: v for k, v in content.items() if k in KEPT_FIELDS}
            payload: dict[str, Any] = {
                "conversation": card_ref(self._turn, None)["conversation"],
                "activity": kept,
            }
            if placeholder:
                payload["placeholder"] = card_ref(self._turn, placeholder)
            if update_of:
                payload["update_of"] = update_of
            notices.append(
                Notice(
                    kind=NoticeKind.reply,
                    request_id=_request_of(kept),
                    recipient_tenant_id=tenant if person else None,
                    recipient_id=person if tenant else None,
                    payload=payload,
                )
            )
        wait = self._refused.seconds if self._refused.seconds is not None else OUTBOX_RETRY.backoff(1)
        await self._outbox.add(notices, delay_seconds=max(REPLY_FIRST_DELAY_SECONDS, wait))


def _request_of(activity: dict[str, Any]) -> str | None:
    """The request a card is about, if any: cards carry ids only (`requestId` in their buttons'
    data). A refused reply about a request waits for that request's earlier notices."""
    stack: list[Any] = [activity.get("attachments")]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            found = node.get("requestId")
            if isinstance(found, str) and 0 < len(found) <= 36:
                return found
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            stack.extend(reversed(node))
    return None
