"""The embedded provisioning service's phone users: the `phone users` list, and the actions on one
of them (issue 16) with the platform's rules: a change (`_write_user`, shared with the add), a new
device password, disable and enable calling ("disable first, then delete"), delete."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from sqlalchemy import Connection, func, select, update

from services import db
from services.add_user_rules import require_calling_disabled, require_device_password, require_phone_user
from services.db import Database
from services.models import PhoneUser, PhoneUserPage, PhoneUserSpec, PhoneUserState
from services.provisioning.search import Search


class EmbeddedPhoneUsers:
    """A mixin of EmbeddedProvisioningService, which provides the methods declared here."""

    _db: Database

    async def _slow(self, operation: str) -> None: ...

    def _forget_options(self, tenant_id: str) -> None: ...

    async def _write_user(self, tenant_id: str, spec: PhoneUserSpec, device_password: str | None) -> None: ...

    async def user_state(self, tenant_id: str, upn: str) -> PhoneUserState | None: ...

    async def change_user(self, tenant_id: str, spec: PhoneUserSpec) -> None:
        await self._slow("change_user")
        await self._write_user(tenant_id, spec, None)

    async def reset_device_password(self, tenant_id: str, upn: str, device_password: str) -> None:
        await self._slow("reset_device_password")
        require_device_password(device_password)
        state = await self._phone_user(tenant_id, upn)
        password_hash = hash_password(device_password)
        await self._set(tenant_id, state.upn, device_password_hash=password_hash)

    async def disable_calling(self, tenant_id: str, upn: str) -> None:
        await self._slow("disable_calling")
        state = await self._phone_user(tenant_id, upn)
        await self._set(tenant_id, state.upn, calling_enabled=False)

    async def delete_user(self, tenant_id: str, upn: str, *, done_in_portal: bool = False) -> None:
        """Deleted and its extension freed in one transaction; a second call finds nothing to do."""
        await self._slow("delete_user")
        state = await self.user_state(tenant_id, upn)
        if state is None or not state.provisioned:
            return  # already deleted (a step run again after a restart)
        require_calling_disabled(state.calling_enabled, state.upn)
        tu = db.teams_users

        def work(conn: Connection) -> None:
            free_extension(conn, tenant_id, state.pbx_location, state.extension, state.upn)
            conn.execute(
                update(tu)
                .where(tu.c.tenant_id == tenant_id, tu.c.upn == state.upn)
                .values(
                    provisioned=False,
                    calling_enabled=False,
                    sync_pending=False,
                    pbx_location=None,
                    voice_route=None,
                    extension=None,
                    phone_number=None,
                    voicemail_disabled=None,
                    default_dial_plan=None,
                    sip_auth_id=None,
                    device_password_hash=None,
                )
            )

        await self._db.write(work)
        self._forget_options(tenant_id)

    async def _phone_user(self, tenant_id: str, upn: str) -> PhoneUserState:
        state = await self.user_state(tenant_id, upn)
        require_phone_user(state is not None and state.provisioned, upn)
        assert state is not None
        return state

    async def _set(self, tenant_id: str, upn: str, **values: Any) -> None:
        tu = db.teams_users
        change = update(tu).where(tu.c.tenant_id == tenant_id, tu.c.upn == upn).values(**values)
        await self._db.write(lambda conn: conn.execute(change))

    async def phone_users(self, tenant_id: str, query: str, offset: int, limit: int) -> PhoneUserPage:
        tu = db.teams_users
        where = (tu.c.tenant_id == tenant_id, tu.c.provisioned.is_(True))
        ordered = select(tu).where(*where).order_by(func.lower(tu.c.display_name), tu.c.upn)
        start, size = max(0, offset), max(0, limit)
        search = Search.of(query)

        def work(conn: Connection) -> tuple[int, list[Any]]:
            if search.everything:  # a page of the whole list: the database pages it
                total = conn.execute(select(func.count()).select_from(tu).where(*where)).scalar_one()
                return total, conn.execute(ordered.offset(start).limit(size)).all()
            # The search's rule in Python, as for the typeahead (embedded.search_licensed_users).
            found = [
                r for r in conn.execute(ordered).all() if search.person(r.display_name, r.upn, r.extension)
            ]
            return len(found), found[start : start + size]

        total, rows = await self._db.read(work)
        return PhoneUserPage(
            total=total,
            items=[
                PhoneUser(
                    upn=r.upn,
                    display_name=r.display_name,
                    pbx_location=r.pbx_location,
                    extension=r.extension,
                    phone_number=r.phone_number,
                    voice_route=r.voice_route,
                    calling_enabled=r.calling_enabled,
                    sync_pending=bool(r.sync_pending),
                )
                for r in rows
            ],
        )


def free_extension(
    conn: Connection, tenant_id: str, pbx_location: str | None, extension: str | None, upn: str
) -> None:
    """The user's extension back in the free list (only if it is still theirs)."""
    ex = db.extensions
    conn.execute(
        update(ex)
        .where(
            ex.c.tenant_id == tenant_id,
            ex.c.pbx_location == pbx_location,
            ex.c.number == extension,
            ex.c.assigned_to == upn,
        )
        .values(assigned_to=None)
    )


def hash_password(password: str) -> str:
    """A salted BLAKE2b digest: a stand-in for the platform's own device record, which the bot never
    sees (it sends the password on and keeps nothing). The demo keeps a digest only so that its
    table holds no password; nothing checks a password against it. A deliberately slow hash (the
    scrypt this replaced, about 14 ms) belongs where passwords are verified, which is the PBX, not
    here: it made up a quarter of the benchmark's CPU per conversation (issue 22)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.blake2b(password.encode(), salt=salt, digest_size=32).hexdigest()
    return f"blake2b${salt.hex()}${digest}"
