"""Our own record of the phone users we configured at the ConnecttoTeams platform.

The platform's API documents no way to read a user back (no user list, no sync status), so what the
bot needs to answer "is this extension taken?", "does this tenant need a sync?" and "is calling on?"
is kept here: written after each accepted `configureUser` (and `disableUsers` / `restoreUsers`),
never holding the device password. A user leaves it when a person deleted them in the portal.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict
from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    delete,
    false,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from services.db import Database, as_utc, utcnow


class PhoneUserRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    tenant_id: str
    upn: str
    pbx_location: str
    extension: str
    voice_route: str
    sbc_gateway_id: int
    phone_number: str
    voicemail_disabled: bool
    default_dial_plan: bool
    sip_auth_id: str
    device_password_set: bool = True
    # The sync step ran for this user (see ConnectToTeamsProvisioningService.sync_users).
    synced: bool = False
    calling_enabled: bool = False
    # Disabled with disableUsers (the portal's "Disable User"): calling is off and the user may be
    # deleted; the extension stays theirs until then (migration 0008).
    disabled: bool = False
    updated_at: datetime | None = None


class ExtensionHeld(Exception):
    """Another user of the tenant is recorded with this extension (`holder`: who, if we know)."""

    def __init__(self, holder: str | None) -> None:
        super().__init__(holder)
        self.holder = holder


class PhoneUserRecords(Protocol):
    async def get(self, tenant_id: str, upn: str) -> PhoneUserRecord | None: ...

    async def for_tenant(self, tenant_id: str) -> list[PhoneUserRecord]: ...

    async def holder_of(
        self, tenant_id: str, pbx_location: str, extension: str
    ) -> PhoneUserRecord | None: ...

    async def save(self, record: PhoneUserRecord) -> None:
        """Insert or replace by (tenant, upn); raises ExtensionHeld if another user has the extension."""

    async def mark(
        self,
        tenant_id: str,
        upn: str,
        *,
        synced: bool | None = None,
        calling_enabled: bool | None = None,
        disabled: bool | None = None,
    ) -> None: ...

    async def remove(self, tenant_id: str, upn: str) -> bool:
        """Forget the user (deleted in the portal), which frees their extension; False if not there."""


class InMemoryPhoneUserRecords:
    """For tests and for a deployment that accepts losing the record on restart (it is rebuilt by edits)."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], PhoneUserRecord] = {}
        self._lock = asyncio.Lock()

    async def get(self, tenant_id: str, upn: str) -> PhoneUserRecord | None:
        return self._rows.get((tenant_id, upn.lower()))

    async def for_tenant(self, tenant_id: str) -> list[PhoneUserRecord]:
        return sorted((r for (t, _), r in self._rows.items() if t == tenant_id), key=lambda r: r.upn.lower())

    async def holder_of(self, tenant_id: str, pbx_location: str, extension: str) -> PhoneUserRecord | None:
        for (t, _), r in self._rows.items():
            if t == tenant_id and r.pbx_location == pbx_location and r.extension == extension:
                return r
        return None

    async def save(self, record: PhoneUserRecord) -> None:
        async with self._lock:
            holder = await self.holder_of(record.tenant_id, record.pbx_location, record.extension)
            if holder is not None and holder.upn.lower() != record.upn.lower():
                raise ExtensionHeld(holder.upn)
            self._rows[(record.tenant_id, record.upn.lower())] = record.model_copy(
                update={"updated_at": utcnow()}
            )

    async def mark(
        self,
        tenant_id: str,
        upn: str,
        *,
        synced: bool | None = None,
        calling_enabled: bool | None = None,
        disabled: bool | None = None,
    ) -> None:
        async with self._lock:
            key = (tenant_id, upn.lower())
            if key in self._rows:
                self._rows[key] = self._rows[key].model_copy(update=_flags(synced, calling_enabled, disabled))

    async def remove(self, tenant_id: str, upn: str) -> bool:
        async with self._lock:
            return self._rows.pop((tenant_id, upn.lower()), None) is not None


metadata = MetaData()

