"""The platform double's Enterprise Admin pages (a part of tests/ctt_double.py): the URLs that
getActionItemUrl hands out, and what happens when a Global Admin opens one.

kb.connecttoteams.com, "Enterprise Admin URL Workflow" (apidocs/common-workflow): the URL is shown
to the Global Admin, who completes the action; "the outcome is returned to your application via a
webhook or redirect URL, depending on the action type". LOGIN_ENTERPRISE_ADMIN gives the admin's
msalAuthentication token: the double posts it to the callback as a webhook. A consent action
(GET_USER_SYNC_CONSENT, the service-provider management consent) gives no token: the double sends
the admin's browser back to the callback (a redirect), with an OAuth-style `error` when the admin
refused. Neither payload is documented; docs/connecttoteams.md says what the bot assumes.
"""

from __future__ import annotations

import html
import re
import secrets
from typing import Any

import aiohttp
from aiohttp import web

LOGIN_ENTERPRISE_ADMIN = "LOGIN_ENTERPRISE_ADMIN"


class SimulatedPortal:
    """Mixed into CttDouble: `action_callbacks` (action URL -> the callback URL the bot gave),
    `_action_tenants` (code -> action URL, tenant, action type), and the pages at /action/{code}."""

    action_callbacks: dict[str, str]
    consent: set[str]
    management_consent_action: str
    _action_tenants: dict[str, tuple[str, str, str]]

    def add_portal_routes(self, app: web.Application) -> None:
        app.router.add_get("/action/{code}", self._action_page)
        app.router.add_post("/action/{code}", self._action_page)

    def remember_action(self, url: str, code: str, body: dict[str, Any], tenant_id: str) -> None:
        if isinstance(body.get("callbackUrl"), str):
            self.action_callbacks[url] = body["callbackUrl"]
            self._action_tenants[code] = (url, tenant_id, str(body["actionType"]))

    async def global_admin_signs_in(
        self, action_url: str, tenant_id: str, admin: str = "ga@contoso.example"
    ) -> tuple[int, str]:
        """A Global Admin opened `action_url` and signed in: the platform posts the MSAL result to
        the callback URL the bot gave for it. Returns the callback's status and page."""
        callback = self.action_callbacks[action_url]
        result = {
            "accessToken": "ga-access-token-" + secrets.token_hex(16),
            "idToken": "ga-id-token-" + secrets.token_hex(16),
            "userInfo": {"tenantId": tenant_id, "displayableId": admin},
        }
        async with aiohttp.ClientSession() as http:
            async with http.post(callback, json={"authenticationResult": result}) as answer:
                return answer.status, await answer.text()

    def consent_outcome(self, action_url: str, tenant_id: str, *, grant: bool = True) -> str:
        """A Global Admin answered a consent page: the platform records it (management consent is
        what lets the reseller token do the Microsoft side) and sends the browser back to the
        callback URL, returned here (with Microsoft's OAuth `error` when refused)."""
        callback = self.action_callbacks[action_url]
        action = next(a for u, _, a in self._action_tenants.values() if u == action_url)
        if not grant:
            return callback + "&error=access_denied&error_description=The+admin+declined"
        if action == self.management_consent_action:
            self.consent.add(tenant_id)
        return callback

    async def global_admin_consents(self, action_url: str, tenant_id: str, *, grant: bool = True) -> int:
        """The Global Admin's browser follows the redirect back to the bot's callback."""
        async with aiohttp.ClientSession() as http:
            async with http.get(self.consent_outcome(action_url, tenant_id, grant=grant)) as answer:
                return answer.status

    async def _action_page(self, request: web.Request) -> web.StreamResponse:
        """The platform's Global Admin page, simulated: a button that 'signs in' (or consents) and
        brings the result to the bot's callback, then shows the bot's answer."""
        code = request.match_info["code"]
        if code not in self._action_tenants:
            return web.Response(status=404, text="Unknown or expired action.")
        url, tenant, action = self._action_tenants[code]
        if request.method == "POST":
            if action == LOGIN_ENTERPRISE_ADMIN:
                status, page = await self.global_admin_signs_in(url, tenant, "ga@" + tenant[:8] + ".example")
            else:
                async with aiohttp.ClientSession() as http:
                    async with http.get(self.consent_outcome(url, tenant)) as answer:
                        status, page = answer.status, await answer.text()
            answer_text = re.sub(r"<[^>]+>", " ", page)
            return web.Response(
                text=f"<!doctype html><title>Done</title><h1>Done</h1>"
                f"<p id=answer>The bot answered {status}: {html.escape(' '.join(answer_text.split()))}</p>",
                content_type="text/html",
            )
        what = "sign-in" if action == LOGIN_ENTERPRISE_ADMIN else f"consent ({html.escape(action)})"
        button = "Sign in" if action == LOGIN_ENTERPRISE_ADMIN else "Accept"
        return web.Response(
            text="<!doctype html><title>Teams Phone Connector (local double)</title>"
            f"<h1>Teams Phone Connector: Global Admin {what} (simulated)</h1>"
            f"<p>Tenant {html.escape(tenant)}. A real platform shows Microsoft's page here.</p>"
            f'<form method=post action="/action/{html.escape(code)}"><button type=submit>{button}</button></form>',
            content_type="text/html",
        )
