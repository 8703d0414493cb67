"""With logging at DEBUG and real authentication, the full admin and partner flows leave no device
password and no app password in the logs, the database, or any activity the bot sent."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.logging_setup import redact
from services.provisioning import embedded
from tests.auth_doubles import KeyServer, MsalHttpStub
from tests.conftest import RunningBot, make_settings, running_bot
from tests.doubles import (
    CONTOSO,
    CONTOSO_ADMIN,
    CONTOSO_ADMIN2,
    NORTHWIND,
    NORTHWIND_PARTNER,
    ConnectorDouble,
    TeamsUser,
    card_text,
)
from tests.test_auth import APP_ID, APP_PASSWORD

pytestmark = pytest.mark.usefixtures("key_server")


@pytest.fixture
async def secured(tmp_path: Path, key_server: KeyServer) -> AsyncIterator[RunningBot]:
    settings = make_settings(
        tmp_path,
        MicrosoftAppId=APP_ID,
        MicrosoftAppPassword=APP_PASSWORD,
        LOG_LEVEL="DEBUG",
        TRUSTED_SERVICE_URL_HOSTS="127.0.0.1",
    )
    async with running_bot(settings, msal_http_client=MsalHttpStub()) as running:
        yield running


async def test_no_secret_anywhere_after_admin_and_partner_flows(
    secured: RunningBot,
    key_server: KeyServer,
    connector: ConnectorDouble,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
):
    caplog.set_level(logging.DEBUG)
    key = key_server.keys[0]

    def token(service_url: str) -> str:
        return key.token(APP_ID, service_url)

    def user(tenant: str, aad: str, name: str) -> TeamsUser:
        return TeamsUser(http, secured.url, connector.url, tenant, aad, name, token_source=token)

    passwords: list[str] = []
    real = embedded.EmbeddedProvisioningService.add_user

    async def spy(self, tenant_id, spec, device_password):
        passwords.append(device_password)
        return await real(self, tenant_id, spec, device_password)

    monkeypatch.setattr(embedded.EmbeddedProvisioningService, "add_user", spy)
    ada, avery = user(CONTOSO, CONTOSO_ADMIN, "Ada Admin"), user(CONTOSO, CONTOSO_ADMIN2, "Avery Admin")
    pat = user(NORTHWIND, NORTHWIND_PARTNER, "Pat Partner")
    for person in (ada, avery, pat):
        assert await person.install() == 201

    # The admin's own add.
    await ada.say("add user")
    form = await connector.wait_for(lambda s: "Add a phone user to Contoso" in card_text(s.card))
    review = await ada.click(
        form.activity_id,
        form.card,
        "Review",
        {"teamsUser": "adele@contoso.example", "voiceRoute": "CA Central", "extension": "105"},
    )
    await ada.click(form.activity_id, review["value"], "Add user")
    await connector.wait_for(lambda s: s.activity_id == form.activity_id and "Done." in card_text(s.card))

    # The partner's request, approved.
    await pat.say("add user")
    picker = await connector.wait_for(lambda s: "Which enterprise" in card_text(s.card))
    pform = await pat.click(picker.activity_id, picker.card, "Next", {"enterpriseId": CONTOSO})
    preview = await pat.click(
        picker.activity_id,
        pform["value"],
        "Review",
        {"teamsUser": "isaiah@contoso.example", "voiceRoute": "US West", "extension": "108"},
    )
    await pat.click(picker.activity_id, preview["value"], "Add user")
    approval = await connector.wait_for(
        lambda s: (
            s.conversation_id == avery.conversation_id and "Approve a new phone user" in card_text(s.card)
        )
    )
    await avery.click(approval.activity_id, approval.card, "Approve")
    await connector.wait_for(lambda s: s.conversation_id == pat.conversation_id and "Done:" in s.text)

    assert len(passwords) == 2
    secrets = [*passwords, APP_PASSWORD, "test-bot-token"]
    logged = caplog.text + "".join(r.getMessage() for r in caplog.records)
    for secret in secrets[:3]:
        assert secret not in logged, "a secret reached the logs"
    activities = "".join(str(s.activity) for s in connector.sent)
    for secret in secrets:
        assert secret not in activities, "a secret reached a chat"
    assert all(s.authorization == "Bearer test-bot-token" for s in connector.sent)
    await secured.stop()
    for file in secured.settings.data_dir.iterdir():
        content = file.read_bytes()
        for secret in secrets:
            assert secret.encode() not in content, f"a secret is stored in {file.name}"


def test_redaction_filter_hides_secret_values_in_log_records(caplog: pytest.LogCaptureFixture):
    from bot.logging_setup import install_redaction

    install_redaction()
    caplog.set_level(logging.DEBUG)
    log = logging.getLogger("tests.redaction")
    log.debug("posting password=abcd1234 and client_secret: s3cr3tValue")
    log.debug('body {"password": "Zz9yY8xX", "rePassword": "Zz9yY8xX", "user": "adele"}')
    log.debug("headers Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.payload.sig")
    log.debug("token=%s", "tok_0123456789abcdef")
    for leaked in ("abcd1234", "s3cr3tValue", "Zz9yY8xX", "eyJhbGciOiJSUzI1NiJ9", "tok_0123456789abcdef"):
        assert leaked not in caplog.text
    assert "adele" in caplog.text, "only secret values are hidden"
    assert redact("Basic dXNlcjpwYXNzd29yZA==") == "Basic [redacted]"
