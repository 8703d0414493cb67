"""Pydantic models of the domain: who acts, what the provisioning side offers, and requests."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from i18n import Text, as_text


class Role(enum.StrEnum):
    tenant_admin = "tenant_admin"
    partner = "partner"
    none = "none"


class Actor(BaseModel):
    """The person behind an activity, with the role the directory gave them.

    `name_text` is set when the name is the bot's own words (the bot itself, a Global Admin the
    platform did not name): the audit trail keeps it as a `Text`, to be shown in the reader's
    language; `name` is then its English."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    aad_object_id: str
    name: str = ""
    role: Role = Role.none
    name_text: Text | None = None
    # The person's tenant is one the directory knows (a customer or a partner of the provider),
    # whatever their role: the bot keeps conversations only with such people (Notifier.remember).
    known_tenant: bool = False

    def __hash__(self) -> int:  # a Text's values are a dict: hash what names the person
        return hash((self.tenant_id, self.aad_object_id, self.name, self.role))


class Tenant(BaseModel):
    model_config = ConfigDict(frozen=True)

    tenant_id: str
    name: str


class VoiceRoute(BaseModel):
    model_config = ConfigDict(frozen=True)

    route_id: int
    name: str


class TeamsUser(BaseModel):
    model_config = ConfigDict(frozen=True)

    upn: str
    display_name: str
    licensed: bool
    # Set when the user is already a phone user: their extension (the form marks them, issue 16).
    phone_extension: str | None = None


class Extension(BaseModel):
    model_config = ConfigDict(frozen=True)

    pbx_location: str
    number: str
    caller_id: str
    assigned_to: str | None = None


class FormOptions(BaseModel):
    """What the add-user form offers for one tenant."""

    tenant: Tenant
    pbx_locations: list[str]
    voice_routes: list[VoiceRoute]
    licensed_users: list[TeamsUser]
    licensed_user_count: int
    free_extensions: list[Extension]  # the first FREE_EXTENSION_HINT free ones, in number order
    # The provider's SIP authentication ID rule (services/add_user_rules.py): the extension and
    # this suffix; typed by the person only where the provider turned editing on.
    sip_auth_suffix: str = "t"
    sip_auth_editable: bool = False

    @property
    def needs_user_search(self) -> bool:
        return self.licensed_user_count > TYPEAHEAD_THRESHOLD


TYPEAHEAD_THRESHOLD = 50
# The form shows the first few free extensions as a hint; every backend lists at most this many.
FREE_EXTENSION_HINT = 12


class PhoneUserSpec(BaseModel):
    """Everything the provisioning service needs to add one Teams phone user (no password)."""

    model_config = ConfigDict(frozen=True)

    pbx_location: str
    voice_route: str
    teams_user: str
    extension: str
    phone_number: str
    disable_voicemail: bool = True
    default_dial_plan: bool = True
    sip_auth_id: str


class PhoneUserState(BaseModel):
    """What the provisioning side knows of one Teams user (read by tests and status views)."""

    upn: str
    licensed: bool
    provisioned: bool
    calling_enabled: bool
    display_name: str = ""  # as the directory has it (TeamsUser.display_name)
    pbx_location: str | None = None
    voice_route: str | None = None
    extension: str | None = None
    phone_number: str | None = None
    voicemail_disabled: bool | None = None
    default_dial_plan: bool | None = None
    sip_auth_id: str | None = None
    device_password_set: bool = False
    sync_pending: bool = False


class PhoneUser(BaseModel):
    """One phone user as the `phone users` list shows it."""

    model_config = ConfigDict(frozen=True)

    upn: str
    display_name: str
    pbx_location: str | None = None
    extension: str | None = None
    phone_number: str | None = None
    voice_route: str | None = None
    calling_enabled: bool = False
    sync_pending: bool = False
    # A request waits for a global admin of the tenant for this user (approval or sign-in).
    waiting_for_admin: bool = False


class PhoneUserPage(BaseModel):
    """One page of a tenant's phone users (`items`) and how many match in all (`total`)."""

    items: list[PhoneUser]
    total: int


# How many phone users one page of the list shows: ten rows keep every card far under Teams'
# message limit, whatever the tenant's size and the names' lengths (tests/test_cards.py).
PHONE_USERS_PAGE_SIZE = 10


class AdminSignInResult(BaseModel):
    """A Global Admin's sign-in result as the platform sent it to the bot's callback, read
    defensively (the payload is not documented). Never stored or logged."""

    model_config = ConfigDict(frozen=True)

    state: str | None = None
    tenant_id: str | None = None
    admin: str | None = None
    # `{"authenticationResult": {...accessToken...}}`, the MSALAuthenticationResult configureUser takes.
    authentication_result: dict[str, Any] = Field(repr=False)


