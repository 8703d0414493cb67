"""Key -> JSON documents with an eTag, for botbuilder state (bot/storage.py adapts it to botbuilder).

Writes are conditional: a writer that read version E can only replace version E. Two turns of one
conversation running at once (on one instance or two) both read E; the first write wins and gets
a new eTag, the second finds E gone and raises `StateConflict` instead of silently overwriting.
The check and the write are one `UPDATE ... WHERE key = :key AND etag = :etag`, atomic on SQLite
and on PostgreSQL alike.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from services import database as db
from services.database import Database

ANY_ETAG = "*"
_KEY_COLUMN_SIZE = 400


class StateConflict(Exception):
    """The document changed (or was deleted) since it was read: re-read and redo the work."""

    def __init__(self, key: str) -> None:
        super().__init__(f"state {key!r} was changed by someone else since it was read")
        self.key = key


@dataclass(frozen=True)
class StoredState:
    etag: str
    data: Any  # plain JSON


class StateStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def read(self, keys: list[str]) -> dict[str, StoredState]:
        """The documents that exist, by key; missing keys are left out."""
        if not keys:
            return {}
        by_column = {_column_key(key): key for key in keys}
        s = db.bot_state
        query = select(s).where(s.c.key.in_(list(by_column)))
        rows = await self._db.read(lambda conn: conn.execute(query).all())
        return {by_column[row.key]: StoredState(etag=row.etag, data=row.data) for row in rows}

    async def write(self, key: str, data: Any, etag: str | None = None) -> str:
        """Store `data` under `key`; returns the new eTag.

        `etag` None or "*": write whatever is there (create or overwrite). Any other value: replace
        only that version; `StateConflict` if the document changed or no longer exists.
        """
        if etag == "":
            raise ValueError("an empty eTag is not a version: pass None or '*' to write unconditionally")
        s = db.bot_state
        column_key = _column_key(key)
        new_etag = uuid.uuid4().hex
        overwrite = update(s).where(s.c.key == column_key).values(etag=new_etag, data=data)

        def work(conn: Connection) -> None:
            if etag is not None and etag != ANY_ETAG:
                replace = (
                    update(s).where(s.c.key == column_key, s.c.etag == etag).values(etag=new_etag, data=data)
                )
                if conn.execute(replace).rowcount != 1:
                    raise StateConflict(key)
                return
            if conn.execute(overwrite).rowcount == 1:
                return
            try:
                with conn.begin_nested():
                    conn.execute(insert(s).values(key=column_key, etag=new_etag, data=data))
            except IntegrityError:
                # Created by someone else between the two statements: an unconditional write wins.
                conn.execute(overwrite)

        await self._db.write(work)
        return new_etag

    async def delete(self, keys: list[str]) -> None:
        if not keys:
            return
        s = db.bot_state
        remove = delete(s).where(s.c.key.in_([_column_key(k) for k in keys]))
        await self._db.write(lambda conn: conn.execute(remove))


def _column_key(key: str) -> str:
    """Keys longer than the column (a long conversation id) keep a prefix and a digest of the whole."""
    if len(key) <= _KEY_COLUMN_SIZE:
        return key
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
    return f"{key[: _KEY_COLUMN_SIZE - len(digest) - 1]}#{digest}"
