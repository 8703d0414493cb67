"""What the app package says about its publisher and version: read once, like the bot's settings."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.settings import ROOT

# Defaults that build a valid package for a test tenant; a production upload should replace them.
PLACEHOLDER_DEVELOPER_NAME = "Example Provider"
PLACEHOLDER_WEBSITE_URL = "https://www.example.com/"
PLACEHOLDER_PRIVACY_URL = "https://www.example.com/privacy"
PLACEHOLDER_TERMS_URL = "https://www.example.com/terms"


class ManifestSettings(BaseSettings):
    """The publisher shown to admins on the app's details page, the bot's domain and the app version.

    The app id is not here: it is the bot's `MicrosoftAppId`, read through `bot.settings.Settings`.
    """

    model_config = SettingsConfigDict(
        env_file=ROOT / ".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        populate_by_name=True,
    )

    # The schema's limits on what these settings fill, checked here too: a build from a runtime-only
    # install has no JSON schema validator (manifest/checks.py).
    developer_name: str = Field(
        default=PLACEHOLDER_DEVELOPER_NAME, alias="TEAMS_APP_DEVELOPER_NAME", min_length=1, max_length=32
    )
    website_url: str = Field(default=PLACEHOLDER_WEBSITE_URL, alias="TEAMS_APP_WEBSITE_URL", max_length=2048)
    privacy_url: str = Field(default=PLACEHOLDER_PRIVACY_URL, alias="TEAMS_APP_PRIVACY_URL", max_length=2048)
    terms_of_use_url: str = Field(default=PLACEHOLDER_TERMS_URL, alias="TEAMS_APP_TERMS_URL", max_length=2048)
    # The host name the bot is reached at (no scheme, no path); empty leaves validDomains empty,
    # which a bot without tabs or sign-in pages does not need.
    domain: str = Field(default="", alias="TEAMS_APP_DOMAIN", max_length=2048)
    # Teams installs an update only when this grows: raise it for every package you upload.
    version: str = Field(default="1.0.0", alias="TEAMS_APP_VERSION", max_length=256)

    def placeholders(self) -> list[str]:
        """Names of the publisher settings still at their example values."""
        defaults = {
            "TEAMS_APP_DEVELOPER_NAME": (self.developer_name, PLACEHOLDER_DEVELOPER_NAME),
            "TEAMS_APP_WEBSITE_URL": (self.website_url, PLACEHOLDER_WEBSITE_URL),
            "TEAMS_APP_PRIVACY_URL": (self.privacy_url, PLACEHOLDER_PRIVACY_URL),
            "TEAMS_APP_TERMS_URL": (self.terms_of_use_url, PLACEHOLDER_TERMS_URL),
        }
        return [name for name, (value, default) in defaults.items() if value == default]
