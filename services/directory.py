"""Who is who: the role of a user, decided from tenant id and AAD object id, never from names."""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel
from sqlalchemy import select

from services import database as db
from services.database import Database
from services.models import Actor, Role


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
    """Roles from the seeded `people` and `tenants` tables (the demo world, or a provider's file)."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def actor(self, tenant_id: str, aad_object_id: str, name: str = "") -> Actor:
        if not tenant_id or not aad_object_id:
            return Actor(tenant_id=tenant_id or "", aad_object_id=aad_object_id or "", name=name)
        query = (
            select(db.people, db.tenants.c.kind)
            .join(db.tenants, db.tenants.c.tenant_id == db.people.c.tenant_id)
            .where(db.people.c.tenant_id == tenant_id, db.people.c.aad_object_id == aad_object_id)
        )
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        role = Role.none
        if row is not None:
            if row.kind == "customer" and row.global_admin:
                role = Role.tenant_admin
            elif row.kind == "partner" and row.partner_user:
                role = Role.partner
        display = row.display_name if row is not None else name
        return Actor(tenant_id=tenant_id, aad_object_id=aad_object_id, name=display, role=role)

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
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            Person(
                tenant_id=r.tenant_id, aad_object_id=r.aad_object_id, upn=r.upn, display_name=r.display_name
            )
            for r in rows
        ]
