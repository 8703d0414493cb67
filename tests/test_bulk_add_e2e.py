"""Bulk add over HTTP (issue 18, the pasted path): Ada pastes five rows, two with problems, sees the
report before anything is written, adds the three good ones (one progress card, each row once even
when "Add" is clicked twice), fixes the rest and adds them; cancel; who may; a hostile paste."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web
from sqlalchemy import select

from services import db
from tests.conftest import RunningBot, make_settings, running_bot
from tests.doubles import (
    CONTOSO,
    CONTOSO_ADMIN,
    CONTOSO_USER,
    NORTHWIND,
    NORTHWIND_PARTNER,
    ConnectorDouble,
    TeamsUser,
    card_actions,
    card_text,
)

FIVE = """bulk add
Teams user;Extension;Voice route
adele@contoso.example;105;CA Central
isaiah@contoso.example;106;US West
nestor@contoso.example;107;CA Central
patti@contoso.example;101;CA Central
lynne@contoso.example;108;CA Central"""


async def report(admin: TeamsUser, connector: ConnectorDouble, text: str) -> tuple[str, dict]:
    before = len(connector.sent)
    assert await admin.say(text) == 201
    sent = await connector.wait_for(lambda s: s in connector.sent[before:] and s.card is not None)
    return sent.activity_id, sent.card


async def finished(connector: ConnectorDouble, card_id: str) -> dict:
    sent = await connector.wait_for(
        lambda s: s.method == "PUT" and s.activity_id == card_id and "Finished." in card_text(s.card),
        within=20,
    )
    return sent.card


async def added(bot: RunningBot) -> dict[str, str]:
    tu = db.teams_users
    query = select(tu.c.upn, tu.c.extension).where(tu.c.tenant_id == CONTOSO, tu.c.calling_enabled.is_(True))
    return dict(await bot.runtime.database.read(lambda conn: conn.execute(query).all()))


async def test_ada_pastes_five_rows_adds_three_then_the_fixed_two(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble
):
    _, help_card = await report(admin, connector, "bulk add")
    assert "Add many phone users at once" in card_text(help_card)

    card_id, checked = await report(admin, connector, FIVE)
    text = card_text(checked)
    assert "3 user(s) ready to add, 2 problem(s). Nothing has been sent yet." in text
    assert "Line 4: nestor@contoso.example has no Teams Phone licence." in text
    assert "Line 5: Extension 101 is already assigned to alex@contoso.example." in text
    assert "adele@contoso.example" not in await added(bot), "nothing written before Add"

    first, second = await asyncio.gather(
        admin.click(card_id, checked, "Add 3 user(s)"), admin.click(card_id, checked, "Add 3 user(s)")
    )
    assert "Bulk add for Contoso" in card_text(first["value"]) + card_text(second["value"])
    done = card_text(await finished(connector, card_id))
    assert "**Finished.** 3 of 3 user(s) added." in done and "Added: 3" in done
    results = await connector.wait_for(lambda s: "The results, as CSV to copy into Excel:" in s.text)
    assert "line,Teams user,Extension,result,reason" in results.text
    assert "2,adele@contoso.example,105,Done," in results.text
    # The rows the check left out stay named once the report card has become the progress card.
    assert "Not in this batch, from the check" in done and "Line 5: Extension 101 is already" in done
    assert (
        "4,nestor@contoso.example,107,Not added,nestor@contoso.example has no Teams Phone licence."
        in results.text
    )
    assert {"adele@contoso.example", "isaiah@contoso.example", "lynne@contoso.example"} <= set(
        await added(bot)
    )
    audit = [a.action for a in await bot.runtime.requests.audit_of_tenant(CONTOSO, limit=500)]
    assert audit.count("add_user") == 3 and audit.count("queue") == 3, "each row once"

    fixed = "bulk add\nupn,ext,route\npatti@contoso.example,109,US West\n"
    card_id, checked = await report(admin, connector, fixed)
    assert "1 user(s) ready to add, 0 problem(s)." in card_text(checked)
    await admin.click(card_id, checked, "Add 1 user(s)")
    await finished(connector, card_id)
    assert (await added(bot))["patti@contoso.example"] == "109"


async def test_rows_whose_line_breaks_teams_kept_only_in_html_are_read(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble
):
    """Teams may send a message typed on several lines with spaces in `text` and the lines in a
    text/html attachment (bot/message_text.py)."""
    lines = FIVE.splitlines()
    activity = admin._activity(
        type="message",
        text=" ".join(lines),
        attachments=[
            {
                "contentType": "text/html",
                "content": "<div>" + "".join(f"<div>{x}</div>" for x in lines) + "</div>",
            }
        ],
    )
    before = len(connector.sent)
    assert (await admin.post(activity)).status == 201
    sent = await connector.wait_for(lambda s: s in connector.sent[before:] and s.card is not None)
    assert "3 user(s) ready to add, 2 problem(s)." in card_text(sent.card)


async def test_rows_pasted_in_the_help_card_s_box(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble
):
    """The help card's box keeps the line breaks whatever the client does to a typed message."""
    card_id, help_card = await report(admin, connector, "bulk add")
    empty = (await admin.click(card_id, help_card, "Check the rows", {"rows": "  "}))["value"]
    assert "Paste the rows first." in card_text(empty)
    rows = FIVE.split("\n", 1)[1]
    checked = (await admin.click(card_id, help_card, "Check the rows", {"rows": rows}))["value"]
    assert "3 user(s) ready to add, 2 problem(s)." in card_text(checked)
    await admin.click(card_id, checked, "Add 3 user(s)")
    assert "**Finished.** 3 of 3 user(s) added." in card_text(await finished(connector, card_id))


