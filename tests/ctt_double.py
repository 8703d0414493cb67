"""A local double of the ConnecttoTeams platform, built from the contract in issue 4, with fault injection.

It serves what the bot uses: the password-grant token endpoint (Basic client auth, expiring tokens),
getAuthenticatedUser, getEnterprisesForReseller, getAvailableSBCGatewayRegionsByResellerId,
configureUser (required-field validation, taken extensions, device passwords, the same body is an
edit), getActionItemUrl, disableUsers / restoreUsers (issue 16; without consent they only mark the
user until the Global Admin's `global_admin_syncs`) and the portal's Delete User (`portal_delete`).
Error bodies use a Spring-like shape, since the real format is not documented and the client must
read it defensively anyway.
"""

from __future__ import annotations

import asyncio
import base64
import html
import re
import secrets
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

REQUIRED = ("loginID", "pbxLocation", "pbxUserId", "teamsUserId", "tenantId")


@dataclass(frozen=True)
class Slow:
    """Answer after `seconds` (the work is still done: the answer is just late)."""

    seconds: float


@dataclass(frozen=True)
class Status:
    """Answer `status` without doing the work; optional Retry-After and JSON body."""

    status: int
    retry_after: str | None = None
    body: Any = None


@dataclass(frozen=True)
class Unauthorized:
    """Refuse the presented token (it is revoked), as when the platform restarts or rotates keys."""


@dataclass(frozen=True)
class Drop:
    """Close the connection without answering."""


Fault = Slow | Status | Unauthorized | Drop


@dataclass
class Seen:
    method: str
    path: str
    at: float
    status: int = 0
    body: Any = None


@dataclass
class PlatformUser:
    body: dict[str, Any]
    microsoft_side: bool = False  # synced to Teams with calling enabled
    edits: int = 0
    disabled: bool = False  # disableUsers (the portal's "Disable User"); restoreUsers undoes it


