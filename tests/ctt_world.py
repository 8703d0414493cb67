"""The demo world (services/seed/demo_world.json) as the ConnecttoTeams production setup would hold it:
enterprises and SBC gateways at the platform double, users and admins in the fake Graph, a PBX
directory file, a partner list and our record of the users configured before.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.db import Database
from services.outbound_http import RetryPolicy
from services.provisioning.connecttoteams import (
    ConnectToTeamsConfig,
    ConnectToTeamsProvisioningService,
    InMemoryPhoneUserRecords,
    PhoneUserRecord,
    PhoneUserRecords,
    SqlPhoneUserRecords,
)
from services.provisioning.graph import GraphClient, GraphConfig
from services.provisioning.partners import Partner, Partners
from services.provisioning.pbx_directory import FilePbxDirectory, write_pbx_csv
from services.seed_data import read_world
from tests.ctt_double import CttDouble
from tests.graph_double import FakeGraph, FakeUser

PROVIDER_RESELLER = 1000
PARTNER_RESELLERS = {"Northwind Voice": 2001, "Tailspin Telecom": 2002}
GATEWAYS = {"CA Central": 1, "US West": 2}
CALLBACK_URL = "https://bot.example/api/ctt/callback"
# The service-provider management consent's actionType: the stored copy of "Enterprise Admin URL
# Workflow" describes it without its name, so the provider sets it (CTT_MANAGEMENT_CONSENT_ACTION).
MANAGEMENT_CONSENT_ACTION = "GET_MANAGEMENT_CONSENT"


def pbx_id(tenant: dict[str, Any], location: dict[str, Any]) -> str:
    """The platform's id of a PBX location ("Common API Methods", Configure PBX): what configureUser's
    `pbxLocation` takes. Made up, stable: 7000 + the tenant's place in the demo world * 10 + the
    location's place in the tenant."""
    return str(7000 + 10 * _TENANT_ORDER.index(tenant["tenant_id"]) + tenant["pbx_locations"].index(location))


def load_demo_world() -> dict[str, Any]:
    # Spelled out as the embedded service loads it (a generated tenant's users and extensions too).
    return read_world()


_TENANT_ORDER = [t["tenant_id"] for t in load_demo_world()["tenants"]]


def user_id(upn: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"user:{upn}"))


def seed_platform(ctt: CttDouble, world: dict[str, Any]) -> None:
    customers = [t for t in world["tenants"] if t["kind"] == "customer"]
    regions = [{"sbcGatewayId": gid, "sbcGatewayRegion": name} for name, gid in GATEWAYS.items()]
    ctt.reseller_id = PROVIDER_RESELLER
    ctt.gateways = {PROVIDER_RESELLER: regions, **{r: regions for r in PARTNER_RESELLERS.values()}}

    def record(tenant: dict[str, Any], reseller: int) -> dict[str, Any]:
        number = 500 + customers.index(tenant)
        return {
            "enterpriseId": number,
            "enterpriseName": tenant["name"],
            "tenantId": tenant["tenant_id"],
            "resellerId": reseller,
            "sbcGateways": [r["route_id"] for r in tenant.get("voice_routes", [])],
            "services": ["PBX"],
        }

    ctt.enterprises = {PROVIDER_RESELLER: [record(t, PROVIDER_RESELLER) for t in customers]}
    ctt.pbx_ids = {t["tenant_id"]: {pbx_id(t, loc) for loc in t.get("pbx_locations", [])} for t in customers}
    ctt.management_consent_action = MANAGEMENT_CONSENT_ACTION
    for partner in (t for t in world["tenants"] if t["kind"] == "partner"):
        reseller = PARTNER_RESELLERS[partner["name"]]
        managed = [t for t in customers if t["tenant_id"] in partner.get("manages", [])]
        ctt.enterprises[reseller] = [record(t, PROVIDER_RESELLER) for t in managed]
    for tenant in customers:
        domain = tenant["pbx_locations"][0]["domain"] if tenant.get("pbx_locations") else ""
        for user in tenant.get("teams_users", []):
            if user.get("provisioned"):
                ctt.seed_user(
                    tenant["tenant_id"],
                    {
                        "teamsUserId": user["upn"],
                        "tenantId": tenant["tenant_id"],
                        "pbxLocation": pbx_id(tenant, tenant["pbx_locations"][0]),
                        "pbxUserId": f"{user['extension']}@{domain}",
                        "sbcGatewayId": tenant["voice_routes"][0]["route_id"],
                    },
                    microsoft_side=user.get("calling_enabled", False),
                )


def seed_graph(graph: FakeGraph, world: dict[str, Any]) -> None:
    for tenant in world["tenants"]:
        if tenant["kind"] != "customer":
            continue
        tid = tenant["tenant_id"]
        for user in tenant.get("teams_users", []):
            graph.add_user(
                tid, FakeUser(user_id(user["upn"]), user["upn"], user["display_name"], user["licensed"])
            )
        for person in tenant.get("people", []):
            graph.add_user(
                tid,
                FakeUser(person["aad_object_id"], person["upn"], person["display_name"]),
                global_admin=person.get("global_admin", False),
            )


