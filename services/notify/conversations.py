"""Where to reach people proactively, and in which words: the last conversation reference of each
user, by tenant and AAD object id, with their own choice of language and their time zone.
References are opaque JSON from the Teams edge."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, NamedTuple

from pydantic import BaseModel
from sqlalchemy import Connection, and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from services import db
from services.db import Database, utcnow

SEEN_SECONDS = 60.0
# How long the row this process wrote stands for the stored one in `contact`: another instance may
# store a newer reference meanwhile (the person's next turn landing there), so shorter than the
# skipped writes' SEEN_SECONDS; long enough for a request's card updates after the click.
CONTACT_SECONDS = 10.0
SEEN_MAX = 50_000
# MAX_CONVERSATIONS_PER_TENANT's default (bot/settings.py).
MAX_PER_TENANT = 5000
# A tenant's count of references, as this process last took it plus what it added since, stands
# for the stored one this long while it is under this share of the bound: a new person then
# costs no count (issue 22). Other instances' additions meanwhile are not in it, so near the bound,
# or after ROOM_SECONDS, it is counted again; an overshoot is trimmed by the next count.
ROOM_SECONDS = 60.0
ROOM_SHARE = 0.9


class Contact(BaseModel):
    tenant_id: str
    aad_object_id: str
    user_id: str
    name: str
    reference: dict[str, Any]
    # The language the person chose (None: their Teams client's, the reference's `locale`), and
    # the IANA time zone their client last gave (None: not known).
    language: str | None = None
    time_zone: str | None = None


class _Seen(NamedTuple):
    """What this process last wrote for a person, when, and what that write read back."""

    fingerprint: str
    at: float
    language: str | None
    time_zone: str | None


class ConversationBook:
    def __init__(
        self,
        database: Database,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_per_tenant: int = MAX_PER_TENANT,
    ) -> None:
        self._db = database
        self._clock = clock
        self._max_per_tenant = max_per_tenant
        # What this process last wrote for a user, and when: an unchanged reference is not written
        # again for SEEN_SECONDS. Several instances: another one may have written a newer
        # reference meanwhile, so the skip is short, and the map stays bounded. With it, the
        # person's chosen language and time zone as that write read them back, so a turn reads
        # nothing more (a choice made through another instance shows here within SEEN_SECONDS).
        # Oldest first: what is older than SEEN_SECONDS serves nothing and is dropped, so the map
        # holds the people of the last minute, not the last SEEN_MAX (issue 22: part of the RSS
        # creep of a run where every conversation is a new person).
        self._seen: OrderedDict[tuple[str, str], _Seen] = OrderedDict()
        # The whole row as that write returned it, for the card updates that follow a person's
        # turn (`contact`): kept CONTACT_SECONDS, oldest first.
        self._contacts: OrderedDict[tuple[str, str], tuple[float, Contact]] = OrderedDict()
        # Per tenant: (references counted or added by this process, when counted). ROOM_SECONDS.
        self._room: dict[str, tuple[int, float]] = {}

    async def remember(
        self,
        tenant_id: str,
        aad_object_id: str,
        user_id: str,
        name: str,
        reference: dict[str, Any],
        time_zone: str | None = None,
    ) -> bool:
        """Store the reference, and the time zone if the client gave one (an activity without it
        keeps the one known); returns True when this user was not reachable before. A language the
        person chose is kept."""
        key = (tenant_id, aad_object_id)
        # The incoming activity's id changes on every turn and is not needed to reach the user
        # (a proactive send gets a new one): without it, a returning user costs no write per turn.
        fingerprint = repr(sorted((k, v) for k, v in reference.items() if k != "activityId")) + user_id + name
        seen = self._seen.get(key)
        if (
            seen is not None
            and seen.fingerprint == fingerprint
            and time_zone in (None, seen.time_zone)
            and self._clock() - seen.at < SEEN_SECONDS
        ):
            return False  # unchanged and written lately: no write on every turn
        c = db.conversations
        values: dict[str, Any] = {
            "user_id": user_id,
            "name": name,
            "reference": reference,
            "updated_at": utcnow(),
        }
        if time_zone:
            values["time_zone"] = time_zone
        # Built once (_CHANGE, _ADD); the columns set are their parameters.
        changed_values = {"key_tenant_id": tenant_id, "key_aad_object_id": aad_object_id, **values}
        added_values = {"tenant_id": tenant_id, "aad_object_id": aad_object_id, **values}

        removed: list[str] = []  # the references make_room deleted: forgotten here too

        def make_room(conn: Connection) -> None:
            # At the bound, the tenant's least recently seen references go, so a storm of new
            # senders from one tenant cannot grow the table. Two instances adding at once may
            # overshoot by one each; the next addition trims it back.
            known, now = self._room.get(tenant_id), self._clock()
            if (
                known is not None
                and now - known[1] < ROOM_SECONDS
                and known[0] + 1 < self._max_per_tenant * ROOM_SHARE
            ):
                self._room[tenant_id] = (known[0] + 1, known[1])
                return
            count = conn.execute(
                select(func.count()).select_from(c).where(c.c.tenant_id == tenant_id)
            ).scalar_one()
            excess = count - self._max_per_tenant + 1
            self._room[tenant_id] = (count + 1 - max(0, excess), now)
            if excess <= 0:
                return
            oldest = (
                select(c.c.aad_object_id)
                .where(c.c.tenant_id == tenant_id)
                .order_by(c.c.updated_at, c.c.aad_object_id)
                .limit(excess)
            )
            gone = [r.aad_object_id for r in conn.execute(oldest)]
            conn.execute(delete(c).where(c.c.tenant_id == tenant_id, c.c.aad_object_id.in_(gone)))
            removed[:] = gone

        def work(conn: Connection) -> tuple[bool, Any]:
            changed = conn.execute(_CHANGE, changed_values).first()
            if changed is None:
                make_room(conn)
                try:
                    with conn.begin_nested():
                        return True, conn.execute(_ADD, added_values).one()
                except IntegrityError:  # another instance added it meanwhile
                    changed = conn.execute(_CHANGE, changed_values).one()
            return False, changed

        is_new, row = await self._db.write(work)
        contact = _contact(row)
        language, zone = contact.language, contact.time_zone
        for aad_object_id in removed:
            self._seen.pop((tenant_id, aad_object_id), None)
            self._contacts.pop((tenant_id, aad_object_id), None)
        now = self._clock()
        self._seen[key] = _Seen(fingerprint, now, language, zone)
        self._seen.move_to_end(key)
        while self._seen and (
            len(self._seen) > SEEN_MAX or now - next(iter(self._seen.values())).at >= SEEN_SECONDS
        ):
            self._seen.popitem(last=False)
        self._contacts[key] = (now, contact)
        self._contacts.move_to_end(key)
        while self._contacts and now - next(iter(self._contacts.values()))[0] >= CONTACT_SECONDS:
            self._contacts.popitem(last=False)
        return is_new

    async def chosen_language(self, tenant_id: str, aad_object_id: str) -> str | None:
        """The language this person chose (None: they did not, their Teams client's applies).
        Known from this process's last write for them while it is fresh, else read."""
        seen = self._seen.get((tenant_id, aad_object_id))
        if seen is not None and self._clock() - seen.at < SEEN_SECONDS:
            return seen.language
        c = db.conversations
        query = select(c.c.language).where(c.c.tenant_id == tenant_id, c.c.aad_object_id == aad_object_id)
        return await self._db.read(lambda conn: conn.execute(query).scalar())

    async def choose_language(self, tenant_id: str, aad_object_id: str, language: str) -> bool:
        """Keep the person's own choice of language; False when the bot has no conversation with
        them to keep it with (it is made on their first turn in a one-to-one chat)."""
        c = db.conversations
        change = (
            update(c)
            .where(c.c.tenant_id == tenant_id, c.c.aad_object_id == aad_object_id)
            .values(language=language)
        )
        chosen = bool(await self._db.write(lambda conn: conn.execute(change).rowcount))
        key = (tenant_id, aad_object_id)
        seen = self._seen.get(key)
        if chosen and seen is not None:
            self._seen[key] = seen._replace(language=language)
        known = self._contacts.get(key)
        if chosen and known is not None:
            self._contacts[key] = (known[0], known[1].model_copy(update={"language": language}))
        return chosen

    async def forget(self, tenant_id: str, aad_object_id: str) -> None:
        """The person's chat refuses the bot (they removed or blocked it): the reference reaches
        no one. They are unreachable until they open the bot again, which stores a new one."""
        c = db.conversations
        drop = delete(c).where(c.c.tenant_id == tenant_id, c.c.aad_object_id == aad_object_id)
        await self._db.write(lambda conn: conn.execute(drop))
        self._seen.pop((tenant_id, aad_object_id), None)
        self._contacts.pop((tenant_id, aad_object_id), None)

    async def contact(self, tenant_id: str, aad_object_id: str) -> Contact | None:
        """The person's row: as this process last wrote it, while fresh (the card updates of a
        request's steps follow the requester's turn), else read."""
        known = self._contacts.get((tenant_id, aad_object_id))
        if known is not None and self._clock() - known[0] < CONTACT_SECONDS:
            return known[1].model_copy(deep=True)  # the caller's to change
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
        language=row.language,
        time_zone=row.time_zone,
    )


# The row as stored comes back (texts clipped to their columns), for `contact`.
_CHANGE = (
    update(db.conversations)
    .where(
        db.conversations.c.tenant_id == bindparam("key_tenant_id"),
        db.conversations.c.aad_object_id == bindparam("key_aad_object_id"),
    )
    .returning(*db.conversations.c)
)
_ADD = insert(db.conversations).returning(*db.conversations.c)