class RequestState(enum.StrEnum):
    draft = "draft"
    # A bulk add's row confirmed with its batch, waiting for a free slot (issue 18): the batch's
    # runner starts it (queued -> submitted), so no more than BULK_CONCURRENCY run at once.
    queued = "queued"
    submitted = "submitted"
    user_added = "user_added"
    awaiting_approval = "awaiting_approval"
    approved = "approved"
    synced = "synced"
    # Waits for a Global Admin of a tenant without service-provider consent to sign in.
    awaiting_admin_sign_in = "awaiting_admin_sign_in"
    # The Global Admin signed in; the platform is finishing with their result.
    admin_signed_in = "admin_signed_in"
    calling_enabled = "calling_enabled"
    # A removal between its two platform steps: calling is off, the user is not deleted yet.
    calling_disabled = "calling_disabled"
    # Waits for a person to do a step in the portal that the platform's API has no call for.
    awaiting_portal = "awaiting_portal"
    done = "done"
    failed = "failed"
    rejected = "rejected"
    # Nobody decided within REQUEST_EXPIRY_DAYS (issue 17).
    expired = "expired"
    cancelled = "cancelled"


OPEN_STATES = frozenset({RequestState.draft})
WORKING_STATES = frozenset(
    {
        RequestState.submitted,
        RequestState.user_added,
        RequestState.approved,
        RequestState.synced,
        RequestState.admin_signed_in,
        RequestState.calling_enabled,
        RequestState.calling_disabled,
    }
)
FINAL_STATES = frozenset(
    {RequestState.done, RequestState.rejected, RequestState.expired, RequestState.cancelled}
)


class StepOutcome(enum.StrEnum):
    pending = "pending"
    done = "done"
    skipped = "skipped"
    failed = "failed"


StoredText = str | dict[str, Any]
"""A text as a JSON column keeps it: a `Text`'s `as_json()`, or a plain string (written before the
catalog, or data). `words(...)` shows either; `i18n.as_text` reads either back."""

STEP_NAMES = ("add_user", "sync", "calling", "delete")


class Steps(BaseModel):
    """Outcome of each provisioning step, with one line each for the progress card.

    Each note is kept twice: `<step>_text`, the note as a `Text` (its JSON form), which the cards
    show with `words(...)`, and `<step>_note`, its English, for logs and for the release before
    this one (which reads only the notes). A row written before the texts has only the notes: they
    are then the texts too. Set a note with `noted(...)`, which keeps the two together."""

    add_user: StepOutcome = StepOutcome.pending
    add_user_note: str = ""
    add_user_text: StoredText = ""
    sync: StepOutcome = StepOutcome.pending
    sync_note: str = ""
    sync_text: StoredText = ""
    calling: StepOutcome = StepOutcome.pending
    calling_note: str = ""
    calling_text: StoredText = ""
    # A removal's second step (issue 16): the user deleted from the connector, extension freed.
    delete: StepOutcome = StepOutcome.pending
    delete_note: str = ""
    delete_text: StoredText = ""

    @model_validator(mode="after")
    def _texts_of_old_notes(self) -> Steps:
        for step in STEP_NAMES:
            note = getattr(self, f"{step}_note")
            if note and not getattr(self, f"{step}_text"):
                setattr(self, f"{step}_text", note)
        return self

    def noted(self, step: str, outcome: StepOutcome, note: Text | str = "") -> Steps:
        """A copy with `step`'s outcome and note (a `Text`, or "" for none)."""
        if step not in STEP_NAMES:
            raise ValueError(f"unknown step {step!r}")
        stored = note.as_json() if isinstance(note, Text) else note
        return self.model_copy(update={step: outcome, f"{step}_note": str(note), f"{step}_text": stored})

    def text_of(self, step: str) -> str | Text:
        """`step`'s note as a `Text` (or the plain string of an old row); "" when there is none."""
        return as_text(getattr(self, f"{step}_text"))


class RequestKind(enum.StrEnum):
    """Who asked: a global admin for their own tenant, or a partner for an enterprise it manages."""

    admin = "admin"
    partner = "partner"


class RequestAction(enum.StrEnum):
    """What a request does to one phone user (issue 16); each runs on the same state machine."""

    add = "add"
    change = "change"
    reset_password = "reset_password"
    disable_calling = "disable_calling"
    enable_calling = "enable_calling"
    remove = "remove"


# The actions on an existing phone user that a partner's request needs a global admin of the
# tenant to approve before anything is done (an add is approved after the partner's half, as the
# seed's procedure has it). A new device password stays the partner's, as the add's device is.
APPROVED_FIRST = frozenset(
    {
        RequestAction.change,
        RequestAction.disable_calling,
        RequestAction.enable_calling,
        RequestAction.remove,
    }
)


