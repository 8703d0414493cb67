"""What the stock Microsoft 365 Agents SDK does with each defect botbuilder 4.17.1 had
(../shared/FIELD-NOTES.md), tested rather than read: the README's "Edge defects" table.

Each test runs the SDK as its own samples do (aiohttp, `jwt_authorization_middleware`,
`CloudAdapter.process`, `RestChannelServiceClientFactory`, `MsalAuth`) with an echo agent, and
asserts what it does today. Where the SDK still has the defect, bot/ keeps a fix and the test
of the bot's own edge that fails without it is named. A new SDK version that changes one of
these answers fails here: then look again at whether our fix is still needed.
"""

from __future__ import annotations

import asyncio
import uuid
import warnings
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from microsoft_agents.activity import Activity, ConversationReference, InvokeResponse
from microsoft_agents.authentication.msal import MsalAuth
from microsoft_agents.hosting.aiohttp import CloudAdapter, jwt_authorization_middleware
from microsoft_agents.hosting.core import (
    ActivityHandler,
    AgentAuthConfiguration,
    RestChannelServiceClientFactory,
    TurnContext,
)
from microsoft_agents.hosting.core.authorization.jwt.jwt_token_validator import JwtTokenValidator
from msal import ConfidentialClientApplication

from tests.auth_doubles import KeyServer, MsalHttpStub, SigningKey
from tests.conftest import free_port
from tests.doubles import ConnectorDouble
from tests.test_auth import APP_ID, APP_PASSWORD, forged_tokens

# The SDK's middleware stores its identity under a plain string key, which aiohttp warns about.
pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")


class EchoAgent(ActivityHandler):
    async def on_message_activity(self, turn: TurnContext) -> None:
        await turn.send_activity(f"echo: {turn.activity.text}")

    async def on_adaptive_card_invoke(self, turn: TurnContext, invoke_value: Any) -> Any:
        from microsoft_agents.activity import AdaptiveCardInvokeResponse

        return AdaptiveCardInvokeResponse(
            status_code=200, type="application/vnd.microsoft.card.adaptive", value={}
        )


class StubConnections:
    """The SDK's `Connections` with one `MsalAuth` whose msal app answers locally."""

    def __init__(self, msal_stub: MsalHttpStub) -> None:
        configuration = AgentAuthConfiguration(
            client_id=APP_ID, client_secret=APP_PASSWORD, tenant_id="common"
        )
        self.provider = MsalAuth(configuration)

        def create(tenant_id: str | None = None) -> ConfidentialClientApplication:
            return ConfidentialClientApplication(
                APP_ID,
                client_credential=APP_PASSWORD,
                authority="https://login.microsoftonline.com/botframework.com",
                http_client=msal_stub,
            )

        self.provider._create_client_application = create  # type: ignore[method-assign]

    def get_token_provider(self, claims_identity: Any, service_url: str) -> MsalAuth:
        return self.provider


class StockServer:
    def __init__(self, authenticated: bool, msal_stub: MsalHttpStub) -> None:
        self.adapter = CloudAdapter(
            channel_service_client_factory=RestChannelServiceClientFactory(StubConnections(msal_stub))  # type: ignore[arg-type]
        )
        self.agent = EchoAgent()
        self.msal_stub = msal_stub
        self.errors: list[BaseException] = []

        async def on_error(turn: TurnContext, error: Exception) -> None:
            self.errors.append(error)

        self.adapter.on_turn_error = on_error
        middlewares = [jwt_authorization_middleware] if authenticated else []
        self.app = web.Application(middlewares=middlewares)
        with warnings.catch_warnings():  # the SDK's middleware reads this plain string key
            warnings.simplefilter("ignore", web.NotAppKeyWarning)
            self.app["agent_configuration"] = AgentAuthConfiguration(
                client_id=APP_ID, anonymous_allowed=not authenticated
            )
        self.app.router.add_post("/api/messages", self._messages)
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        return await self.adapter.process(request, self.agent)

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}/api/messages"

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()


@pytest.fixture(autouse=True)
def fresh_sdk_key_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's key clients live on the class, for the whole process: start clean, end clean."""
    monkeypatch.setattr(JwtTokenValidator._jwk_client_manager, "_cache", {})


def past_cooldown(key_server: KeyServer) -> None:
    """As if PyJWKClient's 30 s refresh cooldown had passed since its last fetch."""
    entry = JwtTokenValidator._jwk_client_manager._cache[f"{key_server.url}/keys"]
    entry.jwk_client.cooldown_duration = 0


@pytest.fixture
async def stock(request: pytest.FixtureRequest) -> AsyncIterator[StockServer]:
    server = StockServer(authenticated=getattr(request, "param", False), msal_stub=MsalHttpStub())
    await server.start()
    yield server
    await server.stop()


