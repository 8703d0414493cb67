"""Offline stand-ins for Microsoft's identity endpoints: the Bot Framework JWKS for inbound tokens
(served from its own thread and loop), and an msal `http_client` that answers token requests."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

BOT_ISSUER = "https://api.botframework.com"


class SigningKey:
    def __init__(self, kid: str | None = None, endorsements: tuple[str, ...] = ("msteams",)) -> None:
        self.kid = kid or uuid.uuid4().hex
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.endorsements = list(endorsements)

    def jwk(self) -> dict[str, Any]:
        data = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        return data | {"kid": self.kid, "use": "sig", "endorsements": self.endorsements}

    def token(self, app_id: str, service_url: str, **overrides: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": BOT_ISSUER,
            "aud": app_id,
            "serviceurl": service_url,
            "nbf": now - 10,
            "exp": now + 3600,
        } | overrides
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, self.private, algorithm="RS256", headers={"kid": self.kid})


class KeyServer:
    """The JWKS on 127.0.0.1 (`{url}/keys`), on a thread of its own; clearing `release` makes it stall."""

    def __init__(self) -> None:
        self.keys: list[SigningKey] = []
        self.fetches = 0
        self.release = threading.Event()
        self.release.set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.url = ""

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/keys", self._keys)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def _keys(self, _request: web.Request) -> web.Response:
        await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 30)
        self.fetches += 1
        return web.json_response({"keys": [k.jwk() for k in self.keys]})

    def stop(self) -> None:
        self.release.set()
        if self._runner:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


class _Response:
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status_code = status
        self.text = json.dumps(body)
        self.headers = {"Content-Type": "application/json"}

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise RuntimeError(f"HTTP {self.status_code}")


class MsalHttpStub:
    """Answers msal's tenant discovery and client-credentials token requests, and counts them."""

    def __init__(self, token: str = "test-bot-token") -> None:
        self.token = token
        self.token_requests = 0
        self.failing = False  # Entra ID unreachable: every request fails as a network error would

    def get(self, url: str, **_: Any) -> _Response:
        base = url.split("/v2.0/.well-known")[0].split("/.well-known")[0]
        return _Response(
            200,
            {
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "issuer": f"{base}/v2.0",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            },
        )

    def post(self, url: str, **_: Any) -> _Response:
        if self.failing:
            raise ConnectionError("Entra ID is unreachable")
        self.token_requests += 1
        return _Response(200, {"access_token": self.token, "expires_in": 3600, "token_type": "Bearer"})

    def close(self) -> None:
        pass
