"""Whether the reseller token may do an enterprise's Microsoft side, or its Global Admin must: its
consents and its first sync, as the platform showed them; and asking its Global Admin for a consent.

kb.connecttoteams.com, "Update PBX User": the Global Admin must trigger Sync Teams Users unless BOTH
"(1) This is NOT the first time the Sync Teams Users is done" AND "(2) The enterprise consented to
'Allow Management by Service Provider'". "Enterprise Admin URL Workflow" (apidocs/common-workflow):
consents are asked for with getActionItemUrl action types (GET_USER_SYNC_CONSENT, mandatory for PBX;
the management consent, optional), the URL is shown to the Global Admin, and "the outcome is
returned to your application via a webhook or redirect URL". docs/connecttoteams.md says what is
assumed where the pages are silent (the outcome's payload, the management consent's action type).
"""

from __future__ import annotations

import enum
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from i18n import ENGLISH, T, Words
from services.db import utcnow
from services.errors import ProvisioningError, SignInLinkInvalid
from services.models import ConsentState
from services.provisioning.connecttoteams.api import Doing, PlatformApi
from services.provisioning.connecttoteams.config import ConnectToTeamsConfig
from services.provisioning.connecttoteams.enterprises import EnterpriseCatalog
from services.provisioning.connecttoteams.records import PhoneUserRecords
from services.provisioning.connecttoteams.tenant_state import (
    GRANTED,
    ConsentKind,
    TenantState,
    TenantStates,
)
from services.provisioning.connecttoteams.wire import answer_keys, parse_action_url, platform_id, with_query
from services.provisioning.pbx_directory import PbxDirectory

# The package's name, as the single module had: log filters written for this backend keep matching.
log = logging.getLogger(__package__)

USER_SYNC_CONSENT = "GET_USER_SYNC_CONSENT"
# In the callback URL's query: which consent a result is for (a sign-in result has none).
CONSENT_MARK = "ctt_consent"
_REFUSED_WORDS = frozenset(
    {"false", "failed", "failure", "error", "denied", "declined", "refused", "rejected"}
)


class GlobalAdminNeeded(enum.Enum):
    """Why only the enterprise's Global Admin can do its Microsoft side now."""

    no_consent = "no management consent"
    first_sync = "first sync"


@dataclass(frozen=True)
class ConsentLink:
    """A consent page for the Global Admin of `tenant_id`; its answer comes to the bot's callback."""

    tenant_id: str
    tenant_name: str
    kind: ConsentKind
    url: str
    expires_at: datetime


@dataclass(frozen=True)
class ConsentOutcome:
    tenant_id: str
    tenant_name: str
    kind: ConsentKind
    granted: bool


