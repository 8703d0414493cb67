"""The `phone users` views: one page of a tenant's phone users, and one phone user, for those who may
see them; with what waits on each (a sync, a request waiting for a Global Admin). The page and the
search a card sends back are checked here, like every value from a card."""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from typing import Any

from i18n import T, Text
from services import inbound
from services.errors import DomainError, NotAuthorised, not_a_phone_user
from services.models import PHONE_USERS_PAGE_SIZE, Actor, PhoneUser, Tenant
from services.requests.access import may_pick_enterprise, may_see_phone_users
from services.requests.transitions import RequestTransitions

MAX_QUERY = 100
# A page number beyond any tenant's list (5,000 users are 500 pages): a card asking for more was forged.
MAX_PAGE = 100_000
# Requests of a tenant read to mark who waits for a Global Admin (the list shows ten users a page).
WAITING_READ = 500


class ListingInvalid(DomainError):
    """A page number or a search text that no card of ours sends."""


class PhoneUserGone(DomainError):
    """The user a card names is not a phone user (any more)."""


@dataclass(frozen=True)
class PhoneUserListing:
    """One page of the list: `page` counts from 1; `note` says why it is not the page asked for."""

    tenant: Tenant
    query: str
    page: int
    pages: int
    total: int
    users: list[PhoneUser]
    note: Text | None = None


def clean_query(value: Any) -> str:
    """A search text from a typed command or a card: at most MAX_QUERY printable characters."""
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_QUERY:
        raise ListingInvalid(
            T("Search for at most {max} characters: a name, an address or an extension.", max=MAX_QUERY)
        )
    # U+FFFD: the edge's stand-in for a NUL or a lone surrogate (services/inbound.py).
    if any(unicodedata.category(c) in ("Cc", "Cf") or c == inbound.REPLACEMENT for c in value):
        raise ListingInvalid(T("The search contains control or formatting characters."))
    return " ".join(value.split())


def clean_page(value: Any) -> int:
    """A page number from a card: a whole number from 1 to MAX_PAGE."""
    page = inbound.card_int(value, minimum=1, maximum=MAX_PAGE)
    if page is None:
        raise ListingInvalid(T("This card asked for a page of the list that does not exist."))
    return page


class PhoneUserViews(RequestTransitions):
    """Read-only: moves no request; a refusal writes an audit row."""

    async def phone_users(
        self, actor: Actor, tenant_id: str, query: str = "", page: int = 1
    ) -> PhoneUserListing:
        tenant = await self._phone_users_tenant(actor, tenant_id)
        size = PHONE_USERS_PAGE_SIZE
        found = await self._provisioning.phone_users(tenant.tenant_id, query, (page - 1) * size, size)
        pages = max(1, math.ceil(found.total / size))
        note = None
        if page > pages:  # the list shrank since the card was drawn: its last page
            note = T(
                "The list changed: page {page} no longer exists. Here is page {last}.", page=page, last=pages
            )
            page = pages
            found = await self._provisioning.phone_users(tenant.tenant_id, query, (page - 1) * size, size)
        users = await self._with_waiting(tenant.tenant_id, found.items)
        return PhoneUserListing(tenant, query, page, pages, found.total, users, note)

    async def phone_user(self, actor: Actor, tenant_id: str, upn: str) -> tuple[Tenant, PhoneUser]:
        tenant = await self._phone_users_tenant(actor, tenant_id)
        state = await self._provisioning.user_state(tenant.tenant_id, upn) if upn else None
        if state is None or not state.provisioned:
            raise PhoneUserGone(not_a_phone_user(upn, tenant.name))
        user = await self._provisioning.teams_user(tenant.tenant_id, state.upn)
        found = PhoneUser(
            upn=state.upn,
            display_name=user.display_name if user else state.upn,
            pbx_location=state.pbx_location,
            extension=state.extension,
            phone_number=state.phone_number,
            voice_route=state.voice_route,
            calling_enabled=state.calling_enabled,
            sync_pending=state.sync_pending,
        )
        return tenant, (await self._with_waiting(tenant.tenant_id, [found]))[0]

    async def _phone_users_tenant(self, actor: Actor, tenant_id: str) -> Tenant:
        managed: set[str] = set()
        if may_pick_enterprise(actor):
            managed = {t.tenant_id for t in await self._provisioning.enterprises_of(actor.tenant_id)}
        tenant = await self._provisioning.tenant(tenant_id) if tenant_id else None
        if tenant is None or not may_see_phone_users(actor, tenant_id, managed):
            await self.audit(
                actor, tenant_id or actor.tenant_id, None, "refused", None, None, T("phone users")
            )
            raise NotAuthorised(
                T("You can see the phone users of your own tenant, or of an enterprise you manage, only.")
            )
        return tenant

    async def _with_waiting(self, tenant_id: str, users: list[PhoneUser]) -> list[PhoneUser]:
        """Marks the users a request of the tenant waits on a Global Admin for (approval or sign-in)."""
        waiting = {
            str(r.values.get("teams_user") or "").casefold()
            for r in await self.waiting_for_admin(tenant_id, WAITING_READ)
        }
        return [u.model_copy(update={"waiting_for_admin": u.upn.casefold() in waiting}) for u in users]
