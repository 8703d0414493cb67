"""The ConnecttoTeams backend: the platform's REST API as a `ProvisioningService` (service.py, with one
phone user's actions in actions.py), over its HTTP client (api.py), the enterprises it lists
(enterprises.py), the shapes it reads and writes (wire.py), the Global Admin step (admin_sign_in.py),
each enterprise's consents and first sync (consent.py, kept in tenant_state.py) and our record of
configured users (records.py)."""

from services.provisioning.connecttoteams.admin_sign_in import GlobalAdminSignInRequired, parse_admin_callback
from services.provisioning.connecttoteams.config import ConnectToTeamsConfig
from services.provisioning.connecttoteams.consent import ConsentCallbacks, ConsentLink, ConsentOutcome
from services.provisioning.connecttoteams.records import (
    InMemoryPhoneUserRecords,
    PhoneUserRecord,
    PhoneUserRecords,
    SqlPhoneUserRecords,
)
from services.provisioning.connecttoteams.service import ConnectToTeamsProvisioningService
from services.provisioning.connecttoteams.tenant_state import (
    ConsentKind,
    InMemoryTenantStates,
    SqlTenantStates,
    TenantState,
)
from services.provisioning.connecttoteams.wire import parse_action_url, platform_message

__all__ = [
    "ConnectToTeamsConfig",
    "ConnectToTeamsProvisioningService",
    "ConsentCallbacks",
    "ConsentKind",
    "ConsentLink",
    "ConsentOutcome",
    "GlobalAdminSignInRequired",
    "InMemoryPhoneUserRecords",
    "InMemoryTenantStates",
    "PhoneUserRecord",
    "PhoneUserRecords",
    "SqlPhoneUserRecords",
    "SqlTenantStates",
    "TenantState",
    "parse_action_url",
    "parse_admin_callback",
    "platform_message",
]
