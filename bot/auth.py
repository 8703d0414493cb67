"""Bot Framework authentication on the Microsoft 365 Agents SDK, with the SDK's gaps closed.

Inbound, the SDK's `JwtTokenValidator` checks the signature (RS256 only), the audience and the
time claims. What it does not do, and this module adds (each has a test in tests/test_auth.py
that fails without it; README "Edge defects"):
- issuer: checked only when opted in, so a token from any issuer passes: we allow Bot Framework's;
- channel endorsement of the signing key (a key endorsed for `skype` must not sign `msteams`);
- the `serviceurl` claim: compared by host only, and only with the SDK's host validator on;
- every failure is an exception of some kind: we map them all to `PermissionError` (401);
- signing keys are fetched by `PyJWKClient` in a worker thread under one lock, with a 30 s
  timeout: a stalled key server holds every turn that needs that lock. `SigningKeys` fetches
  with aiohttp and a short timeout, keeps the keys it has, and refreshes for an unknown key id.

Outbound, `BotCredentials` is the SDK's `MsalAuth` (one msal app and token cache for the
process, acquired off the event loop) with the token kept in memory until shortly before it
expires, so a reply costs no thread hop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp
import jwt
from microsoft_agents.activity import Activity
from microsoft_agents.authentication.msal import MsalAuth
from microsoft_agents.hosting.core import AgentAuthConfiguration, AuthTypes, ClaimsIdentity
from microsoft_agents.hosting.core.authorization import JwtTokenValidator
from msal import ConfidentialClientApplication

log = logging.getLogger(__name__)

BOT_FRAMEWORK_ISSUERS = ("https://api.botframework.com",)
BOT_FRAMEWORK_RESOURCE = "https://api.botframework.com"
BOT_FRAMEWORK_SCOPES = ["https://api.botframework.com/.default"]
KEY_FETCH_TIMEOUT_SECONDS = 5.0
KEY_MAX_AGE_SECONDS = 24 * 3600.0
TOKEN_RENEW_BEFORE_SECONDS = 300.0


class SigningKeys:
    """Signing keys per JWKS URL, in the shape of the SDK's key manager (`get_signing_key`)."""

    def __init__(self, min_refresh_seconds: float = 30.0) -> None:
        self._min_refresh = min_refresh_seconds
        self._keys: dict[str, list[dict[str, Any]]] = {}
        self._fetched_at: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get_signing_key(self, jwks_uri: str, header: dict[str, Any]) -> jwt.PyJWK:
        key = await self.jwk(jwks_uri, header.get("kid"))
        if key is None:
            raise PermissionError("unknown signing key")
        return jwt.PyJWK(key)

    async def jwk(self, jwks_uri: str, key_id: str | None) -> dict[str, Any] | None:
        if time.monotonic() - self._fetched_at.get(jwks_uri, float("-inf")) > KEY_MAX_AGE_SECONDS:
            await self._refresh(jwks_uri, force=True)
        key = self._find(jwks_uri, key_id)
        if key is None and key_id:  # a rotated key: ask again, at most every min_refresh seconds
            await self._refresh(jwks_uri, force=False)
            key = self._find(jwks_uri, key_id)
        return key

    def _find(self, jwks_uri: str, key_id: str | None) -> dict[str, Any] | None:
        return next((k for k in self._keys.get(jwks_uri, []) if key_id and k.get("kid") == key_id), None)

    async def _refresh(self, jwks_uri: str, *, force: bool) -> None:
        async with self._locks.setdefault(jwks_uri, asyncio.Lock()):
            fetched_at = self._fetched_at.get(jwks_uri, float("-inf"))
            if not force and time.monotonic() - fetched_at < self._min_refresh:
                return
            timeout = aiohttp.ClientTimeout(total=KEY_FETCH_TIMEOUT_SECONDS)
            try:
                async with aiohttp.ClientSession(timeout=timeout) as session:
                    async with session.get(jwks_uri) as response:
                        response.raise_for_status()
                        keys = (await response.json(content_type=None))["keys"]
                if not isinstance(keys, list):
                    raise ValueError("keys is not a list")
                self._keys[jwks_uri] = [k for k in keys if isinstance(k, dict)]
                self._fetched_at[jwks_uri] = time.monotonic()
            except (aiohttp.ClientError, TimeoutError, KeyError, TypeError, ValueError) as exc:
                # Keep the keys we have, and try again in a minute rather than on every token.
                log.warning("could not fetch signing keys from %s: %s", jwks_uri, type(exc).__name__)
                self._fetched_at[jwks_uri] = max(fetched_at, time.monotonic() - KEY_MAX_AGE_SECONDS + 60)


