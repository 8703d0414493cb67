"""The provider's list of partners: who they are, their users, and the enterprises they manage.

Neither Microsoft Graph nor the platform knows which Azure AD tenant is which white-label partner, so
the provider keeps this list (a JSON file). The directory uses it for the partner role; the
ConnecttoTeams service uses it for a partner's enterprise picker.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class Partner(BaseModel):
    model_config = ConfigDict(frozen=True)

    tenant_id: str
    name: str
    # The partner's own reseller id at the platform: its enterprises are then the platform's
    # getEnterprisesForReseller answer for it.
    reseller_id: str | None = None
    # Or (and, as a filter, when both are given) the customer tenants it manages.
    enterprise_tenant_ids: frozenset[str] = frozenset()
    # AAD object ids of the partner's people who may use the bot.
    user_ids: frozenset[str] = frozenset()


class Partners:
    """Lookup by partner tenant id."""

    def __init__(self, partners: Iterable[Partner] = ()) -> None:
        self._by_tenant = {p.tenant_id: p for p in partners}

    def get(self, tenant_id: str) -> Partner | None:
        return self._by_tenant.get(tenant_id)

    def __iter__(self):
        return iter(self._by_tenant.values())

    def __len__(self) -> int:
        return len(self._by_tenant)


class _PartnersFile(BaseModel):
    partners: list[Partner] = Field(default_factory=list)


def load_partners(path: Path | str) -> Partners:
    """Reads `{"partners": [{"tenant_id", "name", "reseller_id", "enterprise_tenant_ids", "user_ids"}]}`."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return Partners(_PartnersFile.model_validate(data).partners)
