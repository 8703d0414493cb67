"""Settings, read once from the environment and an optional .env file, then passed in."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Bot Framework names for the bot registration; our own names for everything else.

    `ConfigurationBotFrameworkAuthentication` reads APP_ID, APP_PASSWORD, APP_TYPE and
    APP_TENANTID by attribute, so this object is passed to it directly.
    """

    model_config = SettingsConfigDict(
        env_file=ROOT / ".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        populate_by_name=True,
    )

    APP_ID: str = Field(default="", alias="MicrosoftAppId")
    APP_PASSWORD: str = Field(default="", alias="MicrosoftAppPassword", repr=False)
    APP_TYPE: str = Field(default="MultiTenant", alias="MicrosoftAppType")
    APP_TENANTID: str = Field(default="", alias="MicrosoftAppTenantId")

    host: str = Field(default="127.0.0.1", alias="HOST")
    port: int = Field(default=3978, alias="PORT", ge=0, le=65535)
    data_dir: Path = Field(default=ROOT / "data", alias="DATA_DIR")
    database_url: str = Field(default="", alias="DATABASE_URL", repr=False)
    log_level: str = Field(default="INFO", alias="LOG_LEVEL")
    log_format: str = Field(default="text", alias="LOG_FORMAT", pattern="^(text|json)$")
    # Proactive messages carry the bot's token: only to https Teams service hosts (and subdomains).
    trusted_service_url_hosts: tuple[str, ...] = Field(
        default=(
            "smba.trafficmanager.net",
            "smba.infra.gcc.teams.microsoft.com",
            "smba.infra.gov.teams.microsoft.us",
            "smba.infra.dod.teams.microsoft.us",
        ),
        alias="TRUSTED_SERVICE_URL_HOSTS",
    )

    # Files sent in the chat (bulk add) are fetched only from these https hosts and their
    # subdomains: where Teams keeps them (the sender's OneDrive, on SharePoint).
    file_download_hosts: tuple[str, ...] = Field(
        default=("sharepoint.com", "sharepoint.us", "sharepoint-mil.us", "sharepoint.cn"),
        alias="FILE_DOWNLOAD_HOSTS",
    )

    # A token signed with a key we do not know triggers a key refresh at most this often.
    signing_key_refresh_seconds: float = Field(default=30.0, alias="SIGNING_KEY_REFRESH_SECONDS", ge=0)
    # Without an app id nothing is authenticated: only loopback, unless the operator says otherwise.
    allow_unauthenticated_network: bool = Field(default=False, alias="ALLOW_UNAUTHENTICATED_NETWORK")

    # A second world file (same format as services/seed/demo_world.json) loaded after the demo
    # world: a provider's own tenants and people, or the benchmark's large tenant.
    extra_world_file: Path | None = Field(default=None, alias="EXTRA_WORLD_FILE")

    # Test and benchmark knobs for the embedded provisioning service.
    embedded_delay_seconds: float = Field(default=0.0, alias="EMBEDDED_DELAY_SECONDS", ge=0)
    # Embedded mode: how long a person's role (from the people table) and a tenant's form options
    # are kept in memory. A role granted or revoked takes effect within ROLE_CACHE_SECONDS; 0 reads
    # the tables on every turn.
    role_cache_seconds: float = Field(default=5.0, alias="ROLE_CACHE_SECONDS", ge=0)
    form_options_cache_seconds: float = Field(default=5.0, alias="FORM_OPTIONS_CACHE_SECONDS", ge=0)
    max_body_bytes: int = Field(default=256 * 1024, alias="MAX_BODY_BYTES", gt=0)
    # Conversation references kept per tenant: a storm of new senders from one known tenant
    # replaces the least recently seen, and the table stays bounded.
    max_conversations_per_tenant: int = Field(default=5000, alias="MAX_CONVERSATIONS_PER_TENANT", gt=0)
    # A partner's request waiting this long for a global admin gets a reminder to the tenant's
    # global admins (and the partner is told); as long again, a second; then an escalation.
    reminder_after_hours: float = Field(default=24.0, alias="REMINDER_AFTER_HOURS", gt=0)
    # An approval nobody gave or refused within this expires: the user a partner's add put at the
    # service is removed again and the extension freed; the partner is told.
    request_expiry_days: float = Field(default=7.0, alias="REQUEST_EXPIRY_DAYS", gt=0)
    # The SIP authentication ID is the extension and this suffix: `t` in the procedure this bot
    # follows; other white-labels of the platform use others (e.g. `tp`). Shown on the form, not
    # typed, unless SIP_AUTH_ID_EDITABLE: then typed, still the extension first.
    sip_auth_id_suffix: str = Field(default="t", alias="SIP_AUTH_ID_SUFFIX", pattern=r"^[A-Za-z0-9]{0,8}$")
    sip_auth_id_editable: bool = Field(default=False, alias="SIP_AUTH_ID_EDITABLE")
    # Rows of a bulk add provisioned at once (each a request of its own; issue 18).
    bulk_concurrency: int = Field(default=8, alias="BULK_CONCURRENCY", ge=1, le=32)
    outbox_poll_seconds: float = Field(default=2.0, alias="OUTBOX_POLL_SECONDS", gt=0)
    # Notices delivered at once, each to another person: one chat that does not answer holds up
    # only its own notices. A proactive send gets one attempt of at most this long; the outbox
    # tries again later with its backoff (docs/scale-out.md).
    outbox_concurrency: int = Field(default=16, alias="OUTBOX_CONCURRENCY", ge=1, le=64)
    proactive_send_timeout_seconds: float = Field(
        default=5.0, alias="PROACTIVE_SEND_TIMEOUT_SECONDS", gt=0, le=60
    )
    # Several instances: a claimed outbox row or request pipeline is taken over by another
    # instance only after its holder's lease ran out (the holder died).
    outbox_lease_seconds: float = Field(default=60.0, alias="OUTBOX_LEASE_SECONDS", gt=0)
    pipeline_lease_seconds: float = Field(default=60.0, alias="PIPELINE_LEASE_SECONDS", gt=0)
    # On stop, running provisioning work gets this long to finish; the rest resumes on next start.
    shutdown_grace_seconds: float = Field(default=10.0, alias="SHUTDOWN_GRACE_SECONDS", ge=0)

    # Which provisioning side: the embedded demo world, or the ConnecttoTeams platform
    # (docs/connecttoteams.md). The directory follows: embedded, or Microsoft Graph.
    provisioning_backend: str = Field(
        default="embedded", alias="PROVISIONING_BACKEND", pattern="^(embedded|connecttoteams)$"
    )
    ctt_base_url: str = Field(default="", alias="CTT_BASE_URL")
    ctt_client_id: str = Field(default="", alias="CTT_CLIENT_ID")
    ctt_client_secret: SecretStr = Field(default=SecretStr(""), alias="CTT_CLIENT_SECRET")
    ctt_api_username: str = Field(default="", alias="CTT_API_USERNAME")
    ctt_api_password: SecretStr = Field(default=SecretStr(""), alias="CTT_API_PASSWORD")
    ctt_reseller_id: str = Field(default="", alias="CTT_RESELLER_ID")
    ctt_timeout_seconds: float = Field(default=15.0, alias="CTT_TIMEOUT_SECONDS", gt=0)
    ctt_max_attempts: int = Field(default=4, alias="CTT_MAX_ATTEMPTS", ge=1, le=10)
    ctt_backoff_base_seconds: float = Field(default=0.5, alias="CTT_BACKOFF_BASE_SECONDS", ge=0)
    ctt_backoff_max_seconds: float = Field(default=8.0, alias="CTT_BACKOFF_MAX_SECONDS", ge=0)
    ctt_retry_after_max_seconds: float = Field(default=30.0, alias="CTT_RETRY_AFTER_MAX_SECONDS", ge=0)
    # Comma-separated tenant ids whose Global Admin allowed management by the service provider: an
    # override of what the platform's consent answers say (docs/connecttoteams.md).
    ctt_consented_tenants: str = Field(default="", alias="CTT_CONSENTED_TENANTS")
    ctt_callback_url: str = Field(default="", alias="CTT_CALLBACK_URL")
    # getActionItemUrl's actionType for "Allow Management by Service Provider" (its name is not in
    # the platform's stored pages; the platform's support gives it). Empty: the bot cannot ask for it.
    ctt_management_consent_action: str = Field(default="", alias="CTT_MANAGEMENT_CONSENT_ACTION")
    graph_client_id: str = Field(default="", alias="GRAPH_CLIENT_ID")
    graph_client_secret: SecretStr = Field(default=SecretStr(""), alias="GRAPH_CLIENT_SECRET")
    graph_authority_host: str = Field(
        default="https://login.microsoftonline.com", alias="GRAPH_AUTHORITY_HOST"
    )
    graph_base_url: str = Field(default="https://graph.microsoft.com/v1.0", alias="GRAPH_BASE_URL")
    pbx_directory_file: Path | None = Field(default=None, alias="PBX_DIRECTORY_FILE")
    partners_file: Path | None = Field(default=None, alias="PARTNERS_FILE")

    @model_validator(mode="after")
    def _connecttoteams_complete(self) -> Settings:
        if self.provisioning_backend == "connecttoteams":
            missing = [
                name
                for name, value in (
                    ("CTT_BASE_URL", self.ctt_base_url),
                    ("CTT_CLIENT_ID", self.ctt_client_id),
                    ("CTT_CLIENT_SECRET", self.ctt_client_secret.get_secret_value()),
                    ("CTT_API_USERNAME", self.ctt_api_username),
                    ("CTT_API_PASSWORD", self.ctt_api_password.get_secret_value()),
                    ("GRAPH_CLIENT_ID or MicrosoftAppId", self.graph_client_id or self.APP_ID),
                    ("PBX_DIRECTORY_FILE", self.pbx_directory_file),
                )
                if not value
            ]
            if missing:
                raise ValueError(f"PROVISIONING_BACKEND=connecttoteams needs {', '.join(missing)}")
        return self

    @property
    def ctt_consented_tenant_ids(self) -> frozenset[str]:
        return frozenset(t.strip() for t in self.ctt_consented_tenants.split(",") if t.strip())

    @field_validator("trusted_service_url_hosts", "file_download_hosts", mode="before")
    @classmethod
    def _hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(h.strip().lower() for h in value.split(",") if h.strip())
        return value

    @model_validator(mode="after")
    def _defaults(self) -> Settings:
        if not self.data_dir.is_absolute():
            object.__setattr__(self, "data_dir", (ROOT / self.data_dir).resolve())
        if not self.database_url:
            url = f"sqlite+aiosqlite:///{self.data_dir / 'bot.sqlite3'}"
            object.__setattr__(self, "database_url", url)
        return self

    @property
    def authenticated(self) -> bool:
        return bool(self.APP_ID)
