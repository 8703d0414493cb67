"""A fake Microsoft Graph (users with assigned plans, the Global Administrator role's assignments) and
an msal `http_client` stub that answers OpenID discovery and client-credential token requests locally.

It answers as Microsoft's reference says: `/users` filtered on `assignedPlans/any(...)` is an
advanced query ("Advanced query capabilities on Microsoft Entra ID objects": header
`ConsistencyLevel: eventual` and `$count=true`, else 400 Request_UnsupportedQuery), with
`@odata.count`; `assignedPlan.capabilityStatus` is Enabled, Warning (a grace period), Suspended,
Deleted or LockedOut; `directoryRoles/.../members` does not support `$top`;
`roleManagement/directory/roleAssignments?$filter=roleDefinitionId eq '...'&$expand=principal` (the
unified RBAC API) lists users, role-assignable groups and service principals. Lists page with
`@odata.nextLink`.

Nothing here reaches the internet: msal gets the stub, GraphClient gets the fake's local base URL.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from aiohttp import web

from services.provisioning.graph import GLOBAL_ADMIN_ROLE_TEMPLATE_ID, TEAMS_PHONE_SERVICE_PLANS

TEAMS_PHONE_PLAN = next(iter(TEAMS_PHONE_SERVICE_PLANS))
TEAMS_PLAN = "57ff2da0-773e-42df-b2af-ffb7a2317929"  # TEAMS1: Teams without Phone


@dataclass
class FakeUser:
    id: str
    upn: str
    display_name: str
    teams_phone: bool = False
    account_enabled: bool = True
    phone_status: str = "Enabled"  # the Teams Phone plan's capabilityStatus

    def as_graph(self) -> dict[str, Any]:
        plans = [{"servicePlanId": TEAMS_PLAN, "capabilityStatus": "Enabled", "service": "TeamspaceAPI"}]
        if self.teams_phone:
            plans.append(
                {
                    "servicePlanId": TEAMS_PHONE_PLAN,
                    "capabilityStatus": self.phone_status,
                    "service": "MicrosoftCommunicationsOnline",
                }
            )
        return {
            "id": self.id,
            "userPrincipalName": self.upn,
            "displayName": self.display_name,
            "accountEnabled": self.account_enabled,
            "assignedPlans": plans,
        }


@dataclass(frozen=True)
class GraphRequest:
    """One call as Graph saw it: the path, the query and the ConsistencyLevel header."""

    path: str
    query: dict[str, str]
    consistency: str | None


@dataclass
class FakeGraph:
    client_id: str = "graph-app"
    client_secret: str = "graph-secret-Wd93"
    token_lifetime: int = 3599
    page_size_cap: int = 5  # small pages, so paging is exercised
    next_link_base: str | None = None  # to answer with a nextLink to another host
    users: dict[str, list[FakeUser]] = field(default_factory=lambda: defaultdict(list))
    global_admins: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # tenant -> ids
    # Role-assignable groups and apps holding Global Administrator: not people to notify.
    other_global_admins: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    token_requests: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    issued_tokens: list[str] = field(default_factory=list)
    graph_calls: list[str] = field(default_factory=list)
    requests: list[GraphRequest] = field(default_factory=list)
    url: str = ""

    def __post_init__(self) -> None:
        self._tokens: dict[str, tuple[str, float]] = {}  # token -> (tenant, expires_at)
        self._runner: web.AppRunner | None = None
        self.fail_next: list[int] = []  # statuses to answer to the next Graph calls
        self.answer_next: Any = None  # a 200 answer of another shape, once

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1.0"

    def add_user(self, tenant_id: str, user: FakeUser, *, global_admin: bool = False) -> None:
        self.users[tenant_id].append(user)
        if global_admin:
            self.global_admins[tenant_id].append(user.id)

    def revoke_tokens(self) -> None:
        """Graph stops accepting every token issued so far (msal still has them cached)."""
        self._tokens.clear()

    def http_client(self) -> MsalHttpStub:
        return MsalHttpStub(self)

    def issue_token(self, tenant_id: str) -> str:
        token = secrets.token_urlsafe(24)
        self._tokens[token] = (tenant_id, time.monotonic() + self.token_lifetime)
        self.issued_tokens.append(token)
        self.token_requests[tenant_id] += 1
        return token

    # -- server ----------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/v1.0/users", self._list_users)
        app.router.add_get("/v1.0/users/{key}", self._get_user)
        app.router.add_get("/v1.0/{role:directoryRoles\\(.*\\)}/members", self._role_members)
        app.router.add_get("/v1.0/roleManagement/directory/roleAssignments", self._role_assignments)
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

    def _tenant(self, request: web.Request) -> str | None:
        value = request.headers.get("Authorization", "")
        found = self._tokens.get(value[7:]) if value.startswith("Bearer ") else None
        if found is None or found[1] < time.monotonic():
            return None
        return found[0]

    def _refusal(self, request: web.Request) -> tuple[str | None, web.Response | None]:
        self.graph_calls.append(request.path)
        self.requests.append(
            GraphRequest(request.path, dict(request.query), request.headers.get("ConsistencyLevel"))
        )
        if self.fail_next:
            status = self.fail_next.pop(0)
            return None, web.json_response(
                {"error": {"code": "TooManyRequests" if status == 429 else "ServiceUnavailable"}},
                status=status,
                headers={"Retry-After": "0"},
            )
        tenant = self._tenant(request)
        if tenant is None:
            return None, web.json_response({"error": {"code": "InvalidAuthenticationToken"}}, status=401)
        if self.answer_next is not None:
            answer, self.answer_next = self.answer_next, None
            return None, web.json_response(answer)
        return tenant, None

    async def _list_users(self, request: web.Request) -> web.Response:
        tenant, refused = self._refusal(request)
        if refused is not None:
            return refused
        users = self.users.get(tenant or "", [])
        wanted = request.query.get("$filter")
        if wanted is not None:
            advanced = request.headers.get("ConsistencyLevel") == "eventual"
            if not advanced or request.query.get("$count") != "true":
                return _unsupported("assignedPlans/any needs ConsistencyLevel: eventual and $count=true")
            plan = re.fullmatch(r"assignedPlans/any\((\w+):\1/servicePlanId eq ([0-9a-f-]{36})\)", wanted)
            if plan is None:
                return _unsupported("Unsupported or invalid query filter clause")
            plan_id = plan.group(2)
            users = [
                u for u in users if any(p["servicePlanId"] == plan_id for p in u.as_graph()["assignedPlans"])
            ]
        top = min(int(request.query.get("$top", "100")), self.page_size_cap)
        return self._page(request, [u.as_graph() for u in users], top, count=wanted is not None)

    def _page(self, request: web.Request, items: list[dict[str, Any]], top: int, *, count: bool = False):
        """One page of `items` from `$skiptoken`, with a nextLink that keeps the rest of the query."""
        skip = int(request.query.get("$skiptoken", "0"))
        body: dict[str, Any] = {"value": items[skip : skip + top]}
        if count:
            body["@odata.count"] = len(items)
        if skip + top < len(items):
            base = self.next_link_base or self.url
            query = {k: v for k, v in request.query.items() if k != "$skiptoken"} | {
                "$skiptoken": str(skip + top)
            }
            body["@odata.nextLink"] = f"{base}{request.path}?{urlencode(query)}"
        return web.json_response(body)

    async def _get_user(self, request: web.Request) -> web.Response:
        tenant, refused = self._refusal(request)
        if refused is not None:
            return refused
        key = unquote(request.match_info["key"]).lower()
        for user in self.users.get(tenant or "", []):
            if key in (user.id.lower(), user.upn.lower()):
                return web.json_response(user.as_graph())
        return web.json_response({"error": {"code": "Request_ResourceNotFound"}}, status=404)

    async def _role_members(self, request: web.Request) -> web.Response:
        tenant, refused = self._refusal(request)
        if refused is not None:
            return refused
        if "$top" in request.query:  # "does not support the $top query parameter"
            return _unsupported("The $top query parameter is not supported on this resource")
        match = re.fullmatch(r"directoryRoles\(roleTemplateId='([0-9a-f-]+)'\)", request.match_info["role"])
        if match is None or match.group(1) != GLOBAL_ADMIN_ROLE_TEMPLATE_ID:
            return web.json_response({"error": {"code": "Request_ResourceNotFound"}}, status=404)
        members = self._admin_principals(tenant or "")
        return web.json_response({"value": members[:1000]})

    async def _role_assignments(self, request: web.Request) -> web.Response:
        tenant, refused = self._refusal(request)
        if refused is not None:
            return refused
        wanted = re.fullmatch(r"roleDefinitionId eq '([0-9a-f-]+)'", request.query.get("$filter", ""))
        if (
            wanted is None
        ):  # "Only specific instances can be queried, by filtering on roleDefinitionId or principalId"
            return _unsupported("A filter on roleDefinitionId or principalId is required")
        expand = request.query.get("$expand") == "principal"
        principals = (
            self._admin_principals(tenant or "") if wanted.group(1) == GLOBAL_ADMIN_ROLE_TEMPLATE_ID else []
        )
        assignments = [
            {
                "id": f"assignment-{p['id']}",
                "principalId": p["id"],
                "roleDefinitionId": wanted.group(1),
                "directoryScopeId": "/",
                **({"principal": p} if expand else {}),
            }
            for p in principals
        ]
        return self._page(request, assignments, self.page_size_cap)

    def _admin_principals(self, tenant: str) -> list[dict[str, Any]]:
        ids = set(self.global_admins.get(tenant, []))
        people = [
            {
                "@odata.type": "#microsoft.graph.user",
                "id": u.id,
                "displayName": u.display_name,
                "userPrincipalName": u.upn,
            }
            for u in self.users.get(tenant, [])
            if u.id in ids
        ]
        # An app can hold the role too; it is not a person to notify.
        app = {"@odata.type": "#microsoft.graph.servicePrincipal", "id": "sp-1", "displayName": "App"}
        return [*people, *self.other_global_admins.get(tenant, []), app]


def _unsupported(message: str) -> web.Response:
    return web.json_response({"error": {"code": "Request_UnsupportedQuery", "message": message}}, status=400)


@dataclass
class StubResponse:
    status_code: int
    text: str
    headers: dict[str, str] = field(default_factory=dict)

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise RuntimeError(f"HTTP {self.status_code}")


class MsalHttpStub:
    """msal's `http_client`: OpenID discovery and client-credential tokens, answered in process."""

    def __init__(self, graph: FakeGraph) -> None:
        self._graph = graph
        self.requests: list[str] = []

    def get(self, url: str, params: Any = None, headers: Any = None, **kwargs: Any) -> StubResponse:
        self.requests.append(f"GET {url}")
        parts = urlsplit(url)
        if parts.path == "/common/discovery/instance":  # msal asks for the host's aliases
            host = parts.netloc
            metadata = [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}]
            return StubResponse(200, json.dumps({"api-version": "1.1", "metadata": metadata}))
        match = re.fullmatch(r"/([^/]+)/v2\.0/\.well-known/openid-configuration", parts.path)
        if match is None:
            raise AssertionError(f"unexpected msal GET {url}")
        tenant = match.group(1)
        base = f"{parts.scheme}://{parts.netloc}/{tenant}"
        return StubResponse(
            200,
            json.dumps(
                {
                    "token_endpoint": f"{base}/oauth2/v2.0/token",
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    "issuer": f"{parts.scheme}://{parts.netloc}/{tenant}/v2.0",
                    "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                }
            ),
        )

    def post(
        self, url: str, params: Any = None, data: Any = None, headers: Any = None, **kwargs: Any
    ) -> StubResponse:
        self.requests.append(f"POST {url}")
        match = re.fullmatch(r"/([^/]+)/oauth2/v2\.0/token", urlsplit(url).path)
        if match is None:
            raise AssertionError(f"unexpected msal POST {url}")
        form = data if isinstance(data, dict) else {k: v[0] for k, v in parse_qs(data or "").items()}
        if form.get("grant_type") != "client_credentials":
            return StubResponse(400, json.dumps({"error": "unsupported_grant_type"}))
        if (
            form.get("client_id") != self._graph.client_id
            or form.get("client_secret") != self._graph.client_secret
        ):
            return StubResponse(401, json.dumps({"error": "invalid_client", "error_codes": [7000215]}))
        token = self._graph.issue_token(match.group(1))
        return StubResponse(
            200,
            json.dumps(
                {"token_type": "Bearer", "expires_in": self._graph.token_lifetime, "access_token": token}
            ),
        )
