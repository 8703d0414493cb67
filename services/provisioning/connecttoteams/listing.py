"""The tenant's phone users as this backend knows them: its record of the users it configured,
named from the Teams user source, searched and paged like the embedded service does."""

from __future__ import annotations

from services.models import PhoneUser, PhoneUserPage
from services.provisioning.connecttoteams.config import TeamsUserSource
from services.provisioning.connecttoteams.records import PhoneUserRecords
from services.provisioning.search import Search


async def list_phone_users(
    records: PhoneUserRecords, users: TeamsUserSource, tenant_id: str, query: str, offset: int, limit: int
) -> PhoneUserPage:
    search = Search.of(query)
    names = {u.upn.casefold(): u.display_name for u in await users.licensed_users(tenant_id)}
    everyone = [
        PhoneUser(
            upn=r.upn,
            display_name=names.get(r.upn.casefold()) or r.upn,
            pbx_location=r.pbx_location,
            extension=r.extension,
            phone_number=r.phone_number,
            voice_route=r.voice_route,
            calling_enabled=r.calling_enabled,
            sync_pending=not r.synced,
        )
        for r in await records.for_tenant(tenant_id)
    ]
    found = sorted(
        (u for u in everyone if search.person(u.display_name, u.upn, u.extension)),
        key=lambda u: (u.display_name.casefold(), u.upn),
    )
    start = max(0, offset)
    return PhoneUserPage(items=found[start : start + max(0, limit)], total=len(found))
