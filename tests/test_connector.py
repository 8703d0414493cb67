"""The fast reply path: one keep-alive connection for many replies; throttling retried in-turn."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from tests.conftest import RunningBot
from tests.doubles import ConnectorDouble, TeamsUser, card_text


async def test_many_turns_share_one_connection(bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble):
    for _ in range(20):
        assert await admin.say("help") == 201
    assert len([s for s in connector.sent if "Teams Phone Connector" in card_text(s.card)]) == 20
    assert len(connector.peers) == 1, (
        "the SDK's own client factory opens a new session (and TCP connection) per turn"
    )


async def test_throttled_reply_is_retried_honouring_retry_after(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble
):
    connector.fail_next(429, retry_after="0.5")
    started = time.monotonic()
    assert await admin.say("help") == 201
    assert time.monotonic() - started >= 0.5
    assert connector.refused == [("POST", 429)]
    assert len([s for s in connector.sent if "Teams Phone Connector" in card_text(s.card)]) == 1


async def test_throttled_reply_is_retried_at_the_http_date_of_retry_after(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble
):
    # An HTTP-date has whole seconds: this one is between one and two seconds ahead.
    retry_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    connector.fail_next(429, retry_after=format_datetime(retry_at, usegmt=True))
    assert await admin.say("help") == 201
    assert datetime.now(UTC) >= retry_at, "the reply was retried before the date the connector named"
    assert connector.refused == [("POST", 429)]
    assert len([s for s in connector.sent if "Teams Phone Connector" in card_text(s.card)]) == 1


async def test_conversation_ids_with_special_characters_are_quoted(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble
):
    admin.conversation_id = "19:abc@thread.tacv2;messageid=123"
    assert await admin.say("help") == 201
    assert connector.sent[-1].conversation_id == "19:abc@thread.tacv2;messageid=123"


def test_conversation_rate_limit_follows_teams_windows():
    from bot.chat import ConversationRateLimit

    limit = ConversationRateLimit()
    now = 1000.0
    for _ in range(7):
        assert limit.delay("c", now) == 0
        limit.record("c", now)
    assert limit.delay("c", now) == 1.0, "the 8th message in one second waits for the 1 s window"
    assert limit.delay("other", now) == 0, "limits are per conversation"
    limit.record("c", now + 1.0)
    assert abs(limit.delay("c", now + 1.0) - 1.0) < 1e-9, "8 in 2 s: the 9th waits for the 2 s window"