def message(service_url: str, text: str = "hi", **fields: Any) -> dict[str, Any]:
    return {
        "type": "message",
        "id": uuid.uuid4().hex,
        "text": text,
        "channelId": "msteams",
        "serviceUrl": service_url,
        "from": {"id": "29:user"},
        "recipient": {"id": "28:bot"},
        "conversation": {"id": "a:conversation"},
        **fields,
    }


async def post(http: aiohttp.ClientSession, url: str, body: Any, token: str | None = None, **kw: Any) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.post(url, json=body, headers=headers, **kw) as resp:
        return resp.status


async def test_malformed_bodies_500_for_a_json_array_and_a_non_activity(
    stock: StockServer, http: aiohttp.ClientSession
):
    """Was: 500 for non-JSON, empty, array. Now 400 for the first two, still 500 for an array or
    an object that is not an activity: bot/web.py checks bodies before the SDK sees them
    (tests/test_http_edges.py)."""
    async with http.post(stock.url, data=b"{not json", headers={"Content-Type": "application/json"}) as r:
        assert r.status == 400
    async with http.post(stock.url, data=b"", headers={"Content-Type": "application/json"}) as r:
        assert r.status == 400
    async with http.post(stock.url, json=[1, 2]) as r:
        assert r.status == 500
    async with http.post(stock.url, json={"type": "message", "from": "not an object"}) as r:
        assert r.status == 500


async def test_adaptive_card_invoke_and_expect_replies_work(
    stock: StockServer, http: aiohttp.ClientSession, connector: ConnectorDouble
):
    """Was: 500 for an `on_adaptive_card_invoke` override and for `expectReplies`. Fixed."""
    invoke = message(connector.url, type="invoke", name="adaptiveCard/action")
    invoke["value"] = {"action": {"type": "Action.Execute", "verb": "v", "data": {}}}
    async with http.post(stock.url, json=invoke) as resp:
        assert resp.status == 200
        assert (await resp.json())["statusCode"] == 200
    async with http.post(stock.url, json=message(connector.url, deliveryMode="expectReplies")) as resp:
        assert resp.status == 200
        assert (await resp.json())["activities"][0]["text"] == "echo: hi"


async def test_every_reply_turn_opens_a_new_connection(
    stock: StockServer, http: aiohttp.ClientSession, connector: ConnectorDouble
):
    """Was: a new connector client and TCP connection per reply. Still a new aiohttp session per
    turn: bot/connector.py keeps one (tests/test_connector.py::test_many_turns_share_one_connection)."""
    for _ in range(5):
        assert await post(http, stock.url, message(connector.url)) == 202
    assert len(connector.sent) == 5
    assert len(connector.peers) == 5


async def test_throttled_reply_is_not_retried(
    stock: StockServer, http: aiohttp.ClientSession, connector: ConnectorDouble
):
    """Was: 429/502/503 never retried. Still: the reply fails (bot/connector.py retries:
    tests/test_connector.py::test_throttled_reply_is_retried_honouring_retry_after)."""
    connector.fail_next(429, retry_after="0")
    assert await post(http, stock.url, message(connector.url)) == 202
    assert connector.refused == [("POST", 429)]
    assert connector.sent == []
    assert len(stock.errors) == 1


async def test_token_sent_to_any_service_url_of_a_proactive_send(
    stock: StockServer, connector: ConnectorDouble
):
    """Was: the bot's token goes wherever a stored reference points. Still, with the SDK's default
    (its OutboundHostValidator is off): bot/chat.py keeps an allowlist
    (tests/test_proactive_and_auth_e2e.py, TRUSTED_SERVICE_URL_HOSTS)."""
    reference = ConversationReference.model_validate(
        {
            "serviceUrl": connector.url,
            "conversation": {"id": "a:elsewhere"},
            "channelId": "msteams",
            "bot": {"id": "28:bot"},
            "user": {"id": "29:user"},
        }
    )

    async def send(turn: TurnContext) -> None:
        await turn.send_activity("hello")

    await stock.adapter.continue_conversation(APP_ID, reference.get_continuation_activity(), send)
    assert stock.errors == []
    assert connector.sent[-1].authorization == "Bearer test-bot-token"


@pytest.mark.parametrize("stock", [True], indirect=True)
async def test_bad_tokens_are_401_but_three_are_accepted(
    stock: StockServer, http: aiohttp.ClientSession, connector: ConnectorDouble, key_server: KeyServer
):
    """Was: every token failure but one answered 500. Now 401 for most; but a key not endorsed for
    the channel, a token for another serviceUrl and a token that never expires (no `exp`) are
    accepted (202): bot/auth.py checks all three
    (tests/test_auth.py::test_every_bad_token_gets_401_without_side_effects)."""
    statuses = {
        name: await post(http, stock.url, message(connector.url), token)
        for name, token in forged_tokens(key_server, connector.url).items()
    }
    accepted = {name for name, status in statuses.items() if status == 202}
    assert accepted == {"unendorsed channel", "serviceUrl differs", "no expiry"}
    assert all(status == 401 for name, status in statuses.items() if name not in accepted), statuses


