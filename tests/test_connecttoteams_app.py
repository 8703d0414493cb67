"""The real app on the ConnecttoTeams backend (platform double, fake Graph, PBX file): an admin adds a
phone user end to end. Runs once bot/settings.py has the PROVISIONING_BACKEND settings."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest

from bot.settings import Settings
from tests.conftest import make_settings, running_bot
from tests.ctt_double import CttDouble
from tests.ctt_world import (
    PROVIDER_RESELLER,
    load_demo_world,
    partners_of,
    pbx_csv,
    seed_graph,
    seed_platform,
)
from tests.doubles import CONTOSO, CONTOSO_ADMIN, ConnectorDouble, TeamsUser, card_text
from tests.graph_double import FakeGraph

pytestmark = pytest.mark.skipif(
    "provisioning_backend" not in Settings.model_fields, reason="settings for the backend not wired yet"
)


async def test_an_admin_adds_a_phone_user_on_the_platform(tmp_path: Path):
    world = load_demo_world()
    ctt, graph, connector = CttDouble(), FakeGraph(), ConnectorDouble()
    seed_platform(ctt, world)
    seed_graph(graph, world)
    ctt.consent = {CONTOSO}
    (tmp_path / "pbx.csv").write_text(pbx_csv(world), encoding="utf-8")
    partners = [p.model_dump(mode="json") for p in partners_of(world)]
    (tmp_path / "partners.json").write_text(json.dumps({"partners": partners}), encoding="utf-8")
    settings = make_settings(
        tmp_path,
        PROVISIONING_BACKEND="connecttoteams",
        CTT_CLIENT_ID=ctt.client_id,
        CTT_CLIENT_SECRET=ctt.client_secret,
        CTT_API_USERNAME=ctt.username,
        CTT_API_PASSWORD=ctt.password,
        CTT_RESELLER_ID=str(PROVIDER_RESELLER),
        CTT_CONSENTED_TENANTS=CONTOSO,
        GRAPH_CLIENT_ID=graph.client_id,
        GRAPH_CLIENT_SECRET=graph.client_secret,
        PBX_DIRECTORY_FILE=str(tmp_path / "pbx.csv"),
        PARTNERS_FILE=str(tmp_path / "partners.json"),
        CTT_BASE_URL="http://127.0.0.1:1",  # replaced below, once the doubles listen
    )
    for double in (ctt, graph, connector):
        await double.start()
    settings = settings.model_copy(update={"ctt_base_url": ctt.url, "graph_base_url": graph.base_url})
    try:
        async with (
            running_bot(settings, msal_http_client=graph.http_client()) as bot,
            aiohttp.ClientSession() as http,
        ):
            async with http.get(f"{bot.url}/readyz") as ready:
                assert ready.status == 200, await ready.text()
            admin = TeamsUser(http, bot.url, connector.url, CONTOSO, CONTOSO_ADMIN, "Ada Admin")
            assert await admin.say("add user") == 201
            form = await connector.wait_for(lambda s: "Add a phone user to Contoso" in card_text(s.card))
            values = {"teamsUser": "adele@contoso.example", "voiceRoute": "CA Central", "extension": "105"}
            review = await admin.click(form.activity_id, form.card, "Review", values)
            await admin.click(form.activity_id, review["value"], "Add user")
            done = await connector.wait_for(
                lambda s: (
                    s.method == "PUT" and s.activity_id == form.activity_id and "Done." in card_text(s.card)
                )
            )
            assert "Enable calling: Calling enabled" in card_text(done.card)
        body = ctt.calls("/enterprise/configureUser")[0].body
        assert (body["pbxUserId"], body["sbcGatewayId"]) == ("105@pbx.contoso.example", 1)
        assert ctt.user(CONTOSO, "adele@contoso.example").microsoft_side
    finally:
        for double in (ctt, graph, connector):
            await double.stop()
