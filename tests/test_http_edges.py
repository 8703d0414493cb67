"""The HTTP boundary: bad input gets a clear 4xx, never a 500; health and readiness answer."""

from __future__ import annotations

import aiohttp

from tests.conftest import RunningBot
from tests.doubles import ConnectorDouble, TeamsUser


async def post_raw(
    http: aiohttp.ClientSession, bot: RunningBot, data: bytes, content_type: str
) -> tuple[int, str]:
    async with http.post(
        f"{bot.url}/api/messages", data=data, headers={"Content-Type": content_type}
    ) as resp:
        return resp.status, await resp.text()


async def test_health_and_readiness(http: aiohttp.ClientSession, bot: RunningBot):
    async with http.get(f"{bot.url}/healthz") as resp:
        assert resp.status == 200 and (await resp.json())["status"] == "ok"
    async with http.get(f"{bot.url}/readyz") as resp:
        body = await resp.json()
        assert resp.status == 200
        assert body == {"status": "ready", "database": "ok", "provisioning": "ok"}


async def test_readiness_fails_when_storage_is_gone(http: aiohttp.ClientSession, bot: RunningBot):
    from bot.web import RUNTIME

    async def broken() -> None:
        raise ConnectionError("database is down")

    assert bot.app is not None
    bot.app[RUNTIME].readiness["database"] = broken
    async with http.get(f"{bot.url}/readyz") as resp:
        assert resp.status == 503
        assert (await resp.json())["database"] == "unavailable"


async def test_malformed_bodies_get_400_with_a_reason(http: aiohttp.ClientSession, bot: RunningBot):
    cases = [
        b"",
        b"{not json",
        b"[1, 2]",
        b'"text"',
        b"{}",
        b'{"type": "message"}',
        b'{"type": 5}',
        b'{"type": "message", "conversation": "x", "serviceUrl": "http://x"}',
        b'{"type": "message", "conversation": {"id": "c"}, "serviceUrl": "http://x", "text": 7}',
        b"\xff\xfe\x00",
    ]
    for body in cases:
        status, text = await post_raw(http, bot, body, "application/json")
        assert status == 400, (body, status, text)
        assert "error" in text


async def test_wrong_content_type_gets_415(http: aiohttp.ClientSession, bot: RunningBot):
    status, _ = await post_raw(http, bot, b"type=message", "application/x-www-form-urlencoded")
    assert status == 415


async def test_oversized_body_gets_413(http: aiohttp.ClientSession, bot: RunningBot):
    big = b'{"type": "message", "text": "' + b"a" * (300 * 1024) + b'"}'
    status, _ = await post_raw(http, bot, big, "application/json")
    assert status == 413


async def test_unknown_activity_and_invoke_are_answered_politely(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble
):
    resp = await admin.post(admin._activity(type="somethingNew"))
    assert resp.status in (200, 201)
    resp = await admin.post(admin._activity(type="invoke", name="composeExtension/unknown", value={}))
    assert resp.status == 200
    answer = await admin.invoke_action("msg-x", "no.such.verb", {"requestId": "x", "version": 1})
    assert answer["statusCode"] == 200 and "Unknown button" in str(answer["value"])
    answer = await admin.invoke_action("msg-x", "addUser.confirm", {"requestId": "nope", "version": "x"})
    assert "not valid" in str(answer["value"])


async def test_hostile_card_values_are_refused_with_a_field_message(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble
):
    from tests.doubles import card_text

    await admin.say("add user")
    sent = await connector.wait_for(lambda s: "Add a phone user" in card_text(s.card))
    hostile = {
        "teamsUser": {"$ne": 1},
        "extension": "10\u202e5",
        "sipAuthId": "x" * 5000,
        "voiceRoute": ["CA Central"],
    }
    answer = await admin.click(sent.activity_id, sent.card, "Review", hostile)
    text = card_text(answer["value"])
    assert "Please fix the fields marked below." in text
    assert "Must be text." in text
    assert "Contains control or formatting characters." in text
    assert "This value is too long." in text


async def test_one_structured_log_line_per_turn(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble, caplog
):
    import json
    import logging

    from bot.logging_setup import JsonFormatter
    from tests.doubles import CONTOSO

    caplog.set_level(logging.INFO, logger="bot.turns")
    await admin.say("help")
    turns = [r for r in caplog.records if r.name == "bot.turns"]
    assert len(turns) == 1
    line = json.loads(JsonFormatter().format(turns[0]))
    assert line["activity_type"] == "message"
    assert line["tenant"] == CONTOSO
    assert line["conversation"] == admin.conversation_id
    assert line["outcome"] == 201
    assert isinstance(line["duration_ms"], float)


async def test_tenant_comes_from_conversation_tenant_id_without_channel_data(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble
):
    from tests.doubles import card_text

    activity = admin._activity(type="message", text="add user")
    del activity["channelData"]
    assert (await admin.post(activity)).status == 201
    sent = await connector.wait_for(lambda s: bool(s.text) or s.card is not None)
    assert "Add a phone user to Contoso" in card_text(sent.card), sent.text


async def test_deeply_nested_json_gets_400_not_500(http: aiohttp.ClientSession, bot: RunningBot):
    """JSON nested deeper than Python's recursion limit (json.loads raises RecursionError)."""
    deep = b"[" * 100_000
    assert (await post_raw(http, bot, deep, "application/json"))[0] == 400
    callback = f"{bot.url}/api/ctt/callback"
    for options in (
        {"params": {"state": "[" * 3000}},
        {"params": {"state": "s"}, "data": deep, "headers": {"Content-Type": "application/json"}},
        {"params": {"state": "s"}, "data": {"authenticationResult": "[" * 3000}},
    ):
        method = "POST" if "data" in options else "GET"
        async with http.request(method, callback, **options) as resp:
            assert 400 <= resp.status < 500, options
