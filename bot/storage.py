"""botbuilder `Storage` over the bot's database (SQLite or PostgreSQL), with real eTag concurrency.

The bot keeps no botbuilder conversation or user state today: a conversation's state is its
persisted request (services/workflow.py). This storage is what `ConversationState` or
`UserState` must be built on if a dialog ever keeps some, so that several instances behind a load
balancer stay correct:

- a read returns each item with its `e_tag`;
- a write carrying that `e_tag` succeeds only if nobody wrote the item since, and otherwise raises
  `StorageConflict` (never a silent overwrite); on success the item's `e_tag` is updated in
  place, so the same turn can save again;
- `e_tag` "*" (or no `e_tag`, as for a new item or `BotState.clear_state`) writes unconditionally,
  as botbuilder's own storages do.

Items are stored as plain JSON, flattened by jsonpickle like botbuilder's Blob and Cosmos DB
storages do (state objects such as `DialogState` carry a "py/object" tag and come back as
themselves). The database is the bot's own, so restoring those tags trusts no outside input.

A turn that hits `StorageConflict` lost a race with another turn of the same conversation: the
adapter's error handler should tell the user to try again (or the turn can be re-run from a
fresh read).
"""

from __future__ import annotations

from typing import Any

from botbuilder.core import Storage, StoreItem
from jsonpickle.pickler import Pickler
from jsonpickle.unpickler import Unpickler

from services.state_store import StateConflict, StateStore

ETAG = "e_tag"


class StorageConflict(KeyError):
    """A stale eTag: the item changed since it was read. A KeyError, like botbuilder's
    MemoryStorage raises, so code written against that keeps working."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "eTag conflict"


class DatabaseStorage(Storage):
    def __init__(self, store: StateStore) -> None:
        self._store = store

    async def read(self, keys: list[str]) -> dict[str, Any]:
        if not keys:
            return {}
        found = await self._store.read(list(keys))
        items: dict[str, Any] = {}
        for key, stored in found.items():
            item = Unpickler().restore(stored.data)
            _set_etag(item, stored.etag)
            items[key] = item
        return items

    async def write(self, changes: dict[str, Any]) -> None:
        if changes is None:
            raise TypeError("DatabaseStorage.write: changes are required")
        for key, item in changes.items():
            etag = _etag_of(item)
            data = Pickler().flatten(item)
            if isinstance(data, dict):
                data.pop(ETAG, None)
            try:
                new_etag = await self._store.write(key, data, etag)
            except StateConflict as exc:
                raise StorageConflict(
                    f"eTag conflict on {key!r}: it changed since it was read; re-read and try again"
                ) from exc
            _set_etag(item, new_etag)

    async def delete(self, keys: list[str]) -> None:
        if keys is None:
            raise TypeError("DatabaseStorage.delete: keys are required")
        await self._store.delete(list(keys))


def _etag_of(item: Any) -> str | None:
    if isinstance(item, dict):
        return item.get(ETAG)
    return getattr(item, ETAG, None)


def _set_etag(item: Any, etag: str) -> None:
    if isinstance(item, dict):
        item[ETAG] = etag
    elif isinstance(item, StoreItem) or hasattr(item, ETAG) or hasattr(item, "__dict__"):
        setattr(item, ETAG, etag)
