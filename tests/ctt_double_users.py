"""The platform double's users (a part of tests/ctt_double.py): configureUser, disableUsers /
restoreUsers, and what the portal does to them (a user from before the bot, the Global Admin's
Sync Teams Users, Delete User).

kb.connecttoteams.com: "enterprise/configureUser" (`pbxLocation` is the "PBX ID", the required
fields "cannot be empty", `sbcGatewayId` "must be greater than 0"; with an MSAL object the call
"also enables the Calling Services"); "Update PBX User" (Teams gets a change without the Global
Admin's Sync Teams Users only when it is not the enterprise's first sync **and** it consented to
"Allow Management by Service Provider").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

REQUIRED = ("loginID", "pbxLocation", "pbxUserId", "teamsUserId", "tenantId")


@dataclass
class PlatformUser:
    body: dict[str, Any]
    microsoft_side: bool = False  # synced to Teams with calling enabled
    edits: int = 0
    disabled: bool = False  # disableUsers (the portal's "Disable User"); restoreUsers undoes it


class PlatformUsers:
    """Mixed into CttDouble, whose fields these are."""

    username: str
    reseller_id: int
    enterprises: dict[int, list[dict[str, Any]]]
    consent: set[str]
    first_synced: set[str]
    pbx_ids: dict[str, set[str]]
    users: dict[tuple[str, str], PlatformUser]
    devices: dict[str, str]

    def user(self, tenant_id: str, upn: str) -> PlatformUser | None:
        return self.users.get((tenant_id, upn.lower()))

    def tenant_users(self, tenant_id: str) -> list[PlatformUser]:
        return [u for (t, _), u in self.users.items() if t == tenant_id]

    def seed_user(self, tenant_id: str, body: dict[str, Any], *, microsoft_side: bool = True) -> None:
        """A user configured before the bot existed (e.g. in the portal)."""
        self.users[(tenant_id, body["teamsUserId"].lower())] = PlatformUser(dict(body), microsoft_side)
        if body.get("password"):
            self.devices[body["pbxUserId"]] = body["password"]
        if microsoft_side:
            self.first_synced.add(tenant_id)

    def global_admin_syncs(self, tenant_id: str) -> None:
        """The tenant's Global Admin clicked Sync Teams Users: Teams gets what the platform holds."""
        self.first_synced.add(tenant_id)
        for user in self.tenant_users(tenant_id):
            user.microsoft_side = not user.disabled

    def syncs_by_itself(self, tenant_id: str) -> bool:
        """ "SKIP this sync when BOTH": not the first sync, and management consent ("Update PBX User")."""
        return tenant_id in self.consent and tenant_id in self.first_synced

    def portal_delete(self, tenant_id: str, upn: str) -> None:
        """A person clicked Delete User in the portal: the user and their device are gone."""
        user = self.user(tenant_id, upn)
        assert user is not None and user.disabled, "the portal deletes only a disabled user"
        del self.users[(tenant_id, upn.lower())]
        self.devices.pop(user.body["pbxUserId"], None)

    def _enterprise_of(self, tenant: Any) -> dict[str, Any] | None:
        return next((e for es in self.enterprises.values() for e in es if e["tenantId"] == tenant), None)

    def _configure(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict):
            return 400, spring(400, "Malformed JSON request")
        errors = [{"field": f, "defaultMessage": f"{f} cannot be empty"} for f in REQUIRED if not body.get(f)]
        gateway = body.get("sbcGatewayId")
        if not isinstance(gateway, int) or gateway <= 0:
            errors.append({"field": "sbcGatewayId", "defaultMessage": "value must be greater than 0"})
        if errors:
            return 400, spring(400, "Validation failed", errors)
        if body["loginID"] != self.username:
            return 403, spring(403, "Access is denied")
        tenant = body["tenantId"]
        enterprise = self._enterprise_of(tenant)
        if enterprise is None:
            return 404, spring(404, f"No enterprise for tenant {tenant}")
        if gateway not in enterprise.get("sbcGateways", [gateway]):
            return 400, spring(400, f"SBC gateway {gateway} is not assigned to the enterprise")
        if tenant in self.pbx_ids and str(body["pbxLocation"]) not in self.pbx_ids[tenant]:
            return 400, spring(400, f"No PBX with ID {body['pbxLocation']} in this enterprise")
        if body.get("password") != body.get("rePassword"):
            return 400, spring(400, "password and rePassword do not match")
        key = (tenant, body["teamsUserId"].lower())
        pbx_user = body["pbxUserId"]
        for other_key, other in self.users.items():
            if other_key != key and other_key[0] == tenant and other.body["pbxUserId"] == pbx_user:
                return 409, spring(
                    409, f"PBX user {pbx_user} is already assigned to {other.body['teamsUserId']}"
                )
        password = body.get("password")
        if password and pbx_user in self.devices and self.devices[pbx_user] != password:
            return 400, spring(400, f"Password does not match the existing PBX device {pbx_user}")
        with_msal = isinstance(body.get("authenticationResult"), dict)
        if with_msal:
            inner = body["authenticationResult"].get("authenticationResult") or {}
            if not inner.get("accessToken"):
                return 400, spring(400, "authenticationResult has no access token")
        stored = {
            k: v for k, v in body.items() if k not in ("password", "rePassword", "authenticationResult")
        }
        user = self.users.get(key)
        if user is None:
            user = self.users[key] = PlatformUser(stored)
        else:
            user.body = {**user.body, **stored}
            user.edits += 1
        if password:
            self.devices[pbx_user] = password
        if with_msal:
            self.first_synced.add(tenant)
        if with_msal or self.syncs_by_itself(tenant):
            user.microsoft_side = not user.disabled
        return 200, {"status": "SUCCESS"}

    def _switch_users(self, body: Any, disable: bool) -> tuple[int, Any]:
        if not isinstance(body, dict):
            return 400, spring(400, "Malformed JSON request")
        tenant, upns = body.get("tenantId"), body.get("users")
        if not tenant or not upns or not isinstance(upns, list) or body.get("updateAllUsers"):
            return 400, spring(400, "tenantId and users are required (this double never acts on all users)")
        enterprise = self._enterprise_of(tenant)
        if enterprise is None:
            return 404, spring(404, f"No enterprise for tenant {tenant}")
        if str(body.get("resellerId")) not in (str(enterprise.get("resellerId")), str(self.reseller_id)):
            return 403, spring(403, "Access is denied")
        users = [user for upn in upns if (user := self.user(tenant, str(upn))) is not None]
        if len(users) != len(upns):
            return 404, spring(404, "No such user")
        enterprise_scoped = isinstance(body.get("authenticationResult"), dict) or self.syncs_by_itself(tenant)
        for user in users:
            user.disabled = disable
            if enterprise_scoped:
                user.microsoft_side = not disable
        return 200, {"status": "SUCCESS"}


def spring(status: int, message: str, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "timestamp": "2025-01-01T00:00:00.000+00:00",
        "status": status,
        "error": {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 409: "Conflict"}.get(
            status, "Error"
        ),
        "message": message,
        "path": "",
    }
    if errors:
        body["errors"] = errors
    return body
