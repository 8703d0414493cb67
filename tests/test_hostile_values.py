"""Issue 17, findings 5 and 6, over HTTP on SQLite and PostgreSQL: values no database can hold (lone
surrogates, NUL) and numbers that do not fit (1e999) are refused or cleaned at the edge, never a
traceback; conversation references are kept only for people the directory knows, within a bound."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import event, func, select

from services import db, inbound
from services.notify.conversations import ConversationBook
from tests.conftest import RunningBot, make_settings, running_bot
from tests.doubles import (
    CONTOSO,
    CONTOSO_ADMIN,
    FABRIKAM,
    NORTHWIND,
    NORTHWIND_PARTNER,
    ConnectorDouble,
    card_text,
)
from tests.pg import pg_server, pg_url  # noqa: F401  (fixtures)

ENGINES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=ENGINES)
async def hostile_bot(
    request: pytest.FixtureRequest, tmp_path: Path, connector: ConnectorDouble
) -> AsyncIterator[RunningBot]:
    extra = {} if request.param == "sqlite" else {"DATABASE_URL": request.getfixturevalue("pg_url")}
    async with running_bot(make_settings(tmp_path, **extra)) as running:
        yield running


def activity(connector: ConnectorDouble, tenant: str, aad: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": "message",
        "id": "a1",
        "channelId": "msteams",
        "serviceUrl": connector.url,
        "from": {"id": f"29:{aad}", "aadObjectId": aad, "name": "Someone"},
        "recipient": {"id": "28:bot"},
        "conversation": {"id": f"conv-{aad}", "tenantId": tenant, "conversationType": "personal"},
        "locale": "en-US",
        **fields,
    }


async def post(bot: RunningBot, raw: bytes) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{bot.url}/api/messages", data=raw, headers={"Content-Type": "application/json"}
        ) as response:
            text = await response.text()
            return response.status, json.loads(text) if text else None


async def rows(bot: RunningBot, table: Any) -> int:
    query = select(func.count()).select_from(table)
    return await bot.runtime.database.read(lambda conn: conn.execute(query).scalar_one())


def no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.exc_info], "a turn failed with an exception"


@pytest.mark.parametrize(
    ("verb", "said"),
    [("approval.approve", "Not found"), ("addUser.submitForm", "This card is not valid")],
)
async def test_version_1e999_on_a_click_is_refused_without_a_traceback(
    hostile_bot: RunningBot,
    connector: ConnectorDouble,
    caplog: pytest.LogCaptureFixture,
    verb: str,
    said: str,
):
    caplog.set_level(logging.INFO)
    body = activity(
        connector,
        CONTOSO,
        CONTOSO_ADMIN,
        type="invoke",
        name="adaptiveCard/action",
        value={
            "action": {"type": "Action.Execute", "verb": verb, "data": {"requestId": "r-1", "version": 0}}
        },
    )
    # Python's json reads 1e999 as infinity; int() of that is the OverflowError of the report.
    raw = json.dumps(body).replace('"version": 0', '"version": 1e999').encode()
    before = await rows(hostile_bot, db.requests)
    status, answer = await post(hostile_bot, raw)
    assert status == 200
    assert said in card_text(answer["value"])
    assert await rows(hostile_bot, db.requests) == before
    no_traceback(caplog)


@pytest.mark.parametrize(
    ("where", "change"),
    [
        ("from.aadObjectId", lambda b: b["from"].update(aadObjectId="\ud800")),
        ("conversation.id", lambda b: b["conversation"].update(id="conv\x00x")),
        ("from.id", lambda b: b["from"].update(id="29:\x07x")),
        ("conversation.tenantId", lambda b: b["conversation"].update(tenantId=CONTOSO + "\udfff")),
        ("recipient.id", lambda b: b["recipient"].update(id="28:\x1bbot")),
    ],
)
async def test_ids_with_lone_surrogates_or_control_characters_get_400(
    hostile_bot: RunningBot, connector: ConnectorDouble, caplog: pytest.LogCaptureFixture, where: str, change
):
    caplog.set_level(logging.INFO)
    body = activity(connector, CONTOSO, CONTOSO_ADMIN, text="help")
    change(body)
    before = (await rows(hostile_bot, db.conversations), await rows(hostile_bot, db.audit))
    status, answer = await post(hostile_bot, json.dumps(body).encode())
    assert status == 400
    assert answer["error"] == f"Activity field '{where}' holds control characters or invalid Unicode."
    assert (await rows(hostile_bot, db.conversations), await rows(hostile_bot, db.audit)) == before
    assert connector.sent == []
    no_traceback(caplog)


async def test_nul_and_a_lone_surrogate_in_a_message_and_a_name_are_cleaned_out(
    hostile_bot: RunningBot, connector: ConnectorDouble, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO)
    body = activity(connector, CONTOSO, CONTOSO_ADMIN, text="he\x00lp\ud800")
    body["from"]["name"] = "Ada\x00\ud800 Admin"
    status, _ = await post(hostile_bot, json.dumps(body).encode())
    assert status in (200, 201)
    reply = await connector.wait_for(lambda s: s.conversation_id == f"conv-{CONTOSO_ADMIN}")
    assert "I don't know" not in json.dumps(reply.activity), "the cleaned text is the command 'help'"
    # Card values deep in an invoke: a NUL in a request id reaches no database.
    card = activity(
        connector,
        CONTOSO,
        CONTOSO_ADMIN,
        type="invoke",
        name="adaptiveCard/action",
        value={"action": {"verb": "approval.approve", "data": {"requestId": "r\x00\ud800", "version": 1}}},
    )
    status, answer = await post(hostile_bot, json.dumps(card).encode())
    assert status == 200 and "Not found" in card_text(answer["value"])
    assert await rows(hostile_bot, db.requests) == 0
    no_traceback(caplog)


async def test_a_storm_of_conversation_updates_from_strangers_stores_nothing(
    hostile_bot: RunningBot, connector: ConnectorDouble
):
    before = await rows(hostile_bot, db.conversations)
    for i in range(60):
        # Unknown tenants, and unknown people of unknown tenants.
        tenant = f"tenant-{i}" if i % 2 else "ffffffff-0000-0000-0000-000000000000"
        body = activity(connector, tenant, f"stranger-{i}", type="conversationUpdate")
        body["membersAdded"] = [{"id": f"29:stranger-{i}"}, {"id": "28:bot"}]
        status, _ = await post(hostile_bot, json.dumps(body).encode())
        assert status in (200, 201)
    assert await rows(hostile_bot, db.conversations) == before
    # People the directory knows are still remembered.
    for tenant, aad in ((CONTOSO, CONTOSO_ADMIN), (NORTHWIND, NORTHWIND_PARTNER)):
        await post(
            hostile_bot, json.dumps(activity(connector, tenant, aad, type="conversationUpdate")).encode()
        )
    assert await rows(hostile_bot, db.conversations) == before + 2


async def test_the_bound_per_tenant_holds_and_the_least_recently_seen_goes(hostile_bot: RunningBot):
    book = ConversationBook(hostile_bot.runtime.database, max_per_tenant=3)
    for i in range(8):
        await book.remember(CONTOSO, f"person-{i}", f"29:{i}", "P", {"conversation": {"id": f"c{i}"}})
    await book.remember(NORTHWIND, "other", "29:o", "O", {"conversation": {"id": "o"}})
    c = db.conversations
    query = select(c.c.tenant_id, c.c.aad_object_id)
    kept = await hostile_bot.runtime.database.read(lambda conn: conn.execute(query).all())
    assert sorted(a for t, a in kept if t == CONTOSO) == ["person-5", "person-6", "person-7"]
    assert [a for t, a in kept if t == NORTHWIND] == ["other"]


async def test_far_from_the_bound_a_new_person_costs_no_count_and_the_bound_still_holds(
    hostile_bot: RunningBot,
):
    """Issue 22: the tenant's count is taken again only near the bound or after ROOM_SECONDS."""
    database = hostile_bot.runtime.database
    book = ConversationBook(database, max_per_tenant=20)
    counts: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "count(" in statement.lower() and "conversations" in statement:
            counts.append(statement)

    for engine in database.sync_engines:
        event.listen(engine, "before_cursor_execute", record)
    for i in range(40):
        await book.remember(FABRIKAM, f"person-{i:02}", f"29:{i}", "P", {"conversation": {"id": f"c{i}"}})
    c = db.conversations
    query = select(c.c.aad_object_id).where(c.c.tenant_id == FABRIKAM)
    kept = sorted(await database.read(lambda conn: conn.execute(query).scalars().all()))
    assert kept == [f"person-{i:02}" for i in range(20, 40)], "the 20 seen last are kept"
    assert 0 < len(counts) < 30, "counted at the first, and from 90 % of the bound on"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3, 3),
        ("7", 7),
        (4.0, 4),
        (float("inf"), None),
        (float("nan"), None),
        (1e999, None),
        (2**31, None),
        (10**400, None),
        (True, None),
        (False, None),
        (-1, None),
        (2.5, None),
        ("1e999", None),
        ("\u0661", None),  # an Arabic-Indic one: int() would take it
        ("9" * 5000, None),
        (None, None),
        ([1], None),
    ],
)
def test_card_numbers_that_do_not_fit_are_refused(value: Any, expected: int | None):
    assert inbound.card_int(value) == expected


def test_ids_and_free_text():
    assert inbound.id_is_unfit("a\ud800") and inbound.id_is_unfit("a\x00") and inbound.id_is_unfit("\x7f")
    assert not inbound.id_is_unfit("19:abc@thread.v2") and not inbound.id_is_unfit("29:1-é")
    assert inbound.clean_text("a\x00b\ud800c\n\td\x1b") == "abc\n\td"
    assert inbound.storable({"k\x00": ["\ud800", 1, {"x": "ok"}]}) == {"k\ufffd": ["\ufffd", 1, {"x": "ok"}]}