class BotFrameworkTokens:
    """Validates the Bot Framework token of an inbound activity; any failure is PermissionError."""

    def __init__(self, app_id: str, tenant_id: str = "", key_refresh_seconds: float = 30.0) -> None:
        self._configuration = AgentAuthConfiguration(
            client_id=app_id,
            tenant_id=tenant_id or None,
            issuers=list(BOT_FRAMEWORK_ISSUERS),
            validate_issuer=True,
        )
        self._keys = SigningKeys(key_refresh_seconds)
        self._validator = JwtTokenValidator(self._configuration)
        self._validator._jwk_client_manager = self._keys  # the SDK's hook for its key cache

    async def authenticate(self, auth_header: str, activity: Activity) -> ClaimsIdentity:
        try:
            return await self._authenticate(auth_header, activity)
        except PermissionError:
            raise
        except Exception as exc:  # a forged or broken token raises all sorts: each one is a 401
            log.info("refused a request: %s", type(exc).__name__)
            raise PermissionError("unauthorized") from None

    async def _authenticate(self, auth_header: str, activity: Activity) -> ClaimsIdentity:
        scheme, _, token = auth_header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise PermissionError("no bearer token")
        # Refused on the unverified issuer before any key is fetched: an attacker's token must
        # not make us download keys from wherever its issuer points.
        unverified = jwt.decode(token, options={"verify_signature": False})
        if unverified.get("iss") not in BOT_FRAMEWORK_ISSUERS:
            raise PermissionError("issuer not accepted")
        identity = await self._validator.validate_token(token)
        # PyJWT checks `exp` only when a token has one; a token that never expires is refused
        # (`nbf` and `iat`, when present, are checked by the validator with its 300 s leeway).
        if not isinstance(identity.claims.get("exp"), (int, float)):
            raise PermissionError("token without expiry")
        jwks_uri = _jwks_uri(identity.claims.get("iss"))
        key = await self._keys.jwk(jwks_uri, jwt.get_unverified_header(token).get("kid"))
        channel = str(activity.channel_id or "")
        if channel and channel not in ((key or {}).get("endorsements") or []):
            raise PermissionError("signing key not endorsed for this channel")
        if identity.claims.get("serviceurl") != activity.service_url:
            raise PermissionError("serviceUrl does not match the token")
        return identity


def _jwks_uri(issuer: Any) -> str:
    from microsoft_agents.hosting.core.authorization._entra_issuers import BOTFRAMEWORK_JWKS_URIS

    return BOTFRAMEWORK_JWKS_URIS[issuer]


def auth_configuration(app_id: str, password: str, app_type: str, tenant_id: str) -> AgentAuthConfiguration:
    """The Bot Framework settings (`MicrosoftAppType` and friends) in the SDK's terms."""
    if app_type.lower() == "userassignedmsi":
        return AgentAuthConfiguration(
            auth_type=AuthTypes.user_managed_identity, client_id=app_id, tenant_id=tenant_id or None
        )
    single = app_type.lower() == "singletenant"
    return AgentAuthConfiguration(
        auth_type=AuthTypes.client_secret,
        client_id=app_id,
        client_secret=password,
        tenant_id=tenant_id if single and tenant_id else "botframework.com",
    )


class OutboundTokenUnavailable(Exception):
    """Microsoft's sign-in did not give the bot its token: nothing can be sent now (the route
    answers 503, so the channel tries again; /readyz says so)."""


class BotCredentials(MsalAuth):
    """The bot's outbound token: one for the process, renewed shortly before it expires."""

    def __init__(self, configuration: AgentAuthConfiguration, *, http_client: Any = None) -> None:
        super().__init__(configuration)
        self._http_client = http_client
        self._memo: dict[tuple[str, ...], tuple[str, float]] = {}
        self._lock = asyncio.Lock()
        self._failed: str | None = None  # why the last attempt to get a token failed

    async def ping(self) -> None:
        """For /readyz: fails while the last attempt to get the token failed."""
        if self._failed is not None:
            raise OutboundTokenUnavailable(self._failed)

    async def get_access_token(
        self, resource_url: str, scopes: list[str], force_refresh: bool = False
    ) -> str:
        key = (resource_url, *scopes)
        memo = self._memo.get(key)
        if memo and not force_refresh and memo[1] - TOKEN_RENEW_BEFORE_SECONDS > time.time():
            return memo[0]
        async with self._lock:
            memo = self._memo.get(key)
            if memo and not force_refresh and memo[1] - TOKEN_RENEW_BEFORE_SECONDS > time.time():
                return memo[0]
            try:
                access = await self._get_access_token(resource_url, scopes, force_refresh)
            except Exception as exc:  # msal, network, or a refusal: the same for the channel
                self._failed = type(exc).__name__
                log.warning("could not get the bot's token from Microsoft sign-in: %s", self._failed)
                raise OutboundTokenUnavailable(self._failed) from None
            self._failed = None
            self._memo[key] = (access.token, float(access.expires_on))
            return access.token

    def _create_client_application(self, tenant_id: str | None = None) -> Any:
        configuration = self._msal_configuration
        if self._http_client is None or configuration.AUTH_TYPE != AuthTypes.client_secret:
            return super()._create_client_application(tenant_id)
        # Tests answer Entra ID locally: msal takes its HTTP client only at construction.
        return ConfidentialClientApplication(
            client_id=configuration.CLIENT_ID,
            authority=MsalAuth._resolve_authority(configuration, tenant_id),
            client_credential=configuration.CLIENT_SECRET,
            http_client=self._http_client,
        )
