"""A local double of the ConnecttoTeams platform, answering in the shapes kb.connecttoteams.com
documents (docs/connecttoteams.md names each page), with fault injection.

It serves what the bot uses: the password-grant token endpoint (Basic client auth, expiring tokens),
getAuthenticatedUser (the username as the raw body, "Getting started on API"),
getEnterprisesForReseller (the v3 list answer of the "Generating reports guide": draw,
recordsTotal, recordsFiltered, data._embedded), getAvailableSBCGatewayRegionsByResellerId (a bare
list), configureUser (required fields, `pbxLocation` a PBX id, taken extensions, device passwords,
the same body is an edit), getActionItemUrl and the Global Admin's pages (tests/ctt_double_portal.py),
disableUsers / restoreUsers (issue 16) and the portal's Delete User (`portal_delete`).

Teams gets what the platform holds ("Update PBX User"): with a Global Admin's MSAL result, or
without one only when the enterprise consented to management by the service provider **and** its
first Sync Teams Users is done (`first_synced`); otherwise users wait for `global_admin_syncs`.
Error bodies use a Spring-like shape, since the real format is not documented and the client must
read it defensively anyway.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.ctt_double_portal import SimulatedPortal
from tests.ctt_double_users import PlatformUser, PlatformUsers, spring


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
    query: dict[str, str] = field(default_factory=dict)
    content_type: str = ""


@dataclass
class CttDouble(PlatformUsers, SimulatedPortal):
    client_id: str = "bot-client"
    client_secret: str = "client-secret-Zq81"
    username: str = "api-admin"
    password: str = "api-password-Hk27"
    reseller_id: int = 1000
    token_lifetime: int = 3600
    # The most records one getEnterprisesForReseller answer carries (None: all); the rest is asked
    # for with DataTables' `start` and `length`, the protocol of the documented v3 answer.
    enterprise_page_size: int | None = None
    enterprises_as_bare_list: bool = False  # the old guess, for the one test that keeps it
    enterprises: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    gateways: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    # Tenants that consented to "Allow Management by Service Provider", and whose first Sync Teams
    # Users is done: together they let the reseller token do the Microsoft side.
    consent: set[str] = field(default_factory=set)
    first_synced: set[str] = field(default_factory=set)
    # PBX ids (configureUser's `pbxLocation`) per tenant; a tenant not listed takes any.
    pbx_ids: dict[str, set[str]] = field(default_factory=dict)
    # The service-provider management consent's actionType: its name is not in the stored pages.
    management_consent_action: str = "GET_MANAGEMENT_CONSENT"
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
        # code -> (action URL, tenant id, action type)
        self._action_tenants: dict[str, tuple[str, str, str]] = {}
        self._runner: web.AppRunner | None = None

    # -- control ---------------------------------------------------------------------------------

    def inject(self, path: str, *faults: Fault) -> None:
        """The next calls to `path` meet these faults, one per call, in order."""
        self._faults[path].extend(faults)

    def calls(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]

    def expire_tokens(self) -> None:
        self._tokens.clear()

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
        self.add_portal_routes(app)
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
            body = fault.body if fault.body is not None else spring(fault.status, "Service unavailable")
            return web.json_response(body, status=fault.status, headers=headers)
        if isinstance(fault, Unauthorized):
            self._tokens.pop(_bearer(request) or "", None)
            return web.json_response({"error": "invalid_token"}, status=401)
        assert isinstance(fault, Drop)
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError  # nothing more is written on this connection

    def _record(self, request: web.Request, body: Any = None) -> Seen:
        seen = Seen(
            request.method,
            request.path,
            time.monotonic(),
            body=body,
            query=dict(request.query),
            content_type=request.headers.get("Content-Type", ""),
        )
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
        """ "Getting started on API": `--data 'myadmin'`, the username as the raw body (not JSON)."""
        raw = (await request.read()).decode("utf-8", "replace")
        seen, refused = await self._guard(request, raw)
        if refused is not None:
            return refused
        if raw != self.username:
            seen.status = 400
            return web.json_response(spring(400, "No such user"), status=400)
        seen.status = 200
        return web.json_response({"username": raw, "type": "RESELLER", "resellerId": self.reseller_id})

    async def _enterprises(self, request: web.Request) -> web.StreamResponse:
        """The v3 list answer ("Generating reports guide"), one DataTables draw: `start` and
        `length` say which records; an empty page has no `_embedded` (HAL leaves it out)."""
        seen, refused = await self._guard(request)
        if refused is not None:
            return refused
        items = self.enterprises.get(int(request.query.get("resellerId", "0")), [])
        seen.status = 200
        if self.enterprises_as_bare_list:
            return web.json_response(items)
        start = int(request.query.get("start", "0"))
        length = int(request.query.get("length", str(len(items))))
        length = min(length, self.enterprise_page_size or length)
        page = items[start : start + length]
        data: dict[str, Any] = {"_links": {"self": {"href": request.path_qs}}}
        if page:
            data["_embedded"] = {"enterpriseList": page}
        return web.json_response(
            {
                "draw": int(request.query.get("draw", "0")),
                "recordsTotal": len(items),
                "recordsFiltered": len(items),
                "data": data,
            }
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

    async def _action_item_url(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        seen, refused = await self._guard(request, body)
        if refused is not None:
            return refused
        if not isinstance(body, dict) or not body.get("actionType") or not body.get("enterpriseId"):
            seen.status = 400
            return web.json_response(spring(400, "actionType and enterpriseId are required"), status=400)
        self.action_requests.append(body)
        seen.status = 200
        code = secrets.token_urlsafe(8)
        url = f"{self.portal}/action/{code}?type={body['actionType']}"
        self.remember_action(url, code, body, self._tenant_of(body["enterpriseId"]))
        return web.json_response({"url": url})

    def _tenant_of(self, enterprise_id: Any) -> str:
        for records in self.enterprises.values():
            for record in records:
                if str(record.get("enterpriseId")) == str(enterprise_id):
                    return str(record.get("tenantId") or "")
        return ""


def _bearer(request: web.Request) -> str | None:
    value = request.headers.get("Authorization", "")
    return value[7:] if value.startswith("Bearer ") else None
