"""The Global Admin step's two ends at the platform: asking for a sign-in link (getActionItemUrl,
raised as GlobalAdminSignInRequired) and reading the result the platform's callback brings back."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from i18n import T
from services.db import utcnow
from services.errors import AdminSignInRequired, ProvisioningError
from services.models import AdminSignInResult
from services.provisioning.connecttoteams.api import Doing, PlatformApi
from services.provisioning.connecttoteams.config import ConnectToTeamsConfig, Enterprise
from services.provisioning.connecttoteams.wire import answer_keys, parse_action_url, platform_id, with_query

# The package's name, as the single module had: log filters written for this backend keep matching.
log = logging.getLogger(__package__)

LOGIN_ENTERPRISE_ADMIN = "LOGIN_ENTERPRISE_ADMIN"


class GlobalAdminSignInRequired(AdminSignInRequired):
    """The platform's form of AdminSignInRequired: `action_url` comes from getActionItemUrl
    (LOGIN_ENTERPRISE_ADMIN) and the callback carries `state`; then `complete_admin_sign_in`.
    Retryable: asking again gives a fresh link, or finds consent granted in the meantime.
    `first_sync`: the tenant consented, but its first Sync Teams Users is the Global Admin's
    ("Update PBX User").
    """

    def __init__(self, *args: Any, first_sync: bool = False) -> None:
        super().__init__(*args)
        self.first_sync = first_sync
        if first_sync:
            ProvisioningError.__init__(
                self,
                T(
                    "Sign in as Global Admin to finish: this is the first sync of Teams users for "
                    "{tenant}, which only its Global Admin can start; later ones need no sign-in.",
                    tenant=self.tenant_name,
                ),
                retryable=True,
            )


async def ask_for_sign_in(
    api: PlatformApi,
    config: ConnectToTeamsConfig,
    enterprise: Enterprise,
    upns: list[str],
    *,
    first_sync: bool = False,
) -> GlobalAdminSignInRequired:
    """A fresh sign-in link for a Global Admin of `enterprise`, to finish `upns`; the caller raises it."""
    if not config.admin_callback_url:
        raise ProvisioningError(
            T(
                "A Global Admin of {tenant} must sign in to finish, but the bot has no callback address "
                "for the sign-in ({setting}); ask the provider to set it, then try again.",
                tenant=enterprise.name,
                setting="CTT_CALLBACK_URL",
            ),
            retryable=True,  # "Try again" works once the setting is there
        )
    state = secrets.token_urlsafe(32)
    body = {
        "actionType": LOGIN_ENTERPRISE_ADMIN,
        "enterpriseId": platform_id(enterprise.enterprise_id),
        "callbackUrl": with_query(config.admin_callback_url, state=state),
    }
    reply = await api.call("POST", "/enterprise/getActionItemUrl", json=body)
    if not reply.ok:
        raise api.refused(reply, Doing.asking_sign_in_link)
    url = parse_action_url(reply)
    if url is None:
        log.error(
            "getActionItemUrl gave no usable URL (HTTP %d): %s", reply.status, answer_keys(reply.json())
        )
        raise ProvisioningError(T("The provisioning platform did not give a sign-in link; try again."))
    expires_at = utcnow() + timedelta(seconds=config.sign_in_ttl_seconds)
    return GlobalAdminSignInRequired(
        enterprise.tenant_id, enterprise.name, url, state, expires_at, upns, first_sync=first_sync
    )


def parse_admin_callback(query: Mapping[str, str], body: Any) -> AdminSignInResult:
    """The platform's callback after a Global Admin sign-in, read defensively.

    Accepts the MSAL result as `authenticationResult` (once or twice nested, as configureUser takes
    it), `msalAuthenticationResult`, `msalAuthentication`, or the bare result. Raises
    ProvisioningError when no access token is found.
    """
    state = query.get("state") or (body.get("state") if isinstance(body, dict) else None)
    inner = _find_inner_result(body)
    if inner is None:
        raise ProvisioningError(
            T("The Global Admin sign-in result could not be read; sign in again."), retryable=False
        )
    user_info = inner.get("userInfo") if isinstance(inner.get("userInfo"), dict) else {}
    tenant_id = user_info.get("tenantId") or inner.get("tenantId")
    admin = user_info.get("displayableId")
    return AdminSignInResult(
        state=state if isinstance(state, str) and state else None,
        tenant_id=tenant_id if isinstance(tenant_id, str) and tenant_id else None,
        admin=admin if isinstance(admin, str) and admin else None,
        authentication_result={"authenticationResult": inner},
    )


def _find_inner_result(body: Any, depth: int = 0) -> dict[str, Any] | None:
    if not isinstance(body, dict) or depth > 4:
        return None
    if isinstance(body.get("accessToken"), str) and body["accessToken"]:
        return body
    for key in ("authenticationResult", "msalAuthenticationResult", "msalAuthentication", "result", "data"):
        found = _find_inner_result(body.get(key), depth + 1)
        if found is not None:
            return found
    return None
