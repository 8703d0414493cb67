"""Loads a world (tenants, PBXs, users, people) from a JSON file into the database, idempotently;
spells out a tenant's generated rows; writes a bulk-add file for a tenant of the world."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table, select
from sqlalchemy.exc import IntegrityError

from services import db
from services.db import Database

DEMO_WORLD = Path(__file__).resolve().parent / "seed" / "demo_world.json"


def read_world(path: Path = DEMO_WORLD) -> dict[str, Any]:
    """The world in a file, each tenant's "generated" description spelled out as rows."""
    world = json.loads(path.read_text(encoding="utf-8"))
    world["tenants"] = [_spelled_out(tenant) for tenant in world["tenants"]]
    return world


def _spelled_out(tenant: dict[str, Any]) -> dict[str, Any]:
    """A large tenant is a few lines in the file, not thousands: one more PBX location with a range
    of extensions (caller ID = prefix + extension), and one licensed user, without phone service,
    per given name and surname. The same rows on every start, so ids and names stay fixed."""
    generated = tenant.get("generated")
    if not generated:
        return tenant
    spelled = {key: value for key, value in tenant.items() if key != "generated"}
    ranges = generated["extensions"]
    first = ranges["first"]
    extensions = [
        {"number": str(n), "caller_id": f"{ranges['caller_id_prefix']}{n}"}
        for n in range(first, first + ranges["count"])
    ]
    spelled["pbx_locations"] = [
        *tenant.get("pbx_locations", []),
        generated["pbx_location"] | {"extensions": extensions},
    ]
    users = generated["licensed_users"]
    spelled["teams_users"] = [
        *tenant.get("teams_users", []),
        *(
            {
                "upn": f"{given.lower()}.{surname.lower()}@{users['domain']}",
                "display_name": f"{given} {surname}",
                "licensed": True,
            }
            for surname in users["surnames"]
            for given in users["given_names"]
        ),
    ]
    return spelled


def bulk_add_csv(tenant_id: str, rows: int, path: Path = DEMO_WORLD) -> str:
    """A bulk-add file for a tenant of the world as it starts: its first `rows` licensed users
    without phone service, each on the next free extension of its first PBX location, on its first
    voice route. ValueError when the tenant has fewer of either."""
    tenant = next((t for t in read_world(path)["tenants"] if t["tenant_id"] == tenant_id), None)
    if tenant is None or not tenant.get("pbx_locations") or not tenant.get("voice_routes"):
        raise ValueError(f"no tenant {tenant_id} with a PBX location and a voice route in {path.name}")
    users = [u["upn"] for u in tenant.get("teams_users", []) if u["licensed"] and not u.get("provisioned")]
    assigned = {u["extension"] for u in tenant.get("teams_users", []) if u.get("extension")}
    free = [e["number"] for e in tenant["pbx_locations"][0]["extensions"] if e["number"] not in assigned]
    if not 0 < rows <= min(len(users), len(free)):
        most = min(len(users), len(free))
        raise ValueError(
            f"{tenant['name']} has {len(users)} licensed users without phone service and {len(free)} "
            f"free extensions at {tenant['pbx_locations'][0]['name']}: at most {most} rows"
        )
    route = tenant["voice_routes"][0]["name"]
    # The location column only where the bot cannot take the tenant's only one.
    location = [tenant["pbx_locations"][0]["name"]] if len(tenant["pbx_locations"]) > 1 else []
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["teams_user", "extension", "voice_route"] + (["pbx_location"] if location else []))
    writer.writerows([upn, ext, route, *location] for upn, ext in zip(users[:rows], free, strict=False))
    return out.getvalue()


async def load_world(database: Database, path: Path = DEMO_WORLD) -> None:
    """Insert every row of the world that is not there yet; existing rows are left as they are."""
    world = await asyncio.to_thread(read_world, path)
    rows: list[tuple[Table, dict[str, Any]]] = []
    for tenant in world["tenants"]:
        tid = tenant["tenant_id"]
        rows.append(
            (
                db.tenants,
                {"tenant_id": tid, "name": tenant["name"], "kind": tenant["kind"]} | {"sync_required": False},
            )
        )
        for enterprise in tenant.get("manages", []):
            rows.append(
                (
                    db.partner_enterprises,
                    {"partner_tenant_id": tid, "enterprise_tenant_id": enterprise},
                )
            )
        for person in tenant.get("people", []):
            rows.append(
                (
                    db.people,
                    {
                        "tenant_id": tid,
                        "aad_object_id": person["aad_object_id"],
                        "upn": person["upn"],
                        "display_name": person["display_name"],
                        "global_admin": person.get("global_admin", False),
                        "partner_user": person.get("partner_user", False),
                    },
                )
            )
        for route in tenant.get("voice_routes", []):
            rows.append((db.voice_routes, {"tenant_id": tid} | route))
        assigned = {u["extension"]: u["upn"] for u in tenant.get("teams_users", []) if u.get("extension")}
        for location in tenant.get("pbx_locations", []):
            rows.append(
                (
                    db.pbx_locations,
                    {"tenant_id": tid, "name": location["name"], "domain": location["domain"]},
                )
            )
            for ext in location.get("extensions", []):
                rows.append(
                    (
                        db.extensions,
                        {
                            "tenant_id": tid,
                            "pbx_location": location["name"],
                            "number": ext["number"],
                            "caller_id": ext["caller_id"],
                            "assigned_to": assigned.get(ext["number"]),
                        },
                    )
                )
        first_pbx = tenant["pbx_locations"][0]["name"] if tenant.get("pbx_locations") else None
        # The phone users a world starts with were added by the procedure: the tenant's first
        # route, phone number = extension, SIP authentication ID = extension + "t".
        first_route = tenant["voice_routes"][0]["name"] if tenant.get("voice_routes") else None
        for user in tenant.get("teams_users", []):
            provisioned = user.get("provisioned", False)
            rows.append(
                (
                    db.teams_users,
                    {
                        "tenant_id": tid,
                        "upn": user["upn"],
                        "display_name": user["display_name"],
                        "licensed": user["licensed"],
                        "provisioned": provisioned,
                        "calling_enabled": user.get("calling_enabled", False),
                        "extension": user.get("extension"),
                        "phone_number": user.get("extension"),
                        "pbx_location": first_pbx if provisioned else None,
                        "voicemail_disabled": True if provisioned else None,
                        "default_dial_plan": True if provisioned else None,
                        "voice_route": first_route if provisioned else None,
                        "sip_auth_id": f"{user['extension']}t" if provisioned else None,
                    },
                )
            )
    by_table: dict[str, tuple[Table, list[dict[str, Any]]]] = {}
    for table, row in rows:
        by_table.setdefault(table.name, (table, []))[1].append(row)

    def work(conn: Connection) -> None:
        for table, table_rows in by_table.values():
            keys = [c.name for c in table.primary_key.columns]
            existing = {tuple(r) for r in conn.execute(select(*table.primary_key.columns)).all()}
            fresh = [r for r in table_rows if tuple(r[k] for k in keys) not in existing]
            if fresh:
                conn.execute(table.insert(), fresh)

    for attempt in range(3):
        try:
            await database.write(work)
            return
        except IntegrityError:
            # Another instance starting at the same time inserted the same rows first: look again.
            if attempt == 2:
                raise
