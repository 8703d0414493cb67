"""What the platform told us about each enterprise: its Global Admin's consents and its first sync.

The platform's API documents no call that reads these back (docs/connecttoteams.md, "Consent and
the first sync"), so they are kept as the platform showed them: a consent as its callback answered
the link we asked for (getActionItemUrl), "refused" when it refused the reseller token, the first
Sync Teams Users when it accepted a Global Admin's sign-in result. The consent links' states are
kept here too, as SHA-256 hashes, single use, until they expire.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from services.db import Database, as_utc, utcnow
from services.db.schema import ctt_consent_links, ctt_tenants


class ConsentKind(enum.StrEnum):
    """The consents the bot asks a Global Admin for ("Enterprise Admin URL Workflow")."""

    user_sync = "user_sync"  # GET_USER_SYNC_CONSENT: mandatory for PBX
    management = "management"  # "Allow Management by Service Provider": optional


GRANTED = "granted"
REFUSED = "refused"


class TenantState(BaseModel):
    model_config = ConfigDict(frozen=True)

    tenant_id: str
    management_consent: str | None = None  # GRANTED | REFUSED; None: the platform never said
    management_consent_at: datetime | None = None
    user_sync_consent_at: datetime | None = None
    first_sync_at: datetime | None = None


class ConsentLinkState(BaseModel):
    """A consent link's state, looked up by its hash; `used_at` / `expires_at` say if it still works."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    kind: ConsentKind
    expires_at: datetime
    used_at: datetime | None = None


class TenantStates(Protocol):
    async def get(self, tenant_id: str) -> TenantState: ...

    async def note_consent(self, tenant_id: str, kind: ConsentKind, granted: bool) -> None: ...

    async def note_first_sync(self, tenant_id: str) -> None:
        """Once: a later call keeps the first time."""

    async def add_link(self, state: str, tenant_id: str, kind: ConsentKind, expires_at: datetime) -> None: ...

    async def take_link(self, state: str) -> tuple[ConsentLinkState | None, bool]:
        """The link of `state` and whether this call used it (False: unknown, used or expired)."""


def state_hash(state: str) -> str:
    """Only a hash of a link's state is stored: a database read does not give away a usable link."""
    return hashlib.sha256(state.encode("utf-8")).hexdigest()


def _consent_values(kind: ConsentKind, granted: bool, now: datetime) -> dict[str, object]:
    if kind is ConsentKind.management:
        return {"management_consent": GRANTED if granted else REFUSED, "management_consent_at": now}
    return {"user_sync_consent_at": now} if granted else {}


class InMemoryTenantStates:
    """For tests and the in-memory record: lost on restart."""

    def __init__(self) -> None:
        self._states: dict[str, TenantState] = {}
        self._links: dict[str, ConsentLinkState] = {}
        self._lock = asyncio.Lock()

    async def get(self, tenant_id: str) -> TenantState:
        return self._states.get(tenant_id) or TenantState(tenant_id=tenant_id)

    async def note_consent(self, tenant_id: str, kind: ConsentKind, granted: bool) -> None:
        async with self._lock:
            current = await self.get(tenant_id)
            self._states[tenant_id] = current.model_copy(update=_consent_values(kind, granted, utcnow()))

    async def note_first_sync(self, tenant_id: str) -> None:
        async with self._lock:
            current = await self.get(tenant_id)
            if current.first_sync_at is None:
                self._states[tenant_id] = current.model_copy(update={"first_sync_at": utcnow()})

    async def add_link(self, state: str, tenant_id: str, kind: ConsentKind, expires_at: datetime) -> None:
        self._links[state_hash(state)] = ConsentLinkState(
            tenant_id=tenant_id, kind=kind, expires_at=expires_at
        )

    async def take_link(self, state: str) -> tuple[ConsentLinkState | None, bool]:
        async with self._lock:
            link = self._links.get(state_hash(state))
            if link is None or link.used_at is not None or link.expires_at <= utcnow():
                return link, False
            self._links[state_hash(state)] = link.model_copy(update={"used_at": utcnow()})
            return link, True


class SqlTenantStates:
    """In the bot's database (tables ctt_tenants and ctt_consent_links, migration 0013)."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def get(self, tenant_id: str) -> TenantState:
        t = ctt_tenants
        row = await self._db.read(
            lambda conn: conn.execute(select(t).where(t.c.tenant_id == tenant_id)).first()
        )
        if row is None:
            return TenantState(tenant_id=tenant_id)
        return TenantState(
            tenant_id=tenant_id,
            management_consent=row.management_consent,
            management_consent_at=_utc(row.management_consent_at),
            user_sync_consent_at=_utc(row.user_sync_consent_at),
            first_sync_at=_utc(row.first_sync_at),
        )

    async def note_consent(self, tenant_id: str, kind: ConsentKind, granted: bool) -> None:
        values = _consent_values(kind, granted, utcnow())
        if values:
            await self._upsert(tenant_id, values)

    async def note_first_sync(self, tenant_id: str) -> None:
        await self._upsert(tenant_id, {"first_sync_at": utcnow()}, only_if_unset="first_sync_at")

    async def _upsert(
        self, tenant_id: str, values: dict[str, object], only_if_unset: str | None = None
    ) -> None:
        t = ctt_tenants
        now = utcnow()

        def work(conn: Connection) -> None:
            where = [t.c.tenant_id == tenant_id]
            if only_if_unset is not None:
                where.append(t.c[only_if_unset].is_(None))
            if conn.execute(update(t).where(*where).values(**values, updated_at=now)).rowcount:
                return
            exists = conn.execute(select(t.c.tenant_id).where(t.c.tenant_id == tenant_id)).first()
            if exists is None:
                conn.execute(insert(t).values(tenant_id=tenant_id, **values, updated_at=now))

        try:
            await self._db.write(work)
        except IntegrityError:  # another instance inserted the row first: update it now
            await self._db.write(work)

    async def add_link(self, state: str, tenant_id: str, kind: ConsentKind, expires_at: datetime) -> None:
        row = {
            "state_hash": state_hash(state),
            "tenant_id": tenant_id,
            "kind": kind.value,
            "created_at": utcnow(),
            "expires_at": expires_at,
        }
        await self._db.write(lambda conn: conn.execute(insert(ctt_consent_links).values(**row)))

    async def take_link(self, state: str) -> tuple[ConsentLinkState | None, bool]:
        t = ctt_consent_links
        key = state_hash(state)
        now = utcnow()

        def work(conn: Connection) -> tuple[ConsentLinkState | None, bool]:
            row = conn.execute(select(t).where(t.c.state_hash == key)).first()
            if row is None:
                return None, False
            link = ConsentLinkState(
                tenant_id=row.tenant_id,
                kind=ConsentKind(row.kind),
                expires_at=as_utc(row.expires_at),
                used_at=_utc(row.used_at),
            )
            if link.used_at is not None or link.expires_at <= now:
                return link, False
            # Conditional: of two callbacks bringing the same state at once, one uses it.
            taken = conn.execute(
                update(t).where(t.c.state_hash == key, t.c.used_at.is_(None)).values(used_at=now)
            )
            return link, taken.rowcount == 1

        return await self._db.write(work)


def _utc(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None