async def test_cancel_before_adding_sends_nothing(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble
):
    card_id, checked = await report(admin, connector, FIVE)
    cancelled = (await admin.click(card_id, checked, "Cancel"))["value"]
    assert "Cancelled: 3" in card_text(cancelled) and "Add 3 user(s)" not in card_actions(cancelled)
    again = (await admin.click(card_id, checked, "Add 3 user(s)"))["value"]
    assert "Added: 0" in card_text(again)
    assert "adele@contoso.example" not in await added(bot)


async def test_only_a_tenant_s_global_admin_and_only_their_own_batch(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble, http: aiohttp.ClientSession
):
    user = TeamsUser(http, bot.url, connector.url, CONTOSO, CONTOSO_USER, "Una User")
    assert await user.say(FIVE) == 201
    await connector.wait_for(
        lambda s: s.conversation_id == user.conversation_id and "not authorised" in s.text
    )
    pat = TeamsUser(http, bot.url, connector.url, NORTHWIND, NORTHWIND_PARTNER, "Pat Partner")
    assert await pat.say(FIVE) == 201  # a partner's rows go to the enterprise it picked: none yet
    await connector.wait_for(
        lambda s: s.conversation_id == pat.conversation_id and "Pick the enterprise first" in s.text
    )
    card_id, checked = await report(admin, connector, FIVE)
    stolen = (await pat.click(card_id, checked, "Add 3 user(s)"))["value"]
    assert "Not allowed" in card_text(stolen)
    assert "adele@contoso.example" not in await added(bot)


async def test_a_hostile_paste_gets_a_reason_and_nothing_is_written(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble
):
    hostile = "bulk add\nupn,ext\n=cmd|' /C calc'!A0,105\n\"unclosed,106\n"
    _, checked = await report(admin, connector, hostile)
    assert "0 user(s) ready to add" in card_text(checked)
    assert await added(bot) == {"megan@contoso.example": "100", "alex@contoso.example": "101"}


async def test_rows_the_service_refuses_are_reported_and_tried_again(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble
):
    card_id, checked = await report(admin, connector, FIVE)
    bot.runtime.provisioning.faults.fail_next("add_user", times=2)  # the service does not answer twice
    await admin.click(card_id, checked, "Add 3 user(s)")
    done = await finished(connector, card_id)
    text = card_text(done)
    assert "**Finished.** 1 of 3 user(s) added." in text and "Failed: 2" in text
    assert "did not answer in time" in text
    await admin.click(card_id, done, "Try the failed rows again")
    again = await connector.wait_for(
        lambda s: s.activity_id == card_id and "3 of 3 user(s) added" in card_text(s.card), within=20
    )
    assert "Try the failed rows again" not in card_actions(again.card)
    audit = [a.action for a in await bot.runtime.requests.audit_of_tenant(CONTOSO, limit=500)]
    assert audit.count("add_user") == 3, "each user added once"


async def test_a_restart_mid_batch_adds_every_row_once(
    tmp_path, http: aiohttp.ClientSession, connector: ConnectorDouble
):
    settings = make_settings(
        tmp_path, EMBEDDED_DELAY_SECONDS="0.2", BULK_CONCURRENCY="1", SHUTDOWN_GRACE_SECONDS="0"
    )
    async with running_bot(settings) as running:
        ada = TeamsUser(http, running.url, connector.url, CONTOSO, CONTOSO_ADMIN, "Ada Admin")
        card_id, checked = await report(ada, connector, FIVE)
        await ada.click(card_id, checked, "Add 3 user(s)")
        r = db.requests
        done = select(r.c.request_id).where(r.c.batch_id.is_not(None), r.c.state == "done")
        for _ in range(200):  # the first row done, the others waiting or running
            if await running.runtime.database.read(lambda conn: conn.execute(done).all()):
                break
            await asyncio.sleep(0.02)
        await running.restart()  # rows still waiting and one cut off mid-step
        done = card_text(await finished(connector, card_id))
        assert "**Finished.** 3 of 3 user(s) added." in done
        audit = [a.action for a in await running.runtime.requests.audit_of_tenant(CONTOSO, limit=500)]
        assert audit.count("add_user") == 3 and audit.count("submit") == 3, audit


