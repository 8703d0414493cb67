"""The ConnecttoTeams backend's settings and plain data types: the client's configuration with its
retry and ping policies, an enterprise as the platform lists it, and the source of licensed Teams users."""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from services.models import TeamsUser
from services.outbound_http import RetryPolicy


class ConnectToTeamsConfig(BaseModel):
    """Everything the client needs; built from settings (CTT_* variables, see docs/connecttoteams.md)."""

    model_config = ConfigDict(frozen=True)

    base_url: str
    client_id: str
    client_secret: SecretStr
    api_username: str
    api_password: SecretStr
    # Empty: discovered once from PUT /reseller/getAuthenticatedUser.
    reseller_id: str | None = None

    request_timeout_seconds: float = Field(default=15.0, gt=0)
    connect_timeout_seconds: float = Field(default=5.0, gt=0)
    max_attempts: int = Field(default=4, ge=1, le=10)
    backoff_base_seconds: float = Field(default=0.5, ge=0)
    backoff_max_seconds: float = Field(default=8.0, ge=0)
    retry_after_max_seconds: float = Field(default=30.0, ge=0)
    ping_timeout_seconds: float = Field(default=5.0, gt=0)
    token_margin_seconds: float = Field(default=60.0, ge=0)
    cache_ttl_seconds: float = Field(default=60.0, ge=0)
    max_connections: int = Field(default=20, ge=1)

    # Tenants whose Global Admin granted "Allow Management by Service Provider" (the API documents
    # no way to read this): calling is enabled with the reseller token alone there.
    consented_tenant_ids: frozenset[str] = frozenset()
    # The bot's public endpoint that receives the platform's result of a Global Admin sign-in.
    admin_callback_url: str | None = None
    # getActionItemUrl's actionType for "Allow Management by Service Provider": the stored copy of
    # "Enterprise Admin URL Workflow" describes that consent without its name (docs/connecttoteams.md).
    management_consent_action_type: str | None = None
    sign_in_ttl_seconds: float = Field(default=3600.0, gt=0)

    call_policy_cnam: str = "TRANSPARENT"
    call_policy_name: str = "Global"
    forwarded_calls_caller_id: str = "USER_CALLER_ID"

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            attempts=self.max_attempts,
            backoff_base_seconds=self.backoff_base_seconds,
            backoff_max_seconds=self.backoff_max_seconds,
            retry_after_max_seconds=self.retry_after_max_seconds,
            timeout_seconds=self.request_timeout_seconds,
            connect_timeout_seconds=self.connect_timeout_seconds,
        )

    @property
    def ping_policy(self) -> RetryPolicy:
        return RetryPolicy(
            attempts=1,
            timeout_seconds=self.ping_timeout_seconds,
            connect_timeout_seconds=min(self.connect_timeout_seconds, self.ping_timeout_seconds),
        )


class TeamsUserSource(Protocol):
    """Licensed Teams users of a tenant (services.graph.GraphClient in production)."""

    async def licensed_users(self, tenant_id: str) -> list[TeamsUser]: ...

    async def user(self, tenant_id: str, upn: str) -> TeamsUser | None: ...


class Enterprise(BaseModel):
    """One enterprise as getEnterprisesForReseller lists it (fields read defensively)."""

    model_config = ConfigDict(frozen=True)

    enterprise_id: str
    name: str
    tenant_id: str
    reseller_id: str
    sbc_gateway_ids: frozenset[int] | None = None
