"""Who is who: the role of a user, decided from tenant id and AAD object id, never from names."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from pydantic import BaseModel
from sqlalchemy import bindparam, select

from services import db
from services.db import Database
from services.models import Actor, Role
from services.ttl_cache import TtlCache


class Person(BaseModel):
    tenant_id: str
    aad_object_id: str
    upn: str
    display_name: str


class Directory(Protocol):
    async def actor(self, tenant_id: str, aad_object_id: str, name: str = "") -> Actor: ...

    async def is_global_admin(self, tenant_id: str, aad_object_id: str) -> bool: ...

    async def global_admins(self, tenant_id: str) -> list[Person]: ...


class EmbeddedDirectory:
    """Roles from the seeded `people` and `tenants` tables (the demo world, or a provider's file).

    With `role_ttl_seconds` > 0 a person's role is kept that long (ROLE_CACHE_SECONDS, 5 s in the
    app): it is still checked on every turn and click, and a role granted or revoked in the tables
    takes effect within that time (the Graph directory keeps global admins for 5 minutes).
    """

    def __init__(
        self,
        database: Database,
        *,
        role_ttl_seconds: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = database
        self._role_ttl = role_ttl_seconds
        self._roles = TtlCache(clock)

    async def actor(self, tenant_id: str, aad_object_id: str, name: str = "") -> Actor:
        if not tenant_id or not aad_object_id:
            return Actor(tenant_id=tenant_id or "", aad_object_id=aad_object_id or "", name=name)
        if self._role_ttl > 0:
            role, display, known_tenant = await self._roles.get(
                (tenant_id, aad_object_id), self._role_ttl, lambda: self._role(tenant_id, aad_object_id)
            )
        else:
            role, display, known_tenant = await self._role(tenant_id, aad_object_id)
        return Actor(
            tenant_id=tenant_id,
            aad_object_id=aad_object_id,
            name=display if display is not None else name,
            role=role,
            known_tenant=known_tenant,
        )

    async def _role(self, tenant_id: str, aad_object_id: str) -> tuple[Role, str | None, bool]:
        """The person's role, display name (None when the directory does not know them) and whether
        their tenant is known, in one read."""
        key = {"tenant_id": tenant_id, "aad_object_id": aad_object_id}
        row = await self._db.read(lambda conn: conn.execute(_ROLE, key).first())
        if row is None:
            return Role.none, None, False
        role = Role.none
        if row.kind == "customer" and row.global_admin:
            role = Role.tenant_admin
        elif row.kind == "partner" and row.partner_user:
            role = Role.partner
        return role, row.display_name, True

    async def is_global_admin(self, tenant_id: str, aad_object_id: str) -> bool:
        return (await self.actor(tenant_id, aad_object_id)).role is Role.tenant_admin

    async def global_admins(self, tenant_id: str) -> list[Person]:
        p = db.people
        query = (
            select(p)
            .join(db.tenants, db.tenants.c.tenant_id == p.c.tenant_id)
            .where(p.c.tenant_id == tenant_id, p.c.global_admin.is_(True), db.tenants.c.kind == "customer")
            .order_by(p.c.display_name)
        )
        rows = await self._db.read(lambda conn: conn.execute(query).all())
        return [
            Person(
                tenant_id=r.tenant_id, aad_object_id=r.aad_object_id, upn=r.upn, display_name=r.display_name
            )
            for r in rows
        ]


# Built once (a turn reads it when the role cache has no fresh entry for the person).
_ROLE = (
    select(db.tenants.c.kind, db.people.c.display_name, db.people.c.global_admin, db.people.c.partner_user)
    .select_from(db.tenants)
    .outerjoin(
        db.people,
        (db.people.c.tenant_id == db.tenants.c.tenant_id)
        & (db.people.c.aad_object_id == bindparam("aad_object_id")),
    )
    .where(db.tenants.c.tenant_id == bindparam("tenant_id"))
)
