"""Microsoft Graph for what the provisioning platform does not list: licensed Teams users, global admins.

`GraphClient` uses an app-only token per customer tenant (client credentials from a multi-tenant app
registration that each customer's admin consented to, with User.Read.All and
RoleManagement.Read.Directory). msal is synchronous, so it runs in a worker thread; Graph calls go
through aiohttp with the shared timeout/retry helper (Graph throttles with 429 + Retry-After).

`GraphDirectory` implements the `Directory` protocol with it: a customer tenant's Global Administrators
are its tenant admins; partner people come from the provider's partner list.

At a tenant's scale, as Microsoft's reference says: licensed users are asked for directly with the
advanced query `assignedPlans/any(...)` (`$count=true`, header `ConsistencyLevel: eventual`, "Advanced
query capabilities on Microsoft Entra ID objects"), not by reading every user; Global Administrators
come from the unified RBAC API (`roleManagement/directory/roleAssignments`, filtered on the role,
principal expanded), since `directoryRoles/.../members` returns up to 1,000 objects and takes no
`$top`. An answer of another shape is an error whose keys (not values) are logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import aiohttp
import msal
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from i18n import T
from services.directory import Person
from services.errors import ProvisioningError
from services.models import Actor, Role, TeamsUser, Tenant
from services.outbound_http import Caller, GaveUp, Reply, RetryPolicy, Sleep, redact
from services.provisioning.connecttoteams.wire import answer_keys
from services.provisioning.partners import Partners
from services.ttl_cache import TtlCache

log = logging.getLogger(__name__)

# Teams Phone is the service plan MCOEV ("Microsoft 365 Phone System"), part of Teams Phone Standard,
# E5 and the Teams Phone add-ons. A user is offered when one of these plans is assigned with a
# capabilityStatus "available for normal use" (assignedPlan: Enabled, or Warning, a grace period;
# not Suspended, LockedOut or Deleted) and the account is enabled.
TEAMS_PHONE_SERVICE_PLANS = {"4828c8ec-dc2e-4779-b502-87ac9ce28ab7": "MCOEV"}
USABLE_PLAN_STATUSES = frozenset({"enabled", "warning"})
# The built-in role's template id, which the unified RBAC API takes as its roleDefinitionId.
GLOBAL_ADMIN_ROLE_TEMPLATE_ID = "62e90394-69f5-4237-9190-012177145e10"
USER_FIELDS = "id,displayName,userPrincipalName,accountEnabled,assignedPlans"
ADVANCED_QUERY = {"ConsistencyLevel": "eventual"}


class GraphConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    client_id: str
    client_secret: SecretStr
    authority_host: str = "https://login.microsoftonline.com"
    base_url: str = "https://graph.microsoft.com/v1.0"
    scope: str = "https://graph.microsoft.com/.default"
    retry: RetryPolicy = RetryPolicy()
    users_ttl_seconds: float = Field(default=300.0, ge=0)
    admins_ttl_seconds: float = Field(default=300.0, ge=0)
    token_margin_seconds: float = Field(default=120.0, ge=0)
    teams_phone_plan_ids: frozenset[str] = frozenset(TEAMS_PHONE_SERVICE_PLANS)
    page_size: int = Field(default=999, ge=1, le=999)


class _Cached:
    def __init__(self, value: Any, expires_at: float) -> None:
        self.value = value
        self.expires_at = expires_at


class GraphClient:
    """Licensed users, one user by UPN, and global admins of a customer tenant."""

    def __init__(
        self,
        config: GraphConfig,
        *,
        http_client: Any = None,
        session: aiohttp.ClientSession | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._config = config
        self._http_client = http_client  # msal's; tests answer token requests locally with it
        self._session = session
        self._owns_session = session is None
        self._clock = clock
        self._sleep = sleep
        self._apps: dict[str, msal.ConfidentialClientApplication] = {}
        self._tokens: dict[str, _Cached] = {}
        self._token_locks: dict[str, asyncio.Lock] = {}
        self._cache = TtlCache(clock)
        self._caller: Caller | None = None

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(raise_for_status=False)
        self._caller = Caller(self._session, self._config.retry, log, sleep=self._sleep, clock=self._clock)

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None
        self._caller = None

    # -- what the bot asks -----------------------------------------------------------------------

    async def licensed_users(self, tenant_id: str) -> list[TeamsUser]:
        """Users holding a usable Teams Phone plan, by display name; cached for `users_ttl_seconds`.
        Graph's filter finds the users the plan is assigned to, whatever its state: the state and
        the account are checked here."""

        async def load() -> list[TeamsUser]:
            found: dict[str, TeamsUser] = {}
            for plan in sorted(self._config.teams_phone_plan_ids):
                params = {
                    "$select": USER_FIELDS,
                    "$filter": f"assignedPlans/any(p:p/servicePlanId eq {plan})",
                    "$count": "true",
                    "$top": str(self._config.page_size),
                }
                async for raw in self._pages(tenant_id, "/users", params, ADVANCED_QUERY):
                    user = self._teams_user(raw)
                    if user.licensed and user.upn:
                        found[user.upn.casefold()] = user
            return sorted(found.values(), key=lambda u: (u.display_name.casefold(), u.upn.casefold()))

        return list(await self._cached(tenant_id, "licensed", self._config.users_ttl_seconds, load))

    async def user(self, tenant_id: str, upn: str) -> TeamsUser | None:
        """One user by UPN (not cached: the form checks it right before an add)."""
        if not upn or "/" in upn:
            return None
        data = await self._get(tenant_id, f"/users/{quote(upn, safe='@')}", {"$select": USER_FIELDS})
        return self._teams_user(data) if data is not None else None

    async def global_admins(self, tenant_id: str) -> list[Person]:
        """The users assigned the Global Administrator role (active assignments; PIM-eligible ones
        and members of a role-assignable group are not), from the unified RBAC API."""

        async def load() -> list[Person]:
            params = {
                "$filter": f"roleDefinitionId eq '{GLOBAL_ADMIN_ROLE_TEMPLATE_ID}'",
                "$expand": "principal",
            }
            people = []
            async for assignment in self._pages(
                tenant_id, "/roleManagement/directory/roleAssignments", params
            ):
                member = assignment.get("principal")
                if not isinstance(member, dict):
                    raise self._unexpected("/roleManagement/directory/roleAssignments", assignment)
                kind = member.get("@odata.type", "#microsoft.graph.user")
                if kind != "#microsoft.graph.user" or not member.get("id"):
                    continue
                people.append(
                    Person(
                        tenant_id=tenant_id,
                        aad_object_id=member["id"],
                        upn=member.get("userPrincipalName") or "",
                        display_name=member.get("displayName") or member.get("userPrincipalName") or "",
                    )
                )
            return sorted(people, key=lambda p: p.display_name.casefold())

        return list(await self._cached(tenant_id, "admins", self._config.admins_ttl_seconds, load))

    def forget(self, tenant_id: str) -> None:
        """Drop the cached lists of a tenant (after a licence change the provider knows about)."""
        self._cache.forget(lambda key: isinstance(key, tuple) and key[0] == tenant_id)

    # -- plumbing --------------------------------------------------------------------------------

    def _teams_user(self, data: dict[str, Any]) -> TeamsUser:
        plans = data.get("assignedPlans") or []
        has_plan = any(
            str(p.get("servicePlanId", "")).lower() in self._config.teams_phone_plan_ids
            and str(p.get("capabilityStatus", "")).lower() in USABLE_PLAN_STATUSES
            for p in plans
            if isinstance(p, dict)
        )
        upn = data.get("userPrincipalName") or ""
        return TeamsUser(
            upn=upn,
            display_name=data.get("displayName") or upn,
            licensed=has_plan and data.get("accountEnabled", True) is not False,
        )

    async def _cached(self, tenant_id: str, what: str, ttl: float, load: Callable[[], Any]) -> Any:
        return await self._cache.get((tenant_id, what), ttl, load)

    async def _pages(
        self, tenant_id: str, path: str, params: dict[str, str], headers: dict[str, str] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """The items of a collection, page by page (`@odata.nextLink` keeps the query; the headers
        go with every page). An answer without a `value` array is not read as empty."""
        data = await self._get(tenant_id, path, params, headers=headers)
        what = path
        while True:
            items = data.get("value") if isinstance(data, dict) else None
            if not isinstance(items, list):
                raise self._unexpected(what, data)
            for item in items:
                if isinstance(item, dict):
                    yield item
            next_link = data.get("@odata.nextLink") if isinstance(data, dict) else None
            if not next_link:
                return
            if not isinstance(next_link, str) or not _same_origin(next_link, self._config.base_url):
                # The token must never be sent to another host.
                raise ProvisioningError(
                    T("Microsoft Graph answered with an unexpected link."), retryable=False
                )
            what = urlsplit(next_link).path
            data = await self._get(tenant_id, next_link, None, absolute=True, headers=headers)

    def _unexpected(self, what: str, data: Any) -> ProvisioningError:
        log.error("Graph GET %s answered in a form the bot does not know: %s", what, answer_keys(data))
        return ProvisioningError(
            T(
                "Microsoft Graph answered in a form the bot does not know, so nothing was read; try "
                "again later, and tell the provider if it stays so (the bot's log says what came)."
            ),
            retryable=False,
        )

    async def _get(
        self,
        tenant_id: str,
        path: str,
        params: dict[str, str] | None,
        *,
        absolute: bool = False,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """The answer's JSON (None for a 404)."""
        if self._caller is None:
            raise RuntimeError("GraphClient.start() was not called")
        url = path if absolute else self._config.base_url.rstrip("/") + path

        used: str | None = None

        async def authorize(refresh: bool) -> dict[str, str]:
            nonlocal used
            if refresh:
                self._refused(tenant_id, used)
                return {}
            used = await self._token(tenant_id)
            return {"Authorization": f"Bearer {used}"}

        what = urlsplit(url).path
        try:
            reply = await self._caller.call(
                "GET",
                url,
                what=what,
                authorize=authorize,
                params=params,
                headers={"Accept": "application/json", **(headers or {})},
            )
        except GaveUp:
            raise ProvisioningError(
                T("Microsoft Graph is not answering right now; try again in a few minutes."), retryable=True
            ) from None
        return self._answer(reply, what)

    def _answer(self, reply: Reply, what: str) -> Any:
        if reply.ok:
            data = reply.json()
            if not isinstance(data, dict):
                raise self._unexpected(what, data)
            return data
        if reply.status == 404:
            return None
        code = _graph_error_code(reply)
        log.warning("Graph GET %s -> %d %s", what, reply.status, code)
        if reply.status in (401, 403):
            raise ProvisioningError(
                T(
                    "The bot may not read this tenant's directory: its Global Admin must grant the bot's "
                    "app admin consent ({permissions}).",
                    permissions="User.Read.All, RoleManagement.Read.Directory",
                ),
                retryable=False,
            )
        raise ProvisioningError(
            T("Microsoft Graph refused the request (HTTP {status}).", status=reply.status), retryable=False
        )

    def _refused(self, tenant_id: str, token: str | None) -> None:
        """Forget a token Graph refused, and msal's copy of it (a new app starts with an empty cache);
        many calls refused with the same token cause one new token."""
        cached = self._tokens.get(tenant_id)
        if token is not None and cached is not None and cached.value == token:
            del self._tokens[tenant_id]
            self._apps.pop(tenant_id, None)

    async def _token(self, tenant_id: str) -> str:
        cached = self._tokens.get(tenant_id)
        if cached is not None and cached.expires_at > self._clock():
            return cached.value
        async with self._token_locks.setdefault(tenant_id, asyncio.Lock()):
            cached = self._tokens.get(tenant_id)
            if cached is not None and cached.expires_at > self._clock():
                return cached.value
            app = self._apps.get(tenant_id)
            if app is None:
                app = await asyncio.to_thread(self._new_app, tenant_id)
                self._apps[tenant_id] = app
            try:
                result = await asyncio.to_thread(app.acquire_token_for_client, scopes=[self._config.scope])
            except Exception as exc:  # msal raises requests' or its own errors on a network failure
                log.warning("Graph token request for tenant %s failed: %s", tenant_id, type(exc).__name__)
                raise ProvisioningError(
                    T("Microsoft sign-in is not answering right now; try again in a few minutes."),
                    retryable=True,
                ) from None
            token = result.get("access_token") if isinstance(result, dict) else None
            if not token:
                error = str(result.get("error", "unknown")) if isinstance(result, dict) else "unknown"
                codes = result.get("error_codes", []) if isinstance(result, dict) else []
                log.error("Graph token for tenant %s refused: %s %s", tenant_id, error, codes)
                retryable = error in ("temporarily_unavailable", "server_error")
                raise ProvisioningError(
                    T(
                        "The bot could not sign in to this tenant's directory; its Global Admin may need to "
                        "grant the bot's app admin consent."
                    ),
                    retryable=retryable,
                )
            lifetime = float(result.get("expires_in") or 300)
            margin = min(self._config.token_margin_seconds, lifetime / 2)
            self._tokens[tenant_id] = _Cached(token, self._clock() + lifetime - margin)
            return token

    def _new_app(self, tenant_id: str) -> msal.ConfidentialClientApplication:
        authority = f"{self._config.authority_host.rstrip('/')}/{tenant_id}"
        try:
            return msal.ConfidentialClientApplication(
                self._config.client_id,
                client_credential=self._config.client_secret.get_secret_value(),
                authority=authority,
                http_client=self._http_client,
            )
        except Exception as exc:  # discovery failed: unknown tenant or no network
            text = redact(str(exc), [self._config.client_secret.get_secret_value()])
            log.warning("Microsoft sign-in setup for tenant %s failed: %s", tenant_id, text[:300])
            raise ProvisioningError(
                T("Microsoft sign-in for this tenant could not be reached; try again in a few minutes."),
                retryable=True,
            ) from None