@pytest.mark.parametrize("stock", [True], indirect=True)
async def test_a_token_from_any_entra_tenant_with_our_audience_is_accepted(
    stock: StockServer,
    http: aiohttp.ClientSession,
    connector: ConnectorDouble,
    key_server: KeyServer,
    monkeypatch: pytest.MonkeyPatch,
):
    """The issuer is checked only when VALIDATE_ISSUER is set (off by default): a token issued by
    some other Entra tenant for our app id is accepted. bot/auth.py allows only the Bot Framework
    issuer (tests/test_auth.py, "wrong issuer")."""
    import microsoft_agents.hosting.core.authorization.jwt.jwt_token_validator as validator

    # That tenant's keys, served where the SDK looks for an Entra issuer's keys.
    monkeypatch.setattr(validator, "_build_jwks_uri", lambda *_: f"{key_server.url}/keys")
    tenant = "11111111-2222-4333-8444-555555555555"
    token = key_server.keys[0].token(
        APP_ID, connector.url, iss=f"https://sts.windows.net/{tenant}/", tid=tenant
    )
    assert await post(http, stock.url, message(connector.url), token) == 202


@pytest.mark.parametrize("stock", [True], indirect=True)
async def test_rotated_key_is_accepted(
    stock: StockServer, http: aiohttp.ClientSession, connector: ConnectorDouble, key_server: KeyServer
):
    """Was: an unknown `kid` refused until a 24 h cache expired. Now PyJWKClient fetches again, at
    most every 30 s (its cooldown): a key rotated within 30 s of the last fetch is refused until then."""
    first = key_server.keys[0]
    assert await post(http, stock.url, message(connector.url), first.token(APP_ID, connector.url)) == 202
    rotated = SigningKey(kid="key-rotated")
    key_server.keys[:] = [rotated]
    token = rotated.token(APP_ID, connector.url)
    assert await post(http, stock.url, message(connector.url), token) == 401, "within the cooldown"
    past_cooldown(key_server)
    assert await post(http, stock.url, message(connector.url), token) == 202


@pytest.mark.parametrize("stock", [True], indirect=True)
async def test_a_stalled_key_server_stalls_turns_with_a_known_key(
    stock: StockServer, http: aiohttp.ClientSession, connector: ConnectorDouble, key_server: KeyServer
):
    """Was: a blocking key fetch on the event loop. Now in a thread, but under one lock with a 30 s
    timeout: a token with an unknown key holds every other token's validation. bot/auth.py fetches
    with aiohttp (tests/test_auth.py::test_slow_key_server_does_not_stall_other_conversations)."""
    known = key_server.keys[0]
    assert await post(http, stock.url, message(connector.url), known.token(APP_ID, connector.url)) == 202
    past_cooldown(key_server)
    key_server.release.clear()
    try:
        stranger = SigningKey(kid="key-unknown")
        slow = asyncio.ensure_future(
            post(http, stock.url, message(connector.url), stranger.token(APP_ID, connector.url))
        )
        await asyncio.sleep(0.3)
        held = asyncio.ensure_future(
            post(http, stock.url, message(connector.url), known.token(APP_ID, connector.url))
        )
        await asyncio.sleep(1.0)
        assert not held.done(), "the known key's turn waits behind the stalled fetch"
    finally:
        key_server.release.set()
    assert await held == 202
    assert await slow == 401


@pytest.mark.parametrize("stock", [True], indirect=True)
async def test_one_token_request_for_many_turns(
    stock: StockServer, http: aiohttp.ClientSession, connector: ConnectorDouble, key_server: KeyServer
):
    """Was: a new msal app and a token request per turn. Fixed: MsalAuth keeps one msal app and its
    cache (it still hops to a thread for every turn: bot/auth.py's BotCredentials keeps the token)."""
    key = key_server.keys[0]
    for _ in range(3):
        assert await post(http, stock.url, message(connector.url), key.token(APP_ID, connector.url)) == 202
    assert stock.msal_stub.token_requests == 1
    assert [s.authorization for s in connector.sent] == ["Bearer test-bot-token"] * 3


def test_invoke_response_is_a_pydantic_model():
    """Was: an invoke body had to be an msrest model, serialized twice. Now plain pydantic JSON."""
    dumped = InvokeResponse(status=200, body={"statusCode": 200}).model_dump(by_alias=True)
    assert dumped == {"status": 200, "body": {"statusCode": 200}}
    assert Activity.model_validate({"type": "message"}).type == "message"
