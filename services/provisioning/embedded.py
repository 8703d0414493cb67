"""The embedded provisioning service: the portal's rules on the local database, for the default mode."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from itertools import islice
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, or_, select, update

from i18n import T
from services import db
from services.add_user_rules import (
    require_device_password,
    require_extension_exists,
    require_extension_free,
    require_licensed,
    require_not_phone_user_elsewhere,
    require_phone_user,
)
from services.db import Database
from services.errors import ProvisioningError, not_set_up
from services.models import (
    FREE_EXTENSION_HINT,
    AdminSignInResult,
    ConsentState,
    Extension,
    FormOptions,
    PhoneUserSpec,
    PhoneUserState,
    TeamsUser,
    Tenant,
    VoiceRoute,
)
from services.provisioning.embedded_users import EmbeddedPhoneUsers, free_extension, hash_password
from services.provisioning.faults import Faults
from services.provisioning.search import Search
from services.ttl_cache import TtlCache


class EmbeddedProvisioningService(EmbeddedPhoneUsers):
    """Implements `ProvisioningService` with the portal's rules, persisted in our own database;
    the list of phone users and the actions on one of them are EmbeddedPhoneUsers'."""

    def __init__(
        self,
        database: Database,
        *,
        delay_seconds: float = 0.0,
        options_ttl_seconds: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = database
        self._delay = delay_seconds
        self.faults = Faults()
        # A tenant and its form options (FORM_OPTIONS_CACHE_SECONDS in the app): what the form
        # offers (the first free extensions are a hint, as old as the cache at most), not what is
        # checked: every rule reads the tables afresh (check_form, add_user).
        self._options_ttl = options_ttl_seconds
        self._cache = TtlCache(clock)

    async def _cached(self, key: tuple[str, str], load: Callable[[], Awaitable[Any]]) -> Any:
        if self._options_ttl <= 0:
            return await load()
        return await self._cache.get(key, self._options_ttl, load)

    def _forget_options(self, tenant_id: str) -> None:
        """After an add, a change or a delete: the next form shows the extensions as they are now
        (the Done card just said which one is free)."""
        self._cache.forget(lambda key: key == ("options", tenant_id))

    async def _slow(self, operation: str) -> None:
        if self._delay:
            await asyncio.sleep(self._delay)
        self.faults.check(operation)

    async def ping(self) -> None:
        await self._db.ping()

    async def tenant(self, tenant_id: str) -> Tenant | None:
        return await self._cached(("tenant", tenant_id), lambda: self._tenant(tenant_id))

    async def _tenant(self, tenant_id: str) -> Tenant | None:
        query = select(db.tenants).where(db.tenants.c.tenant_id == tenant_id)
        row = await self._db.read(lambda conn: conn.execute(query).first())
        return Tenant(tenant_id=row.tenant_id, name=row.name) if row else None

    async def enterprises_of(self, partner_tenant_id: str) -> list[Tenant]:
        pe = db.partner_enterprises
        query = (
            select(db.tenants.c.tenant_id, db.tenants.c.name)
            .join(pe, pe.c.enterprise_tenant_id == db.tenants.c.tenant_id)
            .where(pe.c.partner_tenant_id == partner_tenant_id)
            .order_by(db.tenants.c.name)
        )
        rows = await self._db.read(lambda conn: conn.execute(query).all())
        return [Tenant(tenant_id=r.tenant_id, name=r.name) for r in rows]

    async def form_options(self, tenant_id: str) -> FormOptions:
        return await self._cached(("options", tenant_id), lambda: self._form_options(tenant_id))

    async def _form_options(self, tenant_id: str) -> FormOptions:
        tenant = await self.tenant(tenant_id)
        if tenant is None:
            raise ProvisioningError(not_set_up(tenant_id))
        tu = db.teams_users
        licensed_filter = and_(tu.c.tenant_id == tenant_id, tu.c.licensed.is_(True))

        def work(conn: Connection) -> tuple[list[str], list[Any], int, list[Any], list[Any]]:
            pbx_names = list(
                conn.execute(
                    select(db.pbx_locations.c.name)
                    .where(db.pbx_locations.c.tenant_id == tenant_id)
                    .order_by(db.pbx_locations.c.name)
                ).scalars()
            )
            routes = conn.execute(
                select(db.voice_routes)
                .where(db.voice_routes.c.tenant_id == tenant_id)
                .order_by(db.voice_routes.c.name)
            ).all()
            count = conn.execute(select(func.count()).where(licensed_filter)).scalar_one()
            users = conn.execute(
                select(tu.c.upn, tu.c.display_name, tu.c.provisioned, tu.c.extension)
                .where(licensed_filter)
                .order_by(tu.c.display_name)
                .limit(50)
            ).all()
            free = conn.execute(
                select(db.extensions)
                .where(
                    db.extensions.c.tenant_id == tenant_id,
                    db.extensions.c.assigned_to.is_(None),
                )
                .order_by(db.extensions.c.pbx_location, db.extensions.c.number)
                .limit(FREE_EXTENSION_HINT)
            ).all()
            return pbx_names, routes, count, users, free

        pbx_names, routes, count, users, free = await self._db.read(work)
        return FormOptions(
            tenant=tenant,
            pbx_locations=pbx_names,
            voice_routes=[VoiceRoute(route_id=r.route_id, name=r.name) for r in routes],
            licensed_users=[_licensed(u) for u in users],
            licensed_user_count=count,
            free_extensions=[_extension(r) for r in free],
        )

    async def search_licensed_users(self, tenant_id: str, query: str, limit: int = 25) -> list[TeamsUser]:
        """The search's rule (services/provisioning/search.py) runs in Python over the tenant's
        licensed users, as on every backend: SQLite's lower() folds only ASCII, so a LIKE would
        miss "Émilie" for "émilie". A tenant's users are a few thousand rows at most."""
        search = Search.of(query)
        tu = db.teams_users
        stmt = (
            select(tu.c.upn, tu.c.display_name, tu.c.provisioned, tu.c.extension)
            .where(tu.c.tenant_id == tenant_id, tu.c.licensed.is_(True))
            .order_by(tu.c.display_name)
        )
        if search.everything:
            stmt = stmt.limit(max(0, limit))

        def work(conn: Connection) -> list[Any]:
            found = (r for r in conn.execute(stmt).all() if search.person(r.display_name, r.upn))
            return list(islice(found, max(0, limit)))

        return [_licensed(r) for r in await self._db.read(work)]

    async def _user_row(self, tenant_id: str, upn: str):
        return await self._db.read(lambda conn: _user_row_in(conn, tenant_id, upn))

    async def teams_user(self, tenant_id: str, upn: str) -> TeamsUser | None:
        return _teams_user(await self._user_row(tenant_id, upn))

    async def extension(self, tenant_id: str, pbx_location: str, number: str) -> Extension | None:
        key = {"tenant_id": tenant_id, "pbx_location": pbx_location, "number": number}
        row = await self._db.read(lambda conn: conn.execute(_EXTENSION, key).first())
        return _extension(row) if row else None

    async def add_user(self, tenant_id: str, spec: PhoneUserSpec, device_password: str) -> None:
        await self._slow("add_user")
        require_device_password(device_password)
        await self._write_user(tenant_id, spec, device_password)

    async def _write_user(self, tenant_id: str, spec: PhoneUserSpec, device_password: str | None) -> None:
        """An add (`device_password` set) or a change (None: the device keeps its password), with
        the portal's rules: the location and route offered, a licensed user, an extension that
        exists and is free (or theirs); a change frees the old extension, an add refuses a phone
        user on another one."""

        changing = device_password is None
        # A few microseconds (a stand-in digest, embedded_users.hash_password): no thread hop.
        password_hash = None if changing else hash_password(device_password)
        tu, ex = db.teams_users, db.extensions
        offered_key = {
            "tenant_id": tenant_id,
            "pbx_location": spec.pbx_location,
            "voice_route": spec.voice_route,
        }

        def work(conn: Connection) -> None:
            # Every check in the write's own transaction: the location and the route in one
            # statement, the user's row once (licensed, and where they are now).
            pbx, route = conn.execute(_OFFERED, offered_key).one()
            if pbx is None:
                raise ProvisioningError(
                    T("PBX location {pbx_location} does not exist.", pbx_location=spec.pbx_location),
                    retryable=False,
                )
            if route is None:
                raise ProvisioningError(
                    T(
                        "Voice route {voice_route} is not offered to this tenant.",
                        voice_route=spec.voice_route,
                    ),
                    retryable=False,
                )
            current = _user_row_in(conn, tenant_id, spec.teams_user)
            user = require_licensed(_teams_user(current), spec.teams_user)
            if changing:
                require_phone_user(current.provisioned, user.upn)
            elif current.provisioned:
                require_not_phone_user_elsewhere(
                    user.upn, (current.pbx_location, current.extension), (spec.pbx_location, spec.extension)
                )
            claimed = conn.execute(
                update(ex)
                .where(
                    ex.c.tenant_id == tenant_id,
                    ex.c.pbx_location == spec.pbx_location,
                    ex.c.number == spec.extension,
                    or_(ex.c.assigned_to.is_(None), ex.c.assigned_to == user.upn),
                )
                .values(assigned_to=user.upn)
            )
            if claimed.rowcount != 1:
                row = conn.execute(
                    select(ex.c.assigned_to).where(
                        ex.c.tenant_id == tenant_id,
                        ex.c.pbx_location == spec.pbx_location,
                        ex.c.number == spec.extension,
                    )
                ).first()
                require_extension_exists(row is not None, spec.extension, spec.pbx_location)
                require_extension_free(row.assigned_to, spec.extension, user.upn)
                raise AssertionError("the extension was free, yet not claimed")
            if changing and (current.pbx_location, current.extension) != (spec.pbx_location, spec.extension):
                free_extension(conn, tenant_id, current.pbx_location, current.extension, user.upn)
            values: dict[str, Any] = {
                "provisioned": True,
                "pbx_location": spec.pbx_location,
                "voice_route": spec.voice_route,
                "extension": spec.extension,
                "phone_number": spec.phone_number,
                "voicemail_disabled": spec.disable_voicemail,
                "default_dial_plan": spec.default_dial_plan,
                "sip_auth_id": spec.sip_auth_id,
                "sync_pending": True,
            }
            if password_hash is not None:
                values["device_password_hash"] = password_hash
            conn.execute(update(tu).where(tu.c.tenant_id == tenant_id, tu.c.upn == user.upn).values(**values))
            conn.execute(
                update(db.tenants).where(db.tenants.c.tenant_id == tenant_id).values(sync_required=True)
            )

        await self._db.write(work)
        self._forget_options(tenant_id)

    async def sync_required(self, tenant_id: str) -> bool:
        # From the users themselves, not the tenant's flag: a sync running while another admin's
        # add commits (concurrent transactions on PostgreSQL) clears the flag but not that user.
        key = {"tenant_id": tenant_id}
        return bool(await self._db.read(lambda conn: conn.execute(_SYNC_PENDING, key).scalar()))

    async def sync_users(self, tenant_id: str) -> None:
        """Syncs every user added since the last sync (as the portal's "Sync Teams Users" does)."""
        await self._slow("sync_users")
        key = {"key_tenant_id": tenant_id}

        def work(conn: Connection) -> None:
            conn.execute(_SYNCED_USERS, key)
            conn.execute(_SYNCED_TENANT, key)

        await self._db.write(work)

    async def calling_enabled(self, tenant_id: str, upn: str) -> bool:
        state = await self.user_state(tenant_id, upn)
        return bool(state and state.calling_enabled)

    async def enable_calling(self, tenant_id: str, upn: str) -> None:
        await self._slow("enable_calling")
        # The rules as the write's condition (a synced phone user): one statement when they hold;
        # otherwise the row read tells which one failed, and a UPN in another case is found.
        key = {"in_tenant": tenant_id, "user_upn": upn}  # not column names: an UPDATE would set those
        if await self._db.write(lambda conn: conn.execute(_ENABLE_CALLING, key).rowcount) == 1:
            return
        state = await self.user_state(tenant_id, upn)
        require_phone_user(state is not None and state.provisioned, upn)
        assert state is not None
        if state.sync_pending:
            raise ProvisioningError(T("Teams users must be synced before calling can be enabled."))
        tu = db.teams_users
        enable = (
            update(tu).where(tu.c.tenant_id == tenant_id, tu.c.upn == state.upn).values(calling_enabled=True)
        )
        await self._db.write(lambda conn: conn.execute(enable))

    async def complete_admin_sign_in(
        self, tenant_id: str, result: AdminSignInResult, upns: list[str]
    ) -> list[str]:
        """The embedded service never asks for a Global Admin sign-in; given one, it enables calling
        for those of `upns` that are phone users."""
        done = []
        for upn in upns:
            state = await self.user_state(tenant_id, upn)
            if state is not None and state.provisioned:
                await self.enable_calling(tenant_id, state.upn)
                done.append(state.upn)
        return done

    async def consent_state(self, tenant_id: str) -> ConsentState | None:
        """The demo service has no Global Admin consent to give: its provider manages every tenant."""
        return None

    async def consent_url(self, tenant_id: str, kind: str) -> str:
        raise ProvisioningError(T("This provisioning service needs no consent."), retryable=False)

    async def user_state(self, tenant_id: str, upn: str) -> PhoneUserState | None:
        row = await self._user_row(tenant_id, upn)
        if row is None:
            return None
        return PhoneUserState(
            upn=row.upn,
            display_name=row.display_name,
            licensed=row.licensed,
            provisioned=row.provisioned,
            calling_enabled=row.calling_enabled,
            pbx_location=row.pbx_location,
            voice_route=row.voice_route,
            extension=row.extension,
            phone_number=row.phone_number,
            voicemail_disabled=row.voicemail_disabled,
            default_dial_plan=row.default_dial_plan,
            sip_auth_id=row.sip_auth_id,
            device_password_set=row.device_password_hash is not None,
            sync_pending=bool(row.sync_pending),
        )


def _user_row_in(conn: Connection, tenant_id: str, upn: str) -> Any:
    """The user's row, by UPN in any case. The exact spelling (what the form's typeahead sends)
    is a primary-key lookup; only a UPN spelled otherwise scans the tenant's users."""
    row = conn.execute(_USER_BY_UPN, {"tenant_id": tenant_id, "upn": upn}).first()
    if row is None:
        tu = db.teams_users
        row = conn.execute(
            select(tu).where(tu.c.tenant_id == tenant_id, func.lower(tu.c.upn) == upn.lower())
        ).first()
    return row


def _teams_user(row: Any) -> TeamsUser | None:
    return TeamsUser(upn=row.upn, display_name=row.display_name, licensed=row.licensed) if row else None


def _licensed(row) -> TeamsUser:
    """A licensed user of the form's list, marked with their extension when already a phone user."""
    extension = row.extension if row.provisioned else None
    return TeamsUser(upn=row.upn, display_name=row.display_name, licensed=True, phone_extension=extension)


# Statements of every form check, built once (building one costs as much as running it on SQLite).
_USER_BY_UPN = select(db.teams_users).where(
    db.teams_users.c.tenant_id == bindparam("tenant_id"), db.teams_users.c.upn == bindparam("upn")
)
_ENABLE_CALLING = (
    update(db.teams_users)
    .where(
        db.teams_users.c.tenant_id == bindparam("in_tenant"),
        db.teams_users.c.upn == bindparam("user_upn"),
        db.teams_users.c.provisioned.is_(True),
        db.teams_users.c.sync_pending.is_not(True),
    )
    .values(calling_enabled=True)
)
# The add's and the change's check of the location and the route: one statement, two answers.
_OFFERED = select(
    select(db.pbx_locations.c.name)
    .where(
        db.pbx_locations.c.tenant_id == bindparam("tenant_id"),
        db.pbx_locations.c.name == bindparam("pbx_location"),
    )
    .scalar_subquery()
    .label("pbx"),
    select(db.voice_routes.c.name)
    .where(
        db.voice_routes.c.tenant_id == bindparam("tenant_id"),
        db.voice_routes.c.name == bindparam("voice_route"),
    )
    .scalar_subquery()
    .label("route"),
)
# The demo's sync, built once (an add runs both).
_SYNC_PENDING = select(
    select(db.teams_users.c.upn)
    .where(db.teams_users.c.tenant_id == bindparam("tenant_id"), db.teams_users.c.sync_pending.is_(True))
    .exists()
)
_SYNCED_USERS = (
    update(db.teams_users)
    .where(db.teams_users.c.tenant_id == bindparam("key_tenant_id"), db.teams_users.c.sync_pending.is_(True))
    .values(sync_pending=False)
)
_SYNCED_TENANT = (
    update(db.tenants).where(db.tenants.c.tenant_id == bindparam("key_tenant_id")).values(sync_required=False)
)
_EXTENSION = select(db.extensions).where(
    db.extensions.c.tenant_id == bindparam("tenant_id"),
    db.extensions.c.pbx_location == bindparam("pbx_location"),
    db.extensions.c.number == bindparam("number"),
)


def _extension(row) -> Extension:
    return Extension(
        pbx_location=row.pbx_location,
        number=row.number,
        caller_id=row.caller_id,
        assigned_to=row.assigned_to,
    )