ctt_phone_users = Table(
    "ctt_phone_users",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("upn_key", String(320), primary_key=True),  # lower-cased UPN
    Column("upn", String(320), nullable=False),
    Column("pbx_location", String(100), nullable=False),
    Column("extension", String(20), nullable=False),
    Column("voice_route", String(100), nullable=False),
    Column("sbc_gateway_id", Integer, nullable=False),
    Column("phone_number", String(20), nullable=False),
    Column("voicemail_disabled", Boolean, nullable=False),
    Column("default_dial_plan", Boolean, nullable=False),
    Column("sip_auth_id", String(64), nullable=False),
    Column("device_password_set", Boolean, nullable=False),
    Column("synced", Boolean, nullable=False),
    Column("calling_enabled", Boolean, nullable=False),
    Column("disabled", Boolean, nullable=False, default=False, server_default=false()),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant_id", "pbx_location", "extension", name="uq_ctt_extension"),
)

_FIELDS = [c for c in PhoneUserRecord.model_fields if c != "updated_at"]


class SqlPhoneUserRecords:
    """The record in the bot's database (SQLite or PostgreSQL), in a table of its own."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def create(self) -> None:
        await self._db.write(metadata.create_all)

    async def get(self, tenant_id: str, upn: str) -> PhoneUserRecord | None:
        t = ctt_phone_users
        query = select(t).where(t.c.tenant_id == tenant_id, t.c.upn_key == upn.lower())
        row = await self._db.read(lambda conn: conn.execute(query).first())
        return _record(row) if row else None

    async def for_tenant(self, tenant_id: str) -> list[PhoneUserRecord]:
        t = ctt_phone_users
        query = select(t).where(t.c.tenant_id == tenant_id).order_by(t.c.upn_key)
        return [_record(r) for r in await self._db.read(lambda conn: conn.execute(query).all())]

    async def holder_of(self, tenant_id: str, pbx_location: str, extension: str) -> PhoneUserRecord | None:
        t = ctt_phone_users
        query = select(t).where(
            t.c.tenant_id == tenant_id, t.c.pbx_location == pbx_location, t.c.extension == extension
        )
        row = await self._db.read(lambda conn: conn.execute(query).first())
        return _record(row) if row else None

    async def save(self, record: PhoneUserRecord) -> None:
        t = ctt_phone_users
        values = {name: getattr(record, name) for name in _FIELDS} | {
            "upn_key": record.upn.lower(),
            "updated_at": utcnow(),
        }
        key = (t.c.tenant_id == record.tenant_id, t.c.upn_key == record.upn.lower())

        def work(conn: Connection) -> None:
            if conn.execute(update(t).where(*key).values(**values)).rowcount == 0:
                conn.execute(t.insert().values(**values))

        try:
            await self._db.write(work)
        except IntegrityError:
            holder = await self.holder_of(record.tenant_id, record.pbx_location, record.extension)
            raise ExtensionHeld(holder.upn if holder else None) from None

    async def mark(
        self,
        tenant_id: str,
        upn: str,
        *,
        synced: bool | None = None,
        calling_enabled: bool | None = None,
        disabled: bool | None = None,
    ) -> None:
        flags = _flags(synced, calling_enabled, disabled)
        if not flags:
            return
        t = ctt_phone_users
        change = (
            update(t)
            .where(t.c.tenant_id == tenant_id, t.c.upn_key == upn.lower())
            .values(**flags, updated_at=utcnow())
        )
        await self._db.write(lambda conn: conn.execute(change))

    async def remove(self, tenant_id: str, upn: str) -> bool:
        t = ctt_phone_users
        gone = delete(t).where(t.c.tenant_id == tenant_id, t.c.upn_key == upn.lower())
        return bool(await self._db.write(lambda conn: conn.execute(gone).rowcount))


def _flags(synced: bool | None, calling_enabled: bool | None, disabled: bool | None) -> dict[str, bool]:
    given = {"synced": synced, "calling_enabled": calling_enabled, "disabled": disabled}
    return {name: value for name, value in given.items() if value is not None}


def _record(row) -> PhoneUserRecord:
    data = {name: getattr(row, name) for name in _FIELDS}
    return PhoneUserRecord(**data, updated_at=as_utc(row.updated_at))
