"""A large tenant gets Teams' typeahead; the generated device password never leaves the service call."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from services.provisioning import embedded
from services.seed_data import load_world
from tests.conftest import RunningBot
from tests.doubles import CONTOSO, ConnectorDouble, TeamsUser, card_text

LITWARE = "11111111-2222-4333-8444-555555555555"
LITWARE_ADMIN = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"


async def test_large_tenant_searches_licensed_users(
    tmp_path: Path, http, bot: RunningBot, connector: ConnectorDouble
):
    world = {
        "tenants": [
            {
                "tenant_id": LITWARE,
                "name": "Litware",
                "kind": "customer",
                "pbx_locations": [{"name": "PBX", "domain": "pbx.litware.example", "extensions": []}],
                "voice_routes": [{"route_id": 2, "name": "US West"}],
                "teams_users": [
                    {
                        "upn": f"user{i:03d}@litware.example",
                        "display_name": f"User {i:03d}",
                        "licensed": i % 10 != 0,
                    }
                    for i in range(120)
                ],
                "people": [
                    {
                        "aad_object_id": LITWARE_ADMIN,
                        "upn": "ga@litware.example",
                        "display_name": "GA",
                        "global_admin": True,
                    }
                ],
            }
        ]
    }
    path = tmp_path / "litware.json"
    path.write_text(json.dumps(world))
    await load_world(bot.runtime.database, path)
    ga = TeamsUser(http, bot.url, connector.url, LITWARE, LITWARE_ADMIN, "GA")
    await ga.say("add user")
    sent = await connector.wait_for(lambda s: "Add a phone user to Litware" in card_text(s.card))
    field = next(e for e in sent.card["body"] if e.get("id") == "teamsUser")
    dataset = field["choices.data"]["dataset"]
    answer = await ga.search(dataset, "user 01")
    assert answer["type"] == "application/vnd.microsoft.search.searchResponse"
    values = [r["value"] for r in answer["value"]["results"]]
    assert values == [f"user{i:03d}@litware.example" for i in range(11, 20)], (
        "unlicensed user010 is not offered"
    )
    # Another tenant's admin cannot search Litware's users through that dataset.
    contoso_admin = TeamsUser(
        http, bot.url, connector.url, CONTOSO, "0b7d6c1e-3f2a-4e5d-8c9b-a1b2c3d4e5f6", "Ada"
    )
    assert (await contoso_admin.search(dataset, "user"))["value"]["results"] == []


async def test_device_password_is_never_logged_stored_or_sent(
    bot: RunningBot,
    admin: TeamsUser,
    connector: ConnectorDouble,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
):
    caplog.set_level(logging.DEBUG)
    passwords: list[str] = []
    real = embedded.EmbeddedProvisioningService.add_user

    async def spy(self, tenant_id, spec, device_password):
        passwords.append(device_password)
        return await real(self, tenant_id, spec, device_password)

    monkeypatch.setattr(embedded.EmbeddedProvisioningService, "add_user", spy)
    await admin.say("add user")
    sent = await connector.wait_for(lambda s: "Add a phone user" in card_text(s.card))
    answer = await admin.click(
        sent.activity_id,
        sent.card,
        "Review",
        {"teamsUser": "adele@contoso.example", "voiceRoute": "US West", "extension": "106"},
    )
    await admin.click(sent.activity_id, answer["value"], "Add user")
    await connector.wait_for(lambda s: s.method == "PUT" and "Done." in card_text(s.card))
    assert len(passwords) == 1
    password = passwords[0]
    assert password not in caplog.text
    assert all(password not in json.dumps(s.activity) for s in connector.sent)
    await bot.stop()
    for file in bot.settings.data_dir.glob("*"):
        assert password.encode() not in file.read_bytes(), file
