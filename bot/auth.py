"""Bot Framework authentication, kept on botbuilder's validation path with its defects fixed.

botbuilder 4.17.1 validates inbound JWTs correctly, but: every validation failure other than
PermissionError becomes an HTTP 500; an unknown signing key (`kid`, i.e. a rotated key) raises
IndexError and is refused until the 24 h key cache expires; keys are fetched with blocking
`requests.get` on the event loop, without a timeout. Outbound, every turn builds a new msal app
(no token cache across turns). This module fixes each of those without leaving botbuilder's path.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import aiohttp
from botbuilder.schema import Activity
from botframework.connector.auth import (
    AuthenticateRequestResult,
    BotFrameworkAuthentication,
    JwtTokenExtractor,
    MicrosoftAppCredentials,
    PasswordServiceClientCredentialFactory,
)
from botframework.connector.auth.jwt_token_extractor import _OpenIdConfig
from jwt.algorithms import RSAAlgorithm
from msal import ConfidentialClientApplication
from msrest.authentication import Authentication

log = logging.getLogger(__name__)

KEY_FETCH_TIMEOUT_SECONDS = 5.0
KEY_MAX_AGE_SECONDS = 24 * 3600.0


class AsyncOpenIdMetadata:
    """Signing keys of one OpenID metadata document: fetched without blocking the loop, with a
    timeout, refreshed when a token names a key we do not know (at most every
    `min_refresh_seconds`), and never an exception for an unknown key."""

    def __init__(self, url: str, min_refresh_seconds: float) -> None:
        self.url = url
        self.keys: list[dict[str, Any]] = []
        self._fetched_at = float("-inf")
        self._min_refresh = min_refresh_seconds
        self._lock = asyncio.Lock()

    async def get(self, key_id: str | None) -> _OpenIdConfig | None:
        if time.monotonic() - self._fetched_at > KEY_MAX_AGE_SECONDS:
            await self._refresh(force=True)
        key = self._find(key_id)
        if key is None and key_id:
            await self._refresh(force=False)
            key = self._find(key_id)
        return key

    async def _refresh(self, *, force: bool) -> None:
        async with self._lock:
            if not force and time.monotonic() - self._fetched_at < self._min_refresh:
                return
            timeout = aiohttp.ClientTimeout(total=KEY_FETCH_TIMEOUT_SECONDS)
            try:
                async with aiohttp.ClientSession(timeout=timeout) as session:
                    async with session.get(self.url) as response:
                        response.raise_for_status()
                        jwks_uri = (await response.json(content_type=None))["jwks_uri"]
                    async with session.get(jwks_uri) as response:
                        response.raise_for_status()
                        self.keys = (await response.json(content_type=None))["keys"]
                self._fetched_at = time.monotonic()
            except (aiohttp.ClientError, TimeoutError, KeyError, ValueError) as exc:
                # Keep the keys we have; the token is refused if none matches.
                log.warning("could not fetch signing keys from %s: %s", self.url, type(exc).__name__)
                self._fetched_at = max(self._fetched_at, time.monotonic() - KEY_MAX_AGE_SECONDS + 60)

    def _find(self, key_id: str | None) -> _OpenIdConfig | None:
        for key in self.keys:
            if key_id and key.get("kid") == key_id:
                public_key = RSAAlgorithm.from_jwk(json.dumps(key))
                return _OpenIdConfig(public_key, key.get("endorsements", []))
        return None


class _MetadataCache(dict):
    """Stands in for `JwtTokenExtractor.metadataCache`: every metadata URL gets our fetcher."""

    def __init__(self, min_refresh_seconds: float) -> None:
        super().__init__()
        self._min_refresh = min_refresh_seconds

    def get(self, url: str, default: Any = None) -> AsyncOpenIdMetadata:
        if url not in self:
            self[url] = AsyncOpenIdMetadata(url, self._min_refresh)
        return self[url]


def install_key_cache(min_refresh_seconds: float = 300.0) -> None:
    """Replace botbuilder's class-level key cache (also clears it, e.g. between tests)."""
    JwtTokenExtractor.metadataCache = _MetadataCache(min_refresh_seconds)


async def authenticate(
    auth: BotFrameworkAuthentication, activity: Activity, auth_header: str
) -> AuthenticateRequestResult:
    """botbuilder's own validation; every failure (bad signature, expired, wrong audience or
    issuer, unendorsed channel, serviceUrl mismatch, garbage) becomes PermissionError (401)."""
    try:
        return await auth.authenticate_request(activity, auth_header)
    except PermissionError:
        raise
    except Exception as exc:
        log.info("refused a request: %s", type(exc).__name__)
        raise PermissionError("unauthorized") from None


class ProcessCredentialFactory(PasswordServiceClientCredentialFactory):
    """One credentials object (one msal app, one token cache) per scope for the whole process;
    the first token is fetched in a thread so the event loop never waits on it."""

    def __init__(
        self, app_id: str, password: str, tenant_id: str = "", *, msal_http_client: Any = None
    ) -> None:
        super().__init__(app_id, password, tenant_id)
        self._cache: dict[tuple[str, str, str], Authentication] = {}
        self._lock = asyncio.Lock()
        self._http_client = msal_http_client

    async def create_credentials(
        self, app_id: str, oauth_scope: str, login_endpoint: str, validate_authority: bool
    ) -> Authentication:
        if await self.is_authentication_disabled():
            return MicrosoftAppCredentials.empty()
        key = (app_id, oauth_scope or "", login_endpoint or "")
        async with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                return cached
            credentials = await super().create_credentials(
                app_id, oauth_scope, login_endpoint, validate_authority
            )
            if self._http_client is not None and isinstance(credentials, MicrosoftAppCredentials):
                credentials.app = ConfidentialClientApplication(
                    client_id=credentials.microsoft_app_id,
                    client_credential=credentials.microsoft_app_password,
                    authority=credentials.oauth_endpoint,
                    http_client=self._http_client,
                )
            if isinstance(credentials, MicrosoftAppCredentials) and credentials.microsoft_app_id:
                await asyncio.to_thread(credentials.get_access_token)
            self._cache[key] = credentials
            return credentials
