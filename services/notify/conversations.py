"""Where to reach people proactively: the last conversation reference of each user, by tenant and
AAD object id. References are opaque JSON from the Teams edge."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from services import db
from services.db import Database, utcnow

SEEN_SECONDS = 60.0
SEEN_MAX = 50_000


class Contact(BaseModel):
    tenant_id: str
    aad_object_id: str
    user_id: str
    name: str
    reference: dict[str, Any]


class ConversationBook:
    def __init__(self, database: Database, clock: Callable[[], float] = time.monotonic) -> None:
        self._db = database
        self._clock = clock
        # What this process last wrote for a user, and when: an unchanged reference is not written
        # again for SEEN_SECONDS. Several instances: another one may have written a newer
        # reference meanwhile, so the skip is short, and the map stays bounded.
        self._seen: OrderedDict[tuple[str, str], tuple[str, float]] = OrderedDict()

    async def remember(
        self, tenant_id: str, aad_object_id: str, user_id: str, name: str, reference: dict[str, Any]
    ) -> bool:
        """Store the reference; returns True when this user was not reachable before."""
        key = (tenant_id, aad_object_id)
        # The incoming activity's id changes on every turn and is not needed to reach the user
        # (a proactive send gets a new one): without it, a returning user costs no write per turn.
        fingerprint = repr(sorted((k, v) for k, v in reference.items() if k != "activityId")) + user_id + name
        seen = self._seen.get(key)
        if seen is not None and seen[0] == fingerprint and self._clock() - seen[1] < SEEN_SECONDS:
            return False  # unchanged and written lately: no write on every turn
        c = db.conversations
        values = {"user_id": user_id, "name": name, "reference": reference, "updated_at": utcnow()}
        change = (
            update(c).where(c.c.tenant_id == tenant_id, c.c.aad_object_id == aad_object_id).values(**values)
        )
        add = insert(c).values(tenant_id=tenant_id, aad_object_id=aad_object_id, **values)

        def work(conn: Connection) -> bool:
            if conn.execute(change).rowcount:
                return False
            try:
                with conn.begin_nested():
                    conn.execute(add)
                return True
            except IntegrityError:  # another instance added it meanwhile
                conn.execute(change)
                return False

        is_new = await self._db.write(work)
        self._seen[key] = (fingerprint, self._clock())
        self._seen.move_to_end(key)
        while len(self._seen) > SEEN_MAX:
            self._seen.popitem(last=False)
        return is_new

    async def contact(self, tenant_id: str, aad_object_id: str) -> Contact | None:
        c = db.conversations
        query = select(c).where(c.c.tenant_id == tenant_id, c.c.aad_object_id == aad_object_id)
        row = await self._db.read(lambda conn: conn.execute(query).first())
        return _contact(row) if row else None

    async def contacts(self, people: list[tuple[str, str]]) -> list[Contact]:
        if not people:
            return []
        c = db.conversations
        match = or_(*(and_(c.c.tenant_id == t, c.c.aad_object_id == a) for t, a in people))
        rows = await self._db.read(lambda conn: conn.execute(select(c).where(match)).all())
        return [_contact(r) for r in rows]


def _contact(row) -> Contact:  # a SQLAlchemy row
    return Contact(
        tenant_id=row.tenant_id,
        aad_object_id=row.aad_object_id,
        user_id=row.user_id,
        name=row.name,
        reference=row.reference,
    )