class Tenancy:
    """Per enterprise: its consents and first sync, kept in `states` from what the platform showed,
    with the provider's CTT_CONSENTED_TENANTS as an override of the management consent."""

    def __init__(
        self,
        api: PlatformApi,
        config: ConnectToTeamsConfig,
        states: TenantStates,
        records: PhoneUserRecords,
        pbx: PbxDirectory,
        catalog: EnterpriseCatalog,
    ) -> None:
        self._api = api
        self._config = config
        self._states = states
        self._records = records
        self._pbx = pbx
        self._catalog = catalog

    async def state(self, tenant_id: str) -> TenantState:
        return await self._states.get(tenant_id)

    async def consent_state(self, tenant_id: str) -> ConsentState:
        """The tenant's consents as its Global Admin reads them (CTT_CONSENTED_TENANTS counts as a
        management consent the provider vouches for)."""
        state = await self._states.get(tenant_id)
        management: bool | None = (
            None if state.management_consent is None else state.management_consent == GRANTED
        )
        if tenant_id in self._config.consented_tenant_ids:
            management = True
        return ConsentState(
            user_sync=state.user_sync_consent_at is not None,
            management=management,
            first_sync_done=await self._first_sync_done(state),
        )

    async def global_admin_needed(self, tenant_id: str) -> GlobalAdminNeeded | None:
        """None when the reseller token is enough: consent, and not the first sync."""
        state = await self._states.get(tenant_id)
        if tenant_id not in self._config.consented_tenant_ids and state.management_consent != GRANTED:
            return GlobalAdminNeeded.no_consent
        if not await self._first_sync_done(state):
            return GlobalAdminNeeded.first_sync
        return None

    async def _first_sync_done(self, state: TenantState) -> bool:
        """The platform accepted a Global Admin's sign-in for the tenant; or it enabled calling for
        a user we configured (a sync that happened); or the provider's PBX directory lists users
        from before the bot (`assigned_to`): "the initial set of users were already configured"."""
        if state.first_sync_at is not None:
            return True
        if any(r.calling_enabled for r in await self._records.for_tenant(state.tenant_id)):
            return True
        return any(e.assigned_to for e in await self._pbx.extensions(state.tenant_id))

    async def note_first_sync(self, tenant_id: str) -> None:
        await self._states.note_first_sync(tenant_id)

    async def note_refused(self, tenant_id: str) -> None:
        """The platform refused the reseller token the Microsoft side: no management consent (any
        more); a new consent, answered at the callback, changes that again."""
        await self._states.note_consent(tenant_id, ConsentKind.management, granted=False)

    async def ask_for_consent(self, tenant_id: str, kind: ConsentKind) -> ConsentLink:
        """getActionItemUrl for `kind`; the callback URL carries the kind and a single-use state."""
        enterprise = await self._catalog.require(tenant_id)
        action = (
            USER_SYNC_CONSENT
            if kind is ConsentKind.user_sync
            else self._config.management_consent_action_type
        )
        if not action:
            raise ProvisioningError(
                T(
                    "The bot cannot ask for consent to management by the service provider until the "
                    "provider sets {setting} (its action type, from the platform's support).",
                    setting="CTT_MANAGEMENT_CONSENT_ACTION",
                ),
                retryable=False,
            )
        if not self._config.admin_callback_url:
            raise ProvisioningError(
                T(
                    "The bot has no callback address for the platform's answer ({setting}); ask the "
                    "provider to set it, then try again.",
                    setting="CTT_CALLBACK_URL",
                ),
                retryable=True,
            )
        state = secrets.token_urlsafe(32)
        body = {
            "actionType": action,
            "enterpriseId": platform_id(enterprise.enterprise_id),
            "callbackUrl": with_query(
                self._config.admin_callback_url, **{CONSENT_MARK: kind.value, "state": state}
            ),
        }
        reply = await self._api.call("POST", "/enterprise/getActionItemUrl", json=body)
        if not reply.ok:
            raise self._api.refused(reply, Doing.asking_consent_link)
        url = parse_action_url(reply)
        if url is None:
            log.error("getActionItemUrl gave no usable URL for a consent: %s", answer_keys(reply.json()))
            raise ProvisioningError(T("The provisioning platform did not give a consent link; try again."))
        expires_at = utcnow() + timedelta(seconds=self._config.sign_in_ttl_seconds)
        await self._states.add_link(state, tenant_id, kind, expires_at)
        log.info("asked for the %s consent of tenant %s", kind.value, tenant_id)
        return ConsentLink(tenant_id, enterprise.name, kind, url, expires_at)

    async def complete_consent(self, query: Mapping[str, str], body: Any) -> ConsentOutcome:
        """The platform's answer to a consent link at the callback. The unguessable, single-use,
        expiring state is the proof (the platform does not sign its callback); an OAuth `error`,
        `admin_consent=False` or a failing `status` says the Global Admin did not consent."""
        state, kind = query.get("state"), query.get(CONSENT_MARK)
        link, used = await self._states.take_link(state) if state else (None, False)
        if link is None or kind != link.kind.value:
            log.warning("consent result refused: unknown state")
            raise SignInLinkInvalid(
                T("This consent link is not known. Ask the provider for a new one."), known=False
            )
        if not used:
            log.warning("consent result refused: link used or expired (tenant %s)", link.tenant_id)
            raise SignInLinkInvalid(
                T("This consent link was already used or has expired. Ask the provider for a new one."),
                known=True,
            )
        granted = _granted(query) and _granted(body if isinstance(body, Mapping) else {})
        await self._states.note_consent(link.tenant_id, link.kind, granted)
        enterprise = await self._catalog.find(link.tenant_id)
        log.info(
            "tenant %s %s the %s consent",
            link.tenant_id,
            "gave" if granted else "did not give",
            link.kind.value,
        )
        return ConsentOutcome(
            link.tenant_id, enterprise.name if enterprise else link.tenant_id, link.kind, granted
        )


def _granted(values: Mapping[str, Any]) -> bool:
    if values.get("error"):
        return False
    for key in ("admin_consent", "consent", "status", "result"):
        value = values.get(key)
        if value is False or (isinstance(value, str) and value.strip().lower() in _REFUSED_WORDS):
            return False
    return True


class ConsentCompleter(Protocol):
    async def complete_consent(self, query: Mapping[str, str], body: Any) -> ConsentOutcome: ...


@dataclass(frozen=True)
class CallbackPage:
    """The page the callback answers (bot/web.py's SignInAnswer)."""

    status: int
    title: str
    message: str
    language: str


class ConsentCallbacks:
    """The callback for this backend: consent answers (CONSENT_MARK in the query) are completed
    here; every other result (a Global Admin's sign-in) goes on to `sign_in`."""

    def __init__(
        self, service: ConsentCompleter, sign_in: Callable[[Mapping[str, str], Any, str], Awaitable[Any]]
    ) -> None:
        self._service = service
        self._sign_in = sign_in

    async def __call__(self, query: Mapping[str, str], body: Any, browser: str = ENGLISH) -> Any:
        if CONSENT_MARK not in query:
            return await self._sign_in(query, body, browser)
        words = Words(browser)
        try:
            outcome = await self._service.complete_consent(query, body)
        except SignInLinkInvalid as exc:
            return CallbackPage(
                410 if exc.known else 404,
                words("This consent link cannot be used"),
                words(exc.text),
                words.language,
            )
        except ProvisioningError as exc:
            return CallbackPage(503, words("Consent not recorded"), words(exc.text), words.language)
        if outcome.granted:
            return CallbackPage(
                200,
                words("Consent recorded"),
                words(
                    "Thank you. The consent of {tenant} is recorded. You can close this window.",
                    tenant=outcome.tenant_name,
                ),
                words.language,
            )
        return CallbackPage(
            422,
            words("Consent not given"),
            words(
                "{tenant} did not give this consent, so nothing changed. You can close this window.",
                tenant=outcome.tenant_name,
            ),
            words.language,
        )