async def test_in_french(bot: RunningBot, connector: ConnectorDouble, http: aiohttp.ClientSession):
    ada = TeamsUser(
        http,
        bot.url,
        connector.url,
        CONTOSO,
        CONTOSO_ADMIN,
        "Ada Admin",
        locale="fr-CA",
        time_zone="America/Toronto",
    )
    card_id, checked = await report(ada, connector, FIVE.replace("bulk add", "ajout en bloc"))
    assert "3 utilisateur(s) prêt(s) à ajouter, 2 problème(s)." in card_text(checked)
    await ada.click(card_id, checked, "Ajouter 3 utilisateur(s)")
    await connector.wait_for(
        lambda s: s.activity_id == card_id and "3 utilisateur(s) sur 3 ajouté(s)" in card_text(s.card),
        within=20,
    )


# -- the file path: a CSV sent in the chat, fetched from where Teams keeps it -----------------------


async def serve_files(files: dict[str, bytes]) -> tuple[web.AppRunner, str]:
    """Files on 127.0.0.1, as the sender's OneDrive would serve them (local mode allows loopback)."""

    async def get(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name == "moved.csv":
            raise web.HTTPFound("https://elsewhere.example/users.csv")
        if name not in files:
            raise web.HTTPNotFound()
        return web.Response(body=files[name], content_type="text/csv")

    app = web.Application()
    app.router.add_get("/files/{name}", get)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/files"


def file_message(admin: TeamsUser, url: str, name: str = "users.csv") -> dict:
    info = {"downloadUrl": url, "uniqueId": "1b2c", "fileType": name.rsplit(".", 1)[-1]}
    attachment = {
        "contentType": "application/vnd.microsoft.teams.file.download.info",
        "name": name,
        "content": info,
    }
    return admin._activity(type="message", text="", attachments=[attachment])


async def test_a_csv_file_sent_in_the_chat_is_checked_and_added(
    bot: RunningBot, admin: TeamsUser, connector: ConnectorDouble
):
    rows = FIVE.split("\n", 1)[1].encode("utf-8-sig")
    runner, base = await serve_files(
        {"users.csv": rows, "big.csv": b"upn,ext\n" + b"a@x,1\n" * 200_000, "photo.csv": b"\x89PNG\x00\x00"}
    )
    try:
        before = len(connector.sent)
        assert (await admin.post(file_message(admin, f"{base}/users.csv"))).status == 201
        sent = await connector.wait_for(lambda s: s in connector.sent[before:] and s.card is not None)
        assert "3 user(s) ready to add, 2 problem(s)." in card_text(sent.card)
        await admin.click(sent.activity_id, sent.card, "Add 3 user(s)")
        await finished(connector, sent.activity_id)

        refusals = {
            f"{base}/big.csv": "larger than 1 MB",
            f"{base}/photo.csv": "holds binary data",
            f"{base}/gone.csv": "Teams did not give the file (HTTP 404)",
            f"{base}/moved.csv": "Teams did not give the file (HTTP 302)",
            "https://evil.example/users.csv": "The bot only reads files sent in this chat from Teams",
            "file:///etc/passwd": "The bot only reads files sent in this chat from Teams",
        }
        for url, reason in refusals.items():
            before = len(connector.sent)
            assert (await admin.post(file_message(admin, url))).status == 201
            await connector.wait_for(
                lambda s, reason=reason, before=before: s in connector.sent[before:] and reason in s.text
            )
    finally:
        await runner.cleanup()


async def test_cancel_mid_way_stops_the_rows_not_started(
    tmp_path, http: aiohttp.ClientSession, connector: ConnectorDouble
):
    settings = make_settings(tmp_path, EMBEDDED_DELAY_SECONDS="0.2", BULK_CONCURRENCY="1")
    async with running_bot(settings) as running:
        ada = TeamsUser(http, running.url, connector.url, CONTOSO, CONTOSO_ADMIN, "Ada Admin")
        card_id, checked = await report(ada, connector, FIVE)
        progress = (await ada.click(card_id, checked, "Add 3 user(s)"))["value"]
        r = db.requests
        started = select(r.c.request_id).where(r.c.batch_id.is_not(None), r.c.state == "submitted")
        for _ in range(200):  # the first row started, the others waiting
            if await running.runtime.database.read(lambda conn: conn.execute(started).all()):
                break
            await asyncio.sleep(0.01)
        stopped = (await ada.click(card_id, progress, "Cancel"))["value"]
        assert "Cancelled: 2" in card_text(stopped) or "Cancelled: 1" in card_text(stopped)
        done = card_text(await finished(connector, card_id))
        added_now = await added(running)
        cancelled = int(done.split("Cancelled: ")[1].split()[0])
        assert cancelled >= 1 and len(added_now) - 2 == 3 - cancelled, (done, added_now)
