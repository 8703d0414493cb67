"""Every card the bot can send is valid Adaptive Card 1.5 and says what the user needs to know."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cards.add_user_form import add_user_form
from cards.approval import approval_card
from cards.audit import audit_card
from cards.common import to_dict
from cards.enterprise_picker import dismissed_card, enterprise_picker_card
from cards.my_requests import my_requests_card
from cards.notice import notice_card
from cards.progress import cancelled_card, progress_card
from cards.review import review_card
from cards.welcome import welcome_card
from i18n import FRENCH, Words
from services.models import (
    AuditEntry,
    Extension,
    FormOptions,
    ProvisioningRequest,
    RequestKind,
    RequestState,
    Role,
    StepOutcome,
    Steps,
    TeamsUser,
    Tenant,
    VoiceRoute,
)
from tests.card_schema import schema_errors
from tests.doubles import card_actions, card_text

NOW = datetime(2026, 11, 24, 14, 2, tzinfo=UTC)
TENANT = Tenant(tenant_id="t1", name="Contoso")
VALUES = {
    "pbx_location": "PBX",
    "voice_route": "CA Central",
    "teams_user": "adele@contoso.example",
    "extension": "105",
    "phone_number": "105",
    "disable_voicemail": True,
    "default_dial_plan": True,
    "sip_auth_id": "105t",
    "reviewed": True,
}


def options(users: int = 12) -> FormOptions:
    return FormOptions(
        tenant=TENANT,
        pbx_locations=["PBX"],
        voice_routes=[VoiceRoute(route_id=1, name="CA Central"), VoiceRoute(route_id=2, name="US West")],
        licensed_users=[
            TeamsUser(upn=f"u{i}@contoso.example", display_name=f"User {i}", licensed=True)
            for i in range(min(users, 50))
        ],
        licensed_user_count=users,
        free_extensions=[
            Extension(pbx_location="PBX", number=str(n), caller_id="6045550000") for n in range(102, 120)
        ],
    )


def request(state: RequestState = RequestState.draft, **changes) -> ProvisioningRequest:
    base = ProvisioningRequest(
        request_id="3f2a9c1e-0000-4000-8000-000000000001",
        kind=RequestKind.admin,
        tenant_id="t1",
        tenant_name="Contoso",
        requester_tenant_id="t1",
        requester_id="a1",
        requester_name="Ada Admin",
        state=state,
        version=3,
        values=dict(VALUES),
        created_at=NOW,
        updated_at=NOW,
    )
    return base.model_copy(update=changes)


DONE_STEPS = Steps(
    add_user=StepOutcome.done,
    sync=StepOutcome.done,
    sync_note="Teams users synced",
    calling=StepOutcome.skipped,
    calling_note="Calling was already enabled",
)
FAILED_STEPS = Steps(add_user=StepOutcome.done, sync=StepOutcome.failed, sync_note="Timed out")
# A sign-in link that is valid for an hour from whenever the test runs.
SIGN_IN = {
    "sign_in_url": "https://portal.ctt.example/action/abc?type=LOGIN_ENTERPRISE_ADMIN",
    "sign_in_expires_at": datetime.now(UTC) + timedelta(hours=1),
    "resume_state": RequestState.synced,
    "steps": Steps(
        add_user=StepOutcome.done, sync=StepOutcome.done, calling_note="Waiting for a Global Admin"
    ),
}

ALL_CARDS = {
    "welcome-admin": welcome_card("Ada Admin", Role.tenant_admin),
    "welcome-partner": welcome_card("Pat", Role.partner),
    "welcome-none": welcome_card("", Role.none),
    # French runs longer: the same cards in French validate and render too.
    "welcome-admin-fr": welcome_card("Ada Admin", Role.tenant_admin, Words(FRENCH)),
    "welcome-partner-fr": welcome_card("Pat", Role.partner, Words(FRENCH)),
    "form-empty": add_user_form(request(values={}), options()),
    "form-errors": add_user_form(
        request(), options(), {"extension": "Extension 101 is already assigned to alex@contoso.example."}
    ),
    "form-voicemail": add_user_form(
        request(values=VALUES | {"disable_voicemail": False}), options(), confirm_voicemail=True
    ),
    "form-typeahead": add_user_form(request(), options(users=600)),
    "form-partner": add_user_form(request(kind=RequestKind.partner), options()),
    "review": review_card(request()),
    "review-voicemail-on": review_card(request(values=VALUES | {"disable_voicemail": False})),
    "progress-working": progress_card(request(RequestState.submitted)),
    "progress-done": progress_card(request(RequestState.done, steps=DONE_STEPS)),
    "progress-failed": progress_card(
        request(
            RequestState.failed, steps=FAILED_STEPS, error="Timed out", resume_state=RequestState.user_added
        )
    ),
    "progress-awaiting": progress_card(request(RequestState.awaiting_approval, kind=RequestKind.partner)),
    "cancelled": cancelled_card(request(RequestState.cancelled)),
    "my-requests-empty": my_requests_card([]),
    "my-requests": my_requests_card([request(RequestState.done), request(RequestState.failed, error="x")]),
    "notice": notice_card("Not allowed", "You may not.", attention=True),
    "approval-awaiting": approval_card(
        request(RequestState.awaiting_approval, kind=RequestKind.partner), "Northwind Voice", ["29:a", "29:b"]
    ),
    "approval-reason-missing": approval_card(
        request(RequestState.awaiting_approval, kind=RequestKind.partner),
        "Northwind Voice",
        ["29:a"],
        "Please give a reason.",
    ),
    "approval-approved": approval_card(
        request(RequestState.synced, kind=RequestKind.partner, decided_by="Ada Admin", decided_at=NOW),
        "Northwind",
    ),
    "approval-done": approval_card(
        request(
            RequestState.done,
            kind=RequestKind.partner,
            decided_by="Ada Admin",
            decided_at=NOW,
            steps=DONE_STEPS,
        ),
        "N",
    ),
    "approval-rejected": approval_card(
        request(
            RequestState.rejected,
            kind=RequestKind.partner,
            decided_by="Ada",
            decided_at=NOW,
            decision_note="No",
        ),
        "N",
    ),
    "approval-failed": approval_card(
        request(
            RequestState.failed,
            kind=RequestKind.partner,
            decided_by="Ada",
            decided_at=NOW,
            error="Timed out",
            resume_state=RequestState.synced,
            steps=FAILED_STEPS,
        ),
        "N",
    ),
    "progress-partner-rejected": progress_card(
        request(
            RequestState.rejected,
            kind=RequestKind.partner,
            decided_by="Ada",
            decided_at=NOW,
            decision_note="No",
        )
    ),
    "progress-sign-in": progress_card(request(RequestState.awaiting_admin_sign_in, **SIGN_IN)),
    "progress-sign-in-expired": progress_card(
        request(RequestState.awaiting_admin_sign_in, **SIGN_IN | {"sign_in_expires_at": NOW})
    ),
    "progress-partner-sign-in": progress_card(
        request(RequestState.awaiting_admin_sign_in, kind=RequestKind.partner, decided_by="Ada", **SIGN_IN)
    ),
    "progress-stopped": progress_card(
        request(
            RequestState.cancelled,
            decision_note="Stopped by Ada Admin before calling was enabled",
            steps=Steps(add_user=StepOutcome.done, sync=StepOutcome.done),
        )
    ),
    "approval-sign-in": approval_card(
        request(
            RequestState.awaiting_admin_sign_in,
            kind=RequestKind.partner,
            decided_by="Ada Admin",
            decided_at=NOW,
            **SIGN_IN,
        ),
        "Northwind Voice",
        ["29:a"],
    ),
    "enterprise-picker": enterprise_picker_card([TENANT, Tenant(tenant_id="t2", name="Fabrikam")]),
    "enterprise-picker-empty": enterprise_picker_card([]),
    "enterprise-picker-error": enterprise_picker_card([TENANT], "You do not manage that enterprise."),
    "dismissed": dismissed_card(),
    "audit": audit_card(
        "Contoso",
        [
            AuditEntry(
                at=NOW,
                actor_tenant_id="t1",
                actor_id="a1",
                actor_name="Ada",
                tenant_id="t1",
                request_id="r" * 36,
                action="approve",
                from_state="awaiting_approval",
                to_state="approved",
                outcome="approved by Ada",
            )
        ],
    ),
    "audit-empty": audit_card("Contoso", []),
}


def test_approval_card_refreshes_for_approvers_and_states_the_decision():
    card = to_dict(
        approval_card(
            request(RequestState.awaiting_approval, kind=RequestKind.partner), "Northwind", ["29:a"]
        )
    )
    assert card["refresh"]["userIds"] == ["29:a"]
    assert card["refresh"]["action"]["verb"] == "approval.refresh"
    assert [a["title"] for a in card["actions"]] == ["Approve", "Reject"]
    reject = card["actions"][1]["card"]
    assert reject["body"][0]["isRequired"] is True
    decided = to_dict(
        approval_card(
            request(
                RequestState.rejected,
                kind=RequestKind.partner,
                decided_by="Ada Admin",
                decided_at=NOW,
                decision_note="Leaving",
            ),
            "Northwind",
        )
    )
    assert card_text(decided).count("Rejected by Ada Admin at 2026-11-24 14:02 UTC. Reason: Leaving") == 1
    assert decided["body"][0]["text"] == "Rejected: new phone user for Contoso", (
        "the headline states the decision"
    )
    assert "actions" not in decided
    many = to_dict(
        approval_card(request(RequestState.awaiting_approval), "N", [f"29:{i}" for i in range(80)])
    )
    assert len(many["refresh"]["userIds"]) == 60, "Teams refreshes for at most 60 users"


@pytest.mark.parametrize("name", sorted(ALL_CARDS))
def test_card_is_valid_adaptive_card_1_5(name: str):
    assert schema_errors(to_dict(ALL_CARDS[name])) == []


def test_schema_check_catches_a_broken_card():
    broken = to_dict(review_card(request()))
    broken["body"].append({"type": "TextBlock", "text": "x", "colour": "red"})
    broken["actions"][0].pop("verb")
    errors = schema_errors(broken)
    assert errors, "an unknown property and a wrong action must be reported"


def test_form_preselects_single_options_and_explains_prefills():
    card = to_dict(add_user_form(request(values={"pbx_location": "PBX"}), options()))
    text = card_text(card)
    assert "Only users with a Teams Phone licence are listed." in text
    assert "the bot fills in the extension for you" in text
    assert "Nobody sees it" in text
    toggles = {e["id"]: e["value"] for e in card["body"] if e.get("type") == "Input.Toggle"}
    assert toggles == {"disableVoicemail": "true", "defaultDialPlan": "true"}


def test_large_tenant_uses_typeahead_naming_the_request():
    card = to_dict(add_user_form(request(), options(users=600)))
    users = next(e for e in card["body"] if e.get("id") == "teamsUser")
    assert users["choices.data"] == {
        "type": "Data.Query",
        "dataset": f"licensedTeamsUsers:{request().request_id}",
    }
    assert len(users["choices"]) <= 1


def test_buttons_carry_only_ids_and_have_a_fallback():
    card = to_dict(review_card(request()))
    for action in card["actions"]:
        assert action["type"] == "Action.Execute"
        assert action["data"] == {"requestId": request().request_id, "version": 3}
        assert action["fallback"]["type"] == "Action.Submit"
        assert action["fallback"]["data"]["verb"] == action["verb"]


def test_password_is_never_on_a_card():
    text = card_text(to_dict(review_card(request())))
    assert "Device password: generated: 8 characters" in text


def test_a_global_admin_sign_in_is_offered_only_to_those_who_can_give_it():
    def actions(name: str) -> dict[str, dict]:
        found = card_actions(to_dict(ALL_CARDS[name]))
        found.pop("Refresh", None)  # the approval card's refresh for approvers
        return found

    for name in ("progress-sign-in", "approval-sign-in"):
        offered = actions(name)
        assert list(offered) == [
            "Sign in as Global Admin to finish",
            "Get a new sign-in link",
            "Stop without calling",
        ], name
        assert offered["Sign in as Global Admin to finish"] == {
            "type": "Action.OpenUrl",
            "title": "Sign in as Global Admin to finish",
            "style": "positive",
            "url": SIGN_IN["sign_in_url"],
        }
        assert offered["Get a new sign-in link"]["verb"] == "addUser.retry"
        assert "The link works once, until" in card_text(to_dict(ALL_CARDS[name]))
    assert list(actions("progress-sign-in-expired")) == ["Get a new sign-in link", "Stop without calling"]
    assert actions("progress-sign-in")["Stop without calling"]["verb"] == "addUser.cancel"
    assert "The sign-in link expired at" in card_text(to_dict(ALL_CARDS["progress-sign-in-expired"]))
    assert actions("progress-partner-sign-in") == {}
    waiting = card_text(to_dict(ALL_CARDS["progress-partner-sign-in"]))
    assert "Waiting for a Global Admin of Contoso to sign in." in waiting


def test_a_stopped_request_says_the_user_stays_added_without_calling():
    text = card_text(to_dict(ALL_CARDS["progress-stopped"]))
    assert "Stopped by Ada Admin before calling was enabled. adele@contoso.example stays added" in text
    assert "calling was not enabled" in text and "Nothing was sent" not in text
    assert "➖ Enable calling" in text


def test_progress_card_states_are_obvious():
    assert "Done." in card_text(to_dict(progress_card(request(RequestState.done, steps=DONE_STEPS))))
    failed = to_dict(
        progress_card(
            request(
                RequestState.failed,
                steps=FAILED_STEPS,
                error="Timed out",
                resume_state=RequestState.user_added,
            )
        )
    )
    assert "That did not work." in card_text(failed) and "Timed out" in card_text(failed)
    assert [a["title"] for a in failed["actions"]] == ["Try again"]
    awaiting = card_text(
        to_dict(progress_card(request(RequestState.awaiting_approval, kind=RequestKind.partner)))
    )
    assert "Waiting for a global admin of Contoso to enable calling" in awaiting.replace("\n", " ")
