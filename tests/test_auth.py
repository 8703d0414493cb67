"""Inbound JWT validation on the Agents SDK's validator (bot/auth.py), offline: every bad token is
a 401 with no side effect; rotated keys are picked up; a slow key server stalls nobody. Outbound:
one msal app and one token for the process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import jwt
import pytest

from tests.auth_doubles import KeyServer, MsalHttpStub, SigningKey
from tests.conftest import RunningBot, make_settings, running_bot
from tests.doubles import CONTOSO, CONTOSO_ADMIN, ConnectorDouble, TeamsUser, card_text

APP_ID = "3b0c8a52-7d61-4e2f-9a8b-1c2d3e4f5a6b"
APP_PASSWORD = "app-password-Zq7v9Xk2"


@pytest.fixture
def msal_stub() -> MsalHttpStub:
    return MsalHttpStub()


@pytest.fixture
async def secured_bot(
    tmp_path: Path, key_server: KeyServer, msal_stub: MsalHttpStub
) -> AsyncIterator[RunningBot]:
    settings = make_settings(
        tmp_path, MicrosoftAppId=APP_ID, MicrosoftAppPassword=APP_PASSWORD, SIGNING_KEY_REFRESH_SECONDS="0"
    )
    async with running_bot(settings, msal_http_client=msal_stub) as running:
        yield running


@pytest.fixture
def ada(http: aiohttp.ClientSession, secured_bot: RunningBot, connector: ConnectorDouble) -> TeamsUser:
    return TeamsUser(http, secured_bot.url, connector.url, CONTOSO, CONTOSO_ADMIN, "Ada Admin")


async def test_valid_token_is_accepted_and_reply_carries_the_bot_token(
    ada: TeamsUser, key_server: KeyServer, connector: ConnectorDouble, msal_stub: MsalHttpStub
):
    key = key_server.keys[0]
    for _ in range(3):
        resp = await ada.post(ada._activity(type="message", text="help"), key.token(APP_ID, ada.service_url))
        assert resp.status == 201
    replies = [s for s in connector.sent if "Teams Phone Connector" in card_text(s.card)]
    assert len(replies) == 3
    assert all(s.authorization == "Bearer test-bot-token" for s in replies)
    assert msal_stub.token_requests == 1, "one token for the process, not one per turn"


def forged_tokens(key_server: KeyServer, service_url: str) -> dict[str, str | None]:
    good = key_server.keys[0]
    impostor = SigningKey(kid="key-1")  # same kid, other private key
    unknown = SigningKey(kid="key-never-published")
    unendorsed = SigningKey(kid="key-skype", endorsements=("skype",))
    key_server.keys.append(unendorsed)
    none_alg = jwt.encode(
        {"iss": "https://api.botframework.com", "aud": APP_ID, "serviceurl": service_url},
        None,
        algorithm="none",
        headers={"kid": "key-1"},
    )
    return {
        "missing header": None,
        "bad signature": impostor.token(APP_ID, service_url),
        "unknown key": unknown.token(APP_ID, service_url),
        "expired": good.token(APP_ID, service_url, exp=1_000_000, nbf=900_000),
        "no expiry": good.token(APP_ID, service_url, exp=None),
        "not yet valid": good.token(APP_ID, service_url, nbf=4_000_000_000, exp=4_000_003_600),
        "wrong audience": good.token("someone-else", service_url),
        "wrong issuer": good.token(APP_ID, service_url, iss="https://evil.example"),
        "alg none": none_alg,
        "unendorsed channel": unendorsed.token(APP_ID, service_url),
        "serviceUrl differs": good.token(APP_ID, "https://smba.trafficmanager.net/elsewhere/"),
        "garbage": "not.a.jwt",
    }


async def test_every_bad_token_gets_401_without_side_effects(
    ada: TeamsUser,
    key_server: KeyServer,
    connector: ConnectorDouble,
    secured_bot: RunningBot,
    caplog: pytest.LogCaptureFixture,
):
    for name, token in forged_tokens(key_server, ada.service_url).items():
        resp = await ada.post(ada._activity(type="message", text="add user"), token)
        assert resp.status == 401, name
        click = ada._activity(
            type="invoke",
            name="adaptiveCard/action",
            value={"action": {"type": "Action.Execute", "verb": "addUser.confirm", "data": {}}},
        )
        assert (await ada.post(click, token)).status == 401, name
    assert connector.sent == []
    assert await secured_bot.runtime.requests.requests_of(await _actor(secured_bot)) == []
    assert "Traceback" not in caplog.text


async def _actor(bot: RunningBot):
    from services.directory import EmbeddedDirectory

    return await EmbeddedDirectory(bot.runtime.database).actor(CONTOSO, CONTOSO_ADMIN)


async def test_rotated_key_is_picked_up_without_restart(ada: TeamsUser, key_server: KeyServer):
    first = key_server.keys[0]
    assert (
        await ada.post(ada._activity(type="message", text="help"), first.token(APP_ID, ada.service_url))
    ).status == 201
    rotated = SigningKey(kid="key-2")
    key_server.keys[:] = [rotated]
    resp = await ada.post(ada._activity(type="message", text="help"), rotated.token(APP_ID, ada.service_url))
    assert resp.status == 201


async def test_slow_key_server_does_not_stall_other_conversations(
    ada: TeamsUser, http: aiohttp.ClientSession, secured_bot: RunningBot, key_server: KeyServer
):
    known = key_server.keys[0]
    assert (
        await ada.post(ada._activity(type="message", text="help"), known.token(APP_ID, ada.service_url))
    ).status == 201
    key_server.release.clear()  # the metadata endpoint now hangs
    try:
        stranger = SigningKey(kid="key-3")
        slow = asyncio.ensure_future(
            ada.post(ada._activity(type="message", text="help"), stranger.token(APP_ID, ada.service_url))
        )
        await asyncio.sleep(0.2)
        assert not slow.done(), "the unknown key waits for the key server"
        # Meanwhile, a conversation with a known key and the health check are answered.
        resp = await ada.post(
            ada._activity(type="message", text="help"), known.token(APP_ID, ada.service_url)
        )
        assert resp.status == 201
        async with http.get(f"{secured_bot.url}/healthz") as health:
            assert health.status == 200
        assert not slow.done(), "and that happened while the key server was still stalled"
    finally:
        key_server.release.set()
    assert (await slow).status == 401


def test_local_mode_refuses_network_binding_without_explicit_consent(tmp_path: Path):
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    env = {"HOST": "0.0.0.0", "PORT": "0", "DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "app.py"], cwd=root, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0" in result.stderr


async def test_without_its_outbound_token_the_bot_answers_503_and_is_not_ready(
    ada: TeamsUser,
    key_server: KeyServer,
    msal_stub: MsalHttpStub,
    secured_bot: RunningBot,
    http: aiohttp.ClientSession,
    connector: ConnectorDouble,
    caplog: pytest.LogCaptureFixture,
):
    """Microsoft's sign-in unreachable: the turn is refused with 503 (the channel retries), one
    log line, no traceback, and /readyz says why; once sign-in answers again, so does the bot."""
    key = key_server.keys[0]
    msal_stub.failing = True
    resp = await ada.post(ada._activity(type="message", text="help"), key.token(APP_ID, ada.service_url))
    assert resp.status == 503 and resp.headers["Retry-After"] == "5"
    async with http.get(f"{secured_bot.url}/readyz") as ready:
        assert ready.status == 503 and (await ready.json())["bot_token"] == "unavailable"
    assert connector.sent == []
    assert "Traceback" not in caplog.text
    assert len([r for r in caplog.records if "could not get the bot's token" in r.getMessage()]) == 1

    msal_stub.failing = False
    resp = await ada.post(ada._activity(type="message", text="help"), key.token(APP_ID, ada.service_url))
    assert resp.status == 201
    async with http.get(f"{secured_bot.url}/readyz") as ready:
        assert ready.status == 200