def pbx_csv(world: dict[str, Any], *, with_ids: bool = True) -> str:
    """The provider's PBX directory; `with_ids=False`: without the PBX ids configureUser needs."""
    rows = []
    for tenant in world["tenants"]:
        for location in tenant.get("pbx_locations", []):
            for ext in location.get("extensions", []):
                rows.append(
                    {
                        "tenant_id": tenant["tenant_id"],
                        "pbx_location": location["name"],
                        "pbx_domain": location["domain"],
                        "extension": ext["number"],
                        "caller_id": ext["caller_id"],
                        "pbx_location_id": pbx_id(tenant, location) if with_ids else "",
                    }
                )
    return write_pbx_csv(rows)


def partners_of(world: dict[str, Any]) -> Partners:
    return Partners(
        Partner(
            tenant_id=t["tenant_id"],
            name=t["name"],
            reseller_id=str(PARTNER_RESELLERS[t["name"]]),
            user_ids=frozenset(p["aad_object_id"] for p in t.get("people", []) if p.get("partner_user")),
        )
        for t in world["tenants"]
        if t["kind"] == "partner"
    )


async def seed_records(records: PhoneUserRecords, world: dict[str, Any]) -> None:
    """What the bot would have recorded had it configured the users the demo world starts with."""
    for tenant in world["tenants"]:
        for user in tenant.get("teams_users", []):
            if not user.get("provisioned"):
                continue
            route = tenant["voice_routes"][0]
            await records.save(
                PhoneUserRecord(
                    tenant_id=tenant["tenant_id"],
                    upn=user["upn"],
                    pbx_location=tenant["pbx_locations"][0]["name"],
                    extension=user["extension"],
                    voice_route=route["name"],
                    sbc_gateway_id=route["route_id"],
                    phone_number=user["extension"],
                    voicemail_disabled=True,
                    default_dial_plan=True,
                    sip_auth_id=f"{user['extension']}t",
                    synced=True,
                    calling_enabled=user.get("calling_enabled", False),
                )
            )


async def seed_bot_database(database_url: str, world: dict[str, Any]) -> None:
    """The bot's own database as it would be had the bot configured the demo world's phone users
    (its record of them, migration by migration): what the app reads on the ConnecttoTeams backend."""
    database = Database(database_url)
    try:
        await database.migrate()
        await seed_records(SqlPhoneUserRecords(database), world)
    finally:
        await database.close()


FAST_RETRIES = {
    "request_timeout_seconds": 2.0,
    "connect_timeout_seconds": 1.0,
    "max_attempts": 4,
    "backoff_base_seconds": 0.01,
    "backoff_max_seconds": 0.05,
    "retry_after_max_seconds": 5.0,
}


@dataclass
class CttWorld:
    """Doubles and the service over them, started; `close()` stops everything."""

    ctt: CttDouble
    graph: FakeGraph
    graph_client: GraphClient
    records: PhoneUserRecords
    service: ConnectToTeamsProvisioningService
    pbx_file: Path
    world: dict[str, Any]

    async def close(self) -> None:
        await self.service.close()
        await self.graph_client.close()
        await self.ctt.stop()
        await self.graph.stop()


async def build_ctt_world(
    tmp_path: Path,
    *,
    records: PhoneUserRecords | None = None,
    tenant_states: Any = None,
    consented: frozenset[str] | None = None,
    ctt: CttDouble | None = None,
    clock: Any = None,
    sleep: Any = None,
    **config: Any,
) -> CttWorld:
    world = load_demo_world()
    ctt = ctt or CttDouble()
    graph = FakeGraph()
    seed_platform(ctt, world)
    seed_graph(graph, world)
    await asyncio.gather(ctt.start(), graph.start())
    pbx_file = tmp_path / "pbx_directory.csv"
    pbx_file.write_text(pbx_csv(world), encoding="utf-8")
    records = records if records is not None else InMemoryPhoneUserRecords()
    await seed_records(records, world)
    extra: dict[str, Any] = {} if clock is None else {"clock": clock}
    if sleep is not None:
        extra["sleep"] = sleep
    graph_client = GraphClient(
        GraphConfig(
            client_id=graph.client_id,
            client_secret=graph.client_secret,
            base_url=graph.base_url,
            retry=RetryPolicy(
                attempts=3, backoff_base_seconds=0.01, backoff_max_seconds=0.02, timeout_seconds=2
            ),
        ),
        http_client=graph.http_client(),
        **extra,
    )
    customers = frozenset(t["tenant_id"] for t in world["tenants"] if t["kind"] == "customer")
    consented = customers if consented is None else consented
    ctt.consent = set(consented)
    settings = {
        "base_url": ctt.url,
        "client_id": ctt.client_id,
        "client_secret": ctt.client_secret,
        "api_username": ctt.username,
        "api_password": ctt.password,
        "reseller_id": str(PROVIDER_RESELLER),
        "consented_tenant_ids": consented,
        "admin_callback_url": CALLBACK_URL,
        "management_consent_action_type": MANAGEMENT_CONSENT_ACTION,
        **FAST_RETRIES,
        **config,
    }
    service = ConnectToTeamsProvisioningService(
        ConnectToTeamsConfig(**settings),
        users=graph_client,
        pbx=FilePbxDirectory(pbx_file),
        records=records,
        partners=partners_of(world),
        **({"tenant_states": tenant_states} if tenant_states is not None else {}),
        **extra,
    )
    await graph_client.start()
    await service.start()
    return CttWorld(ctt, graph, graph_client, records, service, pbx_file, world)