class ProvisioningRequest(BaseModel):
    """One request about one phone user (an add, a change, ...); persisted, moved only by
    conditional transitions."""

    request_id: str
    kind: RequestKind
    action: RequestAction = RequestAction.add
    # The bulk add this request is a row of (issue 18), or None.
    batch_id: str | None = None
    tenant_id: str
    tenant_name: str
    requester_tenant_id: str
    requester_id: str
    requester_name: str
    state: RequestState
    version: int
    values: dict[str, str | bool] = Field(default_factory=dict)
    steps: Steps = Field(default_factory=Steps)
    # Why the last step failed, and the decision's note (a rejection's reason, in the admin's own
    # words, or a stop): `error` and `decision_note` are the English, for logs; the cards show
    # `error_text` and `decision_note_text` with `words(...)`. A text the current release wrote
    # (plain English) is the text too.
    error: str | None = None
    error_text: str | Text | None = None
    resume_state: RequestState | None = None
    decided_by: str | None = None
    decision_note: str | None = None
    decision_note_text: str | Text | None = None
    decided_at: datetime | None = None
    reminded_at: datetime | None = None
    # Follow-ups of the current wait for a global admin (reminders, then an escalation).
    reminders: int = 0
    # While awaiting_admin_sign_in: the platform's sign-in page for the tenant's Global Admin.
    sign_in_url: str | None = None
    sign_in_expires_at: datetime | None = None
    created_at: datetime
    updated_at: datetime

    @model_validator(mode="after")
    def _texts_of_plain_strings(self) -> ProvisioningRequest:
        if self.error_text is None:
            self.error_text = self.error
        if self.decision_note_text is None:
            self.decision_note_text = self.decision_note
        return self

    @property
    def spec(self) -> PhoneUserSpec:
        return PhoneUserSpec.model_validate(self.values)

    @property
    def short_id(self) -> str:
        return self.request_id[:8]

    @property
    def person(self) -> str:
        """Who the request is about, as every card names them: "Isaiah Langer, isaiah@contoso.example"
        (the address alone until the form knows their name)."""
        upn = str(self.values.get("teams_user") or "")
        name = str(self.values.get("display_name") or "")
        return f"{name}, {upn}" if name and upn and name.casefold() != upn.casefold() else upn


class ConsentState(BaseModel):
    """What a tenant's Global Admin gave the provider at the platform (issue 20): the Teams users'
    sync ("GET_USER_SYNC_CONSENT", mandatory for PBX), management by the service provider (None:
    the platform never said), and whether its first Sync Teams Users was done. Without management
    or before the first sync, enabling calling needs a Global Admin's sign-in each time."""

    model_config = ConfigDict(frozen=True)

    user_sync: bool
    management: bool | None
    first_sync_done: bool

    @property
    def complete(self) -> bool:
        return self.user_sync and self.management is True and self.first_sync_done


CONSENT_KINDS = ("user_sync", "management")


class AuditEntry(BaseModel):
    at: datetime
    actor_tenant_id: str
    actor_id: str
    actor_name: str
    tenant_id: str | None
    request_id: str | None
    action: str
    from_state: str | None
    to_state: str | None
    outcome: str
    # What the audit card shows with `words(...)`: the note (and, for the bot's own words, the
    # actor's name) as a `Text`, or the plain string of a row written before the texts.
    # `outcome` and `actor_name` are their English.
    outcome_text: str | Text = ""
    actor_name_text: str | Text = ""
    # The row's id (pages of the trail go on from it), and what its request is about, as the
    # request says now (the audit card names the person, not the request id): the action
    # (RequestAction's value), the user's name (the address until the form knew the name), the
    # extension, and where a change or a removal moved them from. None: no request.
    entry_id: int = 0
    request_action: str | None = None
    subject: str = ""
    extension: str = ""
    from_extension: str = ""

    @model_validator(mode="after")
    def _texts_of_plain_strings(self) -> AuditEntry:
        if not self.outcome_text:
            self.outcome_text = self.outcome
        if not self.actor_name_text:
            self.actor_name_text = self.actor_name
        return self


# How many audit entries one page of the audit card shows (tests/test_cards.py builds the page at
# its longest, in French, and checks it fits in a Teams message).
AUDIT_PAGE_SIZE = 50


class AuditPage(BaseModel):
    """One page of a tenant's audit trail, newest first: `everything` when it includes the drafts
    and cancels the trail hides by default; whether older and newer entries are there to page to."""

    tenant_name: str
    entries: list[AuditEntry]
    everything: bool = False
    older: bool = False
    newer: bool = False