class TenantLookup(Protocol):
    async def tenant(self, tenant_id: str) -> Tenant | None: ...


class GraphDirectory:
    """`Directory` over Graph: tenant admins are the Global Administrators of a known customer tenant;
    partners are the people the provider's partner list names. Fails closed (role none) when Graph
    cannot answer."""

    def __init__(self, graph: GraphClient, partners: Partners, customers: TenantLookup | None = None) -> None:
        self._graph = graph
        self._partners = partners
        self._customers = customers

    async def actor(self, tenant_id: str, aad_object_id: str, name: str = "") -> Actor:
        base = Actor(tenant_id=tenant_id or "", aad_object_id=aad_object_id or "", name=name)
        if not tenant_id or not aad_object_id:
            return base
        partner = self._partners.get(tenant_id)
        if partner is not None:
            base = base.model_copy(update={"known_tenant": True})
            if aad_object_id in partner.user_ids:
                return base.model_copy(update={"role": Role.partner})
            return base
        if self._customers is not None:
            try:
                known = await self._customers.tenant(tenant_id)
            except ProvisioningError as exc:
                log.warning("cannot tell whether tenant %s is a customer: %s", tenant_id, exc.message)
                return base
            if known is None:
                return base
            base = base.model_copy(update={"known_tenant": True})
        try:
            admins = await self._graph.global_admins(tenant_id)
        except ProvisioningError as exc:
            log.warning("cannot read the global admins of tenant %s: %s", tenant_id, exc.message)
            return base
        for admin in admins:
            if admin.aad_object_id == aad_object_id:
                return base.model_copy(update={"role": Role.tenant_admin, "name": admin.display_name or name})
        return base

    async def is_global_admin(self, tenant_id: str, aad_object_id: str) -> bool:
        return (await self.actor(tenant_id, aad_object_id)).role is Role.tenant_admin

    async def global_admins(self, tenant_id: str) -> list[Person]:
        if self._partners.get(tenant_id) is not None:
            return []
        return await self._graph.global_admins(tenant_id)


def _same_origin(url: str, base: str) -> bool:
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)


def _graph_error_code(reply: Reply) -> str:
    data = reply.json()
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        return str(data["error"].get("code", ""))[:100]
    return ""