@dataclass
class CttDouble:
    client_id: str = "bot-client"
    client_secret: str = "client-secret-Zq81"
    username: str = "api-admin"
    password: str = "api-password-Hk27"
    reseller_id: int = 1000
    token_lifetime: int = 3600
    enterprise_page_size: int | None = None  # answer getEnterprisesForReseller as Spring pages
    enterprises: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    gateways: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    consent: set[str] = field(default_factory=set)
    users: dict[tuple[str, str], PlatformUser] = field(default_factory=dict)
    devices: dict[str, str] = field(default_factory=dict)  # pbxUserId -> password
    seen: list[Seen] = field(default_factory=list)
    token_requests: int = 0
    issued_tokens: list[str] = field(default_factory=list)
    action_requests: list[dict[str, Any]] = field(default_factory=list)
    action_callbacks: dict[str, str] = field(default_factory=dict)  # action URL -> its callbackUrl
    # Where the sign-in pages are: a made-up host in tests, this double itself for a local demo
    # (tests/ctt_local.py), which then serves a simulated Global Admin sign-in page at /action/.
    portal: str = "https://portal.ctt.example"
    url: str = ""

    def __post_init__(self) -> None:
        self._tokens: dict[str, float] = {}
        self._faults: dict[str, deque[Fault]] = defaultdict(deque)
        self._action_tenants: dict[str, tuple[str, str]] = {}  # code -> (action URL, tenant id)
        self._runner: web.AppRunner | None = None

    # -- control ---------------------------------------------------------------------------------

    def inject(self, path: str, *faults: Fault) -> None:
        """The next calls to `path` meet these faults, one per call, in order."""
        self._faults[path].extend(faults)

    def calls(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]

    def user(self, tenant_id: str, upn: str) -> PlatformUser | None:
        return self.users.get((tenant_id, upn.lower()))

    def tenant_users(self, tenant_id: str) -> list[PlatformUser]:
        return [u for (t, _), u in self.users.items() if t == tenant_id]

    def expire_tokens(self) -> None:
        self._tokens.clear()

    def seed_user(self, tenant_id: str, body: dict[str, Any], *, microsoft_side: bool = True) -> None:
        """A user configured before the bot existed (e.g. in the portal)."""
        self.users[(tenant_id, body["teamsUserId"].lower())] = PlatformUser(dict(body), microsoft_side)
        if body.get("password"):
            self.devices[body["pbxUserId"]] = body["password"]

    def global_admin_syncs(self, tenant_id: str) -> None:
        """The tenant's Global Admin clicked Sync Teams Users: Teams gets what the platform holds."""
        for user in self.tenant_users(tenant_id):
            user.microsoft_side = not user.disabled

    def portal_delete(self, tenant_id: str, upn: str) -> None:
        """A person clicked Delete User in the portal: the user and their device are gone."""
        user = self.user(tenant_id, upn)
        assert user is not None and user.disabled, "the portal deletes only a disabled user"
        del self.users[(tenant_id, upn.lower())]
        self.devices.pop(user.body["pbxUserId"], None)

    async def global_admin_signs_in(
        self, action_url: str, tenant_id: str, admin: str = "ga@contoso.example"
    ) -> tuple[int, str]:
        """A Global Admin opened `action_url` and signed in: the platform posts the MSAL result to
        the callback URL the bot gave for it. Returns the callback's status and page."""
        callback = self.action_callbacks[action_url]
        result = {
            "accessToken": "ga-access-token-" + secrets.token_hex(16),
            "idToken": "ga-id-token-" + secrets.token_hex(16),
            "userInfo": {"tenantId": tenant_id, "displayableId": admin},
        }
        async with aiohttp.ClientSession() as http:
            async with http.post(callback, json={"authenticationResult": result}) as answer:
                return answer.status, await answer.text()

    # -- server ----------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/oauth/token", self._token)
        app.router.add_put("/reseller/getAuthenticatedUser", self._authenticated_user)
        app.router.add_get("/reseller/v3/getEnterprisesForReseller", self._enterprises)
        app.router.add_get("/reseller/getAvailableSBCGatewayRegionsByResellerId/{reseller}", self._gateways)
        app.router.add_post("/enterprise/configureUser", self._configure_user)
        app.router.add_post("/enterprise/getActionItemUrl", self._action_item_url)
        app.router.add_post("/provisioning/disableUsers", self._users_operation)
        app.router.add_post("/provisioning/restoreUsers", self._users_operation)
        app.router.add_get("/action/{code}", self._sign_in_page)
        app.router.add_post("/action/{code}", self._sign_in_page)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()
            self._runner = None

    # -- plumbing --------------------------------------------------------------------------------

    async def _fault(self, request: web.Request) -> web.StreamResponse | None:
        """Apply the next injected fault; a response to send instead of the real one, or None."""
        queue = self._faults.get(request.path)
        if not queue:
            return None
        fault = queue.popleft()
        if isinstance(fault, Slow):
            await asyncio.sleep(fault.seconds)
            return None
        if isinstance(fault, Status):
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            body = fault.body if fault.body is not None else _spring(fault.status, "Service unavailable")
            return web.json_response(body, status=fault.status, headers=headers)
        if isinstance(fault, Unauthorized):
            self._tokens.pop(_bearer(request) or "", None)
            return web.json_response({"error": "invalid_token"}, status=401)
        assert isinstance(fault, Drop)
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError  # nothing more is written on this connection

    def _record(self, request: web.Request, body: Any = None) -> Seen:
        seen = Seen(request.method, request.path, time.monotonic(), body=body)
        self.seen.append(seen)
        return seen

    def _authorised(self, request: web.Request) -> bool:
        token = _bearer(request)
        expires_at = self._tokens.get(token or "")
        return expires_at is not None and expires_at > time.monotonic()

    async def _guard(self, request: web.Request, body: Any = None) -> tuple[Seen, web.StreamResponse | None]:
        seen = self._record(request, body)
        fault = await self._fault(request)
        if fault is not None:
            seen.status = fault.status
            return seen, fault
        if not self._authorised(request):
            seen.status = 401
            return seen, web.json_response({"error": "invalid_token"}, status=401)
        return seen, None

    # -- endpoints -------------------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.StreamResponse:
        self.token_requests += 1
        seen = self._record(request)
        fault = await self._fault(request)
        if fault is not None:
            seen.status = fault.status
            return fault
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            seen.status = 401
            return web.json_response({"error": "unauthorized", "error_description": "Bad client"}, status=401)
        if request.content_type != "application/x-www-form-urlencoded":
            seen.status = 400
            return web.json_response({"error": "invalid_request"}, status=400)
        form = await request.post()
        if form.get("grant_type") != "password":
            seen.status = 400
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        if form.get("username") != self.username or form.get("password") != self.password:
            seen.status = 400
            return web.json_response(
                {"error": "invalid_grant", "error_description": "Bad credentials"}, status=400
            )
        token = secrets.token_urlsafe(24)
        self._tokens[token] = time.monotonic() + self.token_lifetime
        self.issued_tokens.append(token)
        seen.status = 200
        return web.json_response(
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": self.token_lifetime,
                "scope": "read",
            }
        )

    async def _authenticated_user(self, request: web.Request) -> web.StreamResponse:
        who = {"type": "RESELLER", "resellerId": self.reseller_id}
        return await self._answer(request, lambda body: (200, {"username": body, **who}))

    async def _enterprises(self, request: web.Request) -> web.StreamResponse:
        seen, refused = await self._guard(request)
        if refused is not None:
            return refused
        reseller = int(request.query.get("resellerId", "0"))
        items = self.enterprises.get(reseller, [])
        seen.status = 200
        if self.enterprise_page_size is None:
            return web.json_response(items)
        size = self.enterprise_page_size
        page = int(request.query.get("page", "0"))
        pages = max(1, -(-len(items) // size))
        return web.json_response(
            {"content": items[page * size : (page + 1) * size], "totalPages": pages, "number": page}
        )

    async def _gateways(self, request: web.Request) -> web.StreamResponse:
        seen, refused = await self._guard(request)
        if refused is not None:
            return refused
        seen.status = 200
        return web.json_response(self.gateways.get(int(request.match_info["reseller"]), []))

    async def _configure_user(self, request: web.Request) -> web.StreamResponse:
        return await self._answer(request, self._configure)

    async def _users_operation(self, request: web.Request) -> web.StreamResponse:
        """disableUsers / restoreUsers: an enterprise-scoped call (an MSAL result, or here consent)
        switches calling in Teams too; otherwise the users are marked until Sync Teams Users."""
        disable = request.path.endswith("/disableUsers")
        return await self._answer(request, lambda body: self._switch_users(body, disable))

    async def _answer(self, request: web.Request, work: Any) -> web.StreamResponse:
        """A call with a JSON body: `work(body)` gives the status and the answer."""
        body = await request.json()
        seen, refused = await self._guard(request, body)
        if refused is not None:
            return refused
        status, answer = work(body)
        seen.status = status
        return web.json_response(answer, status=status)

    def _enterprise_of(self, tenant: Any) -> dict[str, Any] | None:
        return next((e for es in self.enterprises.values() for e in es if e["tenantId"] == tenant), None)

    def _configure(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict):
            return 400, _spring(400, "Malformed JSON request")
        errors = [{"field": f, "defaultMessage": f"{f} cannot be empty"} for f in REQUIRED if not body.get(f)]
        gateway = body.get("sbcGatewayId")
        if not isinstance(gateway, int) or gateway <= 0:
            errors.append({"field": "sbcGatewayId", "defaultMessage": "value must be greater than 0"})
        if errors:
            return 400, _spring(400, "Validation failed", errors)
        if body["loginID"] != self.username:
            return 403, _spring(403, "Access is denied")
        tenant = body["tenantId"]
        enterprise = self._enterprise_of(tenant)
        if enterprise is None:
            return 404, _spring(404, f"No enterprise for tenant {tenant}")
        if gateway not in enterprise.get("sbcGateways", [gateway]):
            return 400, _spring(400, f"SBC gateway {gateway} is not assigned to the enterprise")
        if body.get("password") != body.get("rePassword"):
            return 400, _spring(400, "password and rePassword do not match")
        key = (tenant, body["teamsUserId"].lower())
        pbx_user = body["pbxUserId"]
        for other_key, other in self.users.items():
            if other_key != key and other_key[0] == tenant and other.body["pbxUserId"] == pbx_user:
                return 409, _spring(
                    409, f"PBX user {pbx_user} is already assigned to {other.body['teamsUserId']}"
                )
        password = body.get("password")
        if password and pbx_user in self.devices and self.devices[pbx_user] != password:
            return 400, _spring(400, f"Password does not match the existing PBX device {pbx_user}")
        with_msal = isinstance(body.get("authenticationResult"), dict)
        if with_msal:
            inner = body["authenticationResult"].get("authenticationResult") or {}
            if not inner.get("accessToken"):
                return 400, _spring(400, "authenticationResult has no access token")
        stored = {
            k: v for k, v in body.items() if k not in ("password", "rePassword", "authenticationResult")
        }
        user = self.users.get(key)
        if user is None:
            user = self.users[key] = PlatformUser(stored)
        else:
            user.body = {**user.body, **stored}
            user.edits += 1
        if password:
            self.devices[pbx_user] = password
        if with_msal or tenant in self.consent:
            user.microsoft_side = not user.disabled
        return 200, {"status": "SUCCESS"}

    def _switch_users(self, body: Any, disable: bool) -> tuple[int, Any]:
        if not isinstance(body, dict):
            return 400, _spring(400, "Malformed JSON request")
        tenant, upns = body.get("tenantId"), body.get("users")
        if not tenant or not upns or not isinstance(upns, list) or body.get("updateAllUsers"):
            return 400, _spring(400, "tenantId and users are required (this double never acts on all users)")
        enterprise = self._enterprise_of(tenant)
        if enterprise is None:
            return 404, _spring(404, f"No enterprise for tenant {tenant}")
        if str(body.get("resellerId")) not in (str(enterprise.get("resellerId")), str(self.reseller_id)):
            return 403, _spring(403, "Access is denied")
        users = [user for upn in upns if (user := self.user(tenant, str(upn))) is not None]
        if len(users) != len(upns):
            return 404, _spring(404, "No such user")
        enterprise_scoped = isinstance(body.get("authenticationResult"), dict) or tenant in self.consent
        for user in users:
            user.disabled = disable
            if enterprise_scoped:
                user.microsoft_side = not disable
        return 200, {"status": "SUCCESS"}

    async def _action_item_url(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        seen, refused = await self._guard(request, body)
        if refused is not None:
            return refused
        if not isinstance(body, dict) or not body.get("actionType") or not body.get("enterpriseId"):
            seen.status = 400
            return web.json_response(_spring(400, "actionType and enterpriseId are required"), status=400)
        self.action_requests.append(body)
        seen.status = 200
        code = secrets.token_urlsafe(8)
        url = f"{self.portal}/action/{code}?type={body['actionType']}"
        if isinstance(body.get("callbackUrl"), str):
            self.action_callbacks[url] = body["callbackUrl"]
            self._action_tenants[code] = (url, self._tenant_of(body["enterpriseId"]))
        return web.json_response({"url": url})

    def _tenant_of(self, enterprise_id: Any) -> str:
        for records in self.enterprises.values():
            for record in records:
                if str(record.get("enterpriseId")) == str(enterprise_id):
                    return str(record.get("tenantId") or "")
        return ""

    async def _sign_in_page(self, request: web.Request) -> web.StreamResponse:
        """The platform's Global Admin page, simulated: a button that 'signs in' and sends the
        result to the bot's callback, then shows the bot's answer."""
        code = request.match_info["code"]
        if code not in self._action_tenants:
            return web.Response(status=404, text="Unknown or expired action.")
        url, tenant = self._action_tenants[code]
        if request.method == "POST":
            status, page = await self.global_admin_signs_in(url, tenant, "ga@" + tenant[:8] + ".example")
            answer = re.sub(r"<[^>]+>", " ", page)
            return web.Response(
                text=f"<!doctype html><title>Signed in</title><h1>Signed in</h1>"
                f"<p id=answer>The bot answered {status}: {html.escape(' '.join(answer.split()))}</p>",
                content_type="text/html",
            )
        return web.Response(
            text="<!doctype html><title>Teams Phone Connector (local double)</title>"
            "<h1>Teams Phone Connector: Global Admin sign-in (simulated)</h1>"
            f"<p>Tenant {html.escape(tenant)}. A real platform shows Microsoft's sign-in here.</p>"
            f'<form method=post action="/action/{html.escape(code)}"><button type=submit>Sign in</button></form>',
            content_type="text/html",
        )


def _bearer(request: web.Request) -> str | None:
    value = request.headers.get("Authorization", "")
    return value[7:] if value.startswith("Bearer ") else None


def _spring(status: int, message: str, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "timestamp": "2025-01-01T00:00:00.000+00:00",
        "status": status,
        "error": {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 409: "Conflict"}.get(
            status, "Error"
        ),
        "message": message,
        "path": "",
    }
    if errors:
        body["errors"] = errors
    return body
