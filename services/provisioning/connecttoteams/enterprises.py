"""The platform's enterprises and voice routes: listed per reseller (ours and the partners'), cached
for a while, and our reseller id, discovered from the API user when it is not configured.

getEnterprisesForReseller is a v3 call, read in the v3 answer's shape ("Generating reports guide":
a DataTables draw whose records are under `data._embedded`); when it counts more records than it
carries, the rest is asked for with DataTables' own `start` and `length`
(https://datatables.net/manual/server-side). getAuthenticatedUser takes the username as the raw
body ("Getting started on API": `--data 'myadmin'`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from i18n import T
from services.errors import ProvisioningError, not_set_up
from services.models import VoiceRoute
from services.outbound_http import Reply, RetryPolicy
from services.provisioning.connecttoteams.api import Doing, PlatformApi
from services.provisioning.connecttoteams.config import ConnectToTeamsConfig, Enterprise
from services.provisioning.connecttoteams.wire import answer_keys, as_int, enterprise_from, list_answer
from services.provisioning.partners import Partners
from services.ttl_cache import TtlCache

# The package's name, as the single module had: log filters written for this backend keep matching.
log = logging.getLogger(__package__)

WHO_AM_I = "/reseller/getAuthenticatedUser"
MAX_LIST_CALLS = 100  # a list that keeps counting more than it gives is refused, not read forever


async def who_am_i(api: PlatformApi, username: str, policy: RetryPolicy | None = None) -> Reply:
    """PUT /reseller/getAuthenticatedUser with the username as the raw body, as documented."""
    return await api.call(
        "PUT", WHO_AM_I, data=username.encode(), headers={"Content-Type": "application/json"}, policy=policy
    )


class EnterpriseCatalog:
    """Enterprises by tenant and the voice routes each may use, read through `PlatformApi`."""

    def __init__(
        self, api: PlatformApi, config: ConnectToTeamsConfig, partners: Partners, clock: Callable[[], float]
    ) -> None:
        self._api = api
        self._config = config
        self._partners = partners
        self._cache = TtlCache(clock)
        self._reseller: str | None = config.reseller_id or None

    async def require(self, tenant_id: str) -> Enterprise:
        enterprise = await self.find(tenant_id)
        if enterprise is None:
            raise ProvisioningError(not_set_up(tenant_id))
        return enterprise

    async def find(self, tenant_id: str) -> Enterprise | None:
        wanted = tenant_id.lower()
        return next((e for e in await self.listed() if e.tenant_id.lower() == wanted), None)

    async def listed(self) -> list[Enterprise]:
        """Every enterprise of our reseller and of the partners' resellers, once per tenant."""
        resellers = [await self.reseller_id()]
        resellers += [
            p.reseller_id for p in self._partners if p.reseller_id and p.reseller_id not in resellers
        ]
        lists = await asyncio.gather(*(self.of_reseller(r) for r in resellers))
        seen: dict[str, Enterprise] = {}
        for enterprises in lists:
            for e in enterprises:
                seen.setdefault(e.tenant_id.lower(), e)
        return list(seen.values())

    async def of_reseller(self, reseller_id: str) -> list[Enterprise]:
        async def load() -> list[Enterprise]:
            items: list[Any] = []
            total = 0
            for _ in range(MAX_LIST_CALLS):
                params = {"resellerId": reseller_id}
                if items:  # the rest of what the first answer counted
                    params |= {"start": str(len(items)), "length": str(total - len(items))}
                reply = await self._api.call("GET", "/reseller/v3/getEnterprisesForReseller", params=params)
                if not reply.ok:
                    raise self._api.refused(reply, Doing.listing_enterprises)
                answer = list_answer(reply.json())
                if answer is None:
                    raise self._api.unexpected(reply, Doing.listing_enterprises)
                items += answer.items
                total = answer.total if answer.total is not None else len(items)
                if len(items) >= total:
                    break
                if not answer.items:
                    log.error("getEnterprisesForReseller counted %d record(s) but gave %d", total, len(items))
                    raise self._api.unexpected(reply, Doing.listing_enterprises)
            else:
                raise self._api.unexpected(reply, Doing.listing_enterprises)
            enterprises = [e for e in (enterprise_from(raw, reseller_id) for raw in items) if e is not None]
            if items and not enterprises:
                log.warning(
                    "getEnterprisesForReseller listed %d item(s) but none with a tenant id", len(items)
                )
            return enterprises

        return await self._cache.get(("enterprises", reseller_id), self._config.cache_ttl_seconds, load)

    async def voice_routes(self, enterprise: Enterprise) -> list[VoiceRoute]:
        async def load() -> list[VoiceRoute]:
            path = f"/reseller/getAvailableSBCGatewayRegionsByResellerId/{enterprise.reseller_id}"
            reply = await self._api.call("GET", path)
            if not reply.ok:
                raise self._api.refused(reply, Doing.listing_voice_routes)
            answer = list_answer(reply.json())
            if answer is None:
                raise self._api.unexpected(reply, Doing.listing_voice_routes)
            routes = []
            for raw in answer.items:
                if not isinstance(raw, dict):
                    continue
                gateway = as_int(raw.get("sbcGatewayId"))
                region = raw.get("sbcGatewayRegion")
                if gateway and gateway > 0 and isinstance(region, str) and region.strip():
                    routes.append(VoiceRoute(route_id=gateway, name=region.strip()))
            return routes

        routes = await self._cache.get(
            ("routes", enterprise.reseller_id), self._config.cache_ttl_seconds, load
        )
        if enterprise.sbc_gateway_ids is not None:
            routes = [r for r in routes if r.route_id in enterprise.sbc_gateway_ids]
        return sorted(routes, key=lambda r: r.name.casefold())

    async def reseller_id(self) -> str:
        if self._reseller:
            return self._reseller
        reply = await who_am_i(self._api, self._config.api_username)
        if not reply.ok:
            raise self._api.refused(reply, Doing.finding_reseller_id)
        data = reply.json()
        if not isinstance(data, dict):
            raise self._api.unexpected(reply, Doing.finding_reseller_id)
        reseller = as_int(data.get("resellerId"))
        if not reseller:
            log.error("getAuthenticatedUser answered without a resellerId: %s", answer_keys(data))
            raise ProvisioningError(
                T(
                    "The provisioning platform did not tell our reseller id; the provider must set {setting}.",
                    setting="CTT_RESELLER_ID",
                ),
                retryable=False,
            )
        self._reseller = str(reseller)
        log.info("reseller id %s discovered from the API user", self._reseller)
        return self._reseller
