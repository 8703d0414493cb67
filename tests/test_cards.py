"""Every card the bot can send is valid Adaptive Card 1.5 and says what the user needs to know."""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from microsoft_teams.cards import AdaptiveCard

from cards.actions import action_confirm_card
from cards.add_user_form import INPUT_IDS, add_user_form
from cards.approval import approval_card
from cards.audit import audit_card
from cards.bulk import bulk_help_card, bulk_progress_card, bulk_report_card
from cards.bulk_approval import batch_approval_card
from cards.common import to_dict
from cards.consent import consent_card, no_consent_card
from cards.enterprise_picker import dismissed_card, enterprise_picker_card
from cards.my_requests import my_requests_card
from cards.notice import notice_card
from cards.phone_users import VERB_PHONE_USERS_FOR, phone_user_card, phone_users_card
from cards.progress import cancelled_card, progress_card
from cards.review import review_card
from cards.typeahead import TYPEAHEAD_SHOWN
from cards.welcome import did_you_mean_card, welcome_card
from i18n import CATALOG, ENGLISH_WORDS, FRENCH, T, Words
from services.models import (
    AUDIT_PAGE_SIZE,
    PHONE_USERS_PAGE_SIZE,
    TYPEAHEAD_THRESHOLD,
    AuditEntry,
    AuditPage,
    ConsentState,
    Extension,
    FormOptions,
    PhoneUser,
    ProvisioningRequest,
    RequestAction,
    RequestKind,
    RequestState,
    Role,
    StepOutcome,
    Steps,
    TeamsUser,
    Tenant,
    VoiceRoute,
)
from services.requests.batch_approvals import BatchApproval
from services.requests.batch_file import RowProblem
from services.requests.batches import BatchReport, BatchStatus
from services.requests.form import EXISTING_PHONE_USER
from services.requests.phone_users import MAX_QUERY, PhoneUserListing
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


def enterprises(count: int, name: str = "Enterprise") -> list[Tenant]:
    """A partner's `count` enterprises, in name order as the services give them."""
    return [Tenant(tenant_id=f"e{i:04d}", name=f"{name} {i:04d}") for i in range(count)]


def request(state: RequestState = RequestState.draft, **changes) -> ProvisioningRequest:
    # Built, not copied: the model fills in the texts of `error` and `decision_note` as it validates.
    base = {
        "request_id": "3f2a9c1e-0000-4000-8000-000000000001",
        "kind": RequestKind.admin,
        "tenant_id": "t1",
        "tenant_name": "Contoso",
        "requester_tenant_id": "t1",
        "requester_id": "a1",
        "requester_name": "Ada Admin",
        "state": state,
        "version": 3,
        "values": dict(VALUES),
        "created_at": NOW,
        "updated_at": NOW,
    }
    return ProvisioningRequest(**base | changes)


ASSIGNED = "Extension {extension} is already assigned to {holder}."


def decided(state: RequestState, by: str, **changes) -> ProvisioningRequest:
    """A partner's request that a global admin (`by`) approved or rejected at NOW."""
    return request(state, kind=RequestKind.partner, decided_by=by, decided_at=NOW, **changes)


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


ALEX = PhoneUser(
    upn="alex@contoso.example",
    display_name="Alex Wilber",
    pbx_location="PBX",
    extension="101",
    phone_number="101",
    voice_route="CA Central",
    calling_enabled=True,
)
MEGAN = PhoneUser(
    upn="megan@contoso.example",
    display_name="Megan Bowen",
    extension="100",
    phone_number="100",
    voice_route="US West",
    sync_pending=True,
    waiting_for_admin=True,
)


def listing(users: list[PhoneUser], page: int = 1, pages: int = 1, total: int = 2, **kw) -> PhoneUserListing:
    return PhoneUserListing(TENANT, kw.pop("query", ""), page, pages, total, users, **kw)


def cards_for(words: Words) -> dict[str, AdaptiveCard]:
    """One card of every kind and state, as `words`' reader sees it."""
    return {
        "welcome-admin": welcome_card("Ada Admin", Role.tenant_admin, words=words),
        "welcome-partner": welcome_card("Pat", Role.partner, words=words),
        "welcome-none": welcome_card("", Role.none, words=words),
        # A typo's answer (issue 19): the command it likely meant, as the reader types it.
        "did-you-mean": did_you_mean_card(words("add user"), "add user", words=words),
        "form-empty": add_user_form(request(values={}), options(), words=words),
        "form-errors": add_user_form(
            request(),
            options(),
            # As services/ makes it: a Text, shown in the reader's language.
            {"extension": T(ASSIGNED, extension="101", holder="alex@contoso.example")},
            words=words,
        ),
        "form-voicemail": add_user_form(
            request(values=VALUES | {"disable_voicemail": False}),
            options(),
            confirm_voicemail=True,
            words=words,
        ),
        "form-typeahead": add_user_form(request(), options(users=600), words=words),
        "form-partner": add_user_form(request(kind=RequestKind.partner), options(), words=words),
        "form-existing-phone-user": add_user_form(
            request(),
            options().model_copy(
                update={
                    "licensed_users": [
                        TeamsUser(
                            upn="alex@contoso.example",
                            display_name="Alex Wilber",
                            licensed=True,
                            phone_extension="101",
                        )
                    ]
                }
            ),
            {
                "teams_user": T(
                    "{name} is already a phone user on extension {extension}.",
                    name="Alex Wilber",
                    extension="101",
                ),
                EXISTING_PHONE_USER: "alex@contoso.example",
            },
            words=words,
        ),
        "phone-users": phone_users_card(listing([ALEX, MEGAN], page=2, pages=3, total=25), words=words),
        "phone-users-empty": phone_users_card(listing([], total=0), words=words),
        "phone-users-no-match": phone_users_card(listing([], total=0, query="zz"), words=words),
        "phone-users-stale": phone_users_card(
            listing(
                [ALEX],
                total=1,
                note=T(
                    "The list changed: page {page} no longer exists. Here is page {last}.", page=3, last=1
                ),
            ),
            T("The search contains control or formatting characters."),
            words=words,
        ),
        "phone-user": phone_user_card(TENANT, ALEX, "wil", 2, words=words),
        "phone-user-pending": phone_user_card(TENANT, MEGAN, words=words),
        "phone-users-picker": enterprise_picker_card(
            [TENANT, Tenant(tenant_id="t2", name="Fabrikam")], words=words, next_verb=VERB_PHONE_USERS_FOR
        ),
        "review": review_card(request(), words=words),
        "review-voicemail-on": review_card(
            request(values=VALUES | {"disable_voicemail": False}), words=words
        ),
        "progress-working": progress_card(request(RequestState.submitted), words=words),
        "progress-done": progress_card(request(RequestState.done, steps=DONE_STEPS), words=words),
        "progress-failed": progress_card(
            request(
                RequestState.failed,
                steps=FAILED_STEPS,
                error="Timed out",
                resume_state=RequestState.user_added,
            ),
            words=words,
        ),
        "progress-awaiting": progress_card(
            request(RequestState.awaiting_approval, kind=RequestKind.partner), words=words
        ),
        "cancelled": cancelled_card(request(RequestState.cancelled), words=words),
        "my-requests-empty": my_requests_card([], words=words),
        "my-requests": my_requests_card(
            [request(RequestState.done), request(RequestState.failed, error="x")], words=words
        ),
        "notice": notice_card("Not allowed", "You may not.", attention=True, words=words),
        "approval-awaiting": approval_card(
            request(RequestState.awaiting_approval, kind=RequestKind.partner),
            "Northwind Voice",
            ["29:a", "29:b"],
            words=words,
        ),
        "approval-reason-missing": approval_card(
            request(RequestState.awaiting_approval, kind=RequestKind.partner),
            "Northwind Voice",
            ["29:a"],
            "Please give a reason.",
            words=words,
        ),
        "approval-approved": approval_card(
            decided(RequestState.synced, "Ada Admin"),
            "Northwind",
            words=words,
        ),
        "approval-done": approval_card(
            decided(RequestState.done, "Ada Admin", steps=DONE_STEPS),
            "N",
            words=words,
        ),
        "approval-rejected": approval_card(
            decided(RequestState.rejected, "Ada", decision_note="No"),
            "N",
            words=words,
        ),
        "approval-failed": approval_card(
            decided(
                RequestState.failed,
                "Ada",
                error="Timed out",
                resume_state=RequestState.synced,
                steps=FAILED_STEPS,
            ),
            "N",
            words=words,
        ),
        "progress-partner-rejected": progress_card(
            decided(RequestState.rejected, "Ada", decision_note="No"),
            words=words,
        ),
        "progress-sign-in": progress_card(
            request(RequestState.awaiting_admin_sign_in, **SIGN_IN), words=words
        ),
        "progress-sign-in-expired": progress_card(
            request(RequestState.awaiting_admin_sign_in, **SIGN_IN | {"sign_in_expires_at": NOW}), words=words
        ),
        "progress-partner-sign-in": progress_card(
            request(
                RequestState.awaiting_admin_sign_in, kind=RequestKind.partner, decided_by="Ada", **SIGN_IN
            ),
            words=words,
        ),
        "progress-stopped": progress_card(
            request(
                RequestState.cancelled,
                decision_note=T("Stopped by {name} before calling was enabled", name="Ada Admin").encode(),
                steps=Steps(add_user=StepOutcome.done, sync=StepOutcome.done),
            ),
            words=words,
        ),
        "approval-sign-in": approval_card(
            decided(RequestState.awaiting_admin_sign_in, "Ada Admin", **SIGN_IN),
            "Northwind Voice",
            ["29:a"],
            words=words,
        ),
        "enterprise-picker": enterprise_picker_card(
            [TENANT, Tenant(tenant_id="t2", name="Fabrikam")], words=words
        ),
        "enterprise-picker-empty": enterprise_picker_card([], words=words),
        "enterprise-picker-error": enterprise_picker_card(
            [TENANT], "You do not manage that enterprise.", words=words
        ),
        # A provider past a few dozen enterprises: the picker searches as the partner types.
        "enterprise-picker-typeahead": enterprise_picker_card(enterprises(300), words=words),
        "dismissed": dismissed_card(words=words),
        # A page in the middle of the trail (Newer and Older), each entry a sentence about a person.
        "audit": audit_card(
            AuditPage(
                tenant_name="Contoso",
                entries=[
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
                        entry_id=12,
                        request_action="add",
                        subject="Isaiah Langer",
                        extension="108",
                    ),
                    # The bot's own words in the trail (services/requests/transitions.py): Texts.
                    AuditEntry(
                        at=NOW,
                        actor_tenant_id="system",
                        actor_id="system",
                        actor_name="the bot",
                        actor_name_text=T("the bot"),
                        tenant_id="t1",
                        request_id=None,
                        action="refused",
                        from_state=None,
                        to_state=None,
                        outcome="unknown request",
                        outcome_text=T("unknown request"),
                        entry_id=11,
                    ),
                ],
                older=True,
                newer=True,
            ),
            words=words,
        ),
        "audit-empty": audit_card(AuditPage(tenant_name="Contoso", entries=[]), words=words),
        # `audit all`: the drafts and cancels too, and the button that hides them again.
        "audit-everything": audit_card(
            AuditPage(
                tenant_name="Contoso",
                everything=True,
                entries=[
                    AuditEntry(
                        at=NOW,
                        actor_tenant_id="t1",
                        actor_id="a1",
                        actor_name="Ada",
                        tenant_id="t1",
                        request_id="r" * 36,
                        action="create",
                        from_state=None,
                        to_state="draft",
                        outcome="draft created",
                        entry_id=3,
                        request_action="add",
                    )
                ],
            ),
            words=words,
        ),
        **action_cards(words),
        **bulk_cards(words),
        # The `consent` card (issue 20): nothing given yet with both pages, all set, none needed.
        "consent": consent_card(
            "Contoso",
            ConsentState(user_sync=False, management=None, first_sync_done=False),
            {"user_sync": "https://ctt.example/consent/1", "management": "https://ctt.example/consent/2"},
            words,
        ),
        "consent-all-set": consent_card(
            "Contoso", ConsentState(user_sync=True, management=True, first_sync_done=True), {}, words
        ),
        "consent-none": no_consent_card(words),
    }


def bulk_report(problems: int, ready: int = 3) -> BatchReport:
    return BatchReport(
        "b" * 36,
        TENANT,
        ready,
        [
            RowProblem(i + 2, T(ASSIGNED, extension="101", holder="alex@contoso.example"))
            for i in range(problems)
        ],
    )


def bulk_status(failures: int, **counts: int) -> BatchStatus:
    status = BatchStatus("b" * 36, "Contoso", ("t1", "a1"))
    for state, n in counts.items():
        status.counts[RequestState(state)] = n
    status.failures = [(i + 2, f"u{i}@contoso.example", T("Timed out")) for i in range(failures)]
    status.problems = [(i + 300, T("Timed out"), f"p{i}@contoso.example", "1") for i in range(failures // 2)]
    return status


def batch_approval(state: str, waiting: int, name: str = "Pat Partner", **counts: int) -> BatchApproval:
    found = BatchApproval(
        "b" * 36,
        "t1",
        name,
        "t2",
        name,
        state,
        3,
        NOW,
        name if state != "awaiting_approval" else None,
        NOW if state != "awaiting_approval" else None,
        "x" * 500 if state == "rejected" else None,
    )
    found.counts[RequestState.awaiting_approval] = waiting
    for row_state, n in counts.items():
        found.counts[RequestState(row_state)] = n
    found.waiting = [
        (100000 + i, f"{i}{name}@contoso.example", "9" * 20, name, name) for i in range(min(waiting, 15))
    ]
    return found


def bulk_cards(words: Words) -> dict[str, AdaptiveCard]:
    """The bulk-add cards (issue 18): what to send, the report, the progress card, and a partner's
    batch: the enterprise picked, its one approval card as it waits and once decided."""
    return {
        "bulk-help": bulk_help_card(words),
        "bulk-help-partner": bulk_help_card(words, partner_for="Contoso"),
        "bulk-partner-waiting": bulk_progress_card(
            BatchStatus(
                "b" * 36,
                "Contoso",
                ("t1", "a1"),
                RequestKind.partner,
                counts=Counter({RequestState.awaiting_approval: 3, RequestState.failed: 2}),
            ),
            words,
        ),
        "bulk-approval": batch_approval_card(
            batch_approval("awaiting_approval", 3), "Northwind Voice", words=words
        ),
        "bulk-approval-error": batch_approval_card(
            batch_approval("awaiting_approval", 3), "Northwind Voice", T("Please give a reason."), words
        ),
        "bulk-approved": batch_approval_card(
            batch_approval("approved", 0, done=2, synced=1, awaiting_admin_sign_in=1),
            "Northwind",
            words=words,
        ),
        "bulk-rejected": batch_approval_card(
            batch_approval("rejected", 0, rejected=3), "Northwind", words=words
        ),
        "bulk-expired": batch_approval_card(
            batch_approval("expired", 0, expired=3), "Northwind", words=words
        ),
        "bulk-report": bulk_report_card(bulk_report(2), words),
        "bulk-report-none-ready": bulk_report_card(bulk_report(20, ready=0), words),
        "bulk-running": bulk_progress_card(bulk_status(1, done=2, submitted=1, queued=5, failed=1), words),
        "bulk-finished": bulk_progress_card(bulk_status(20, done=180, failed=20), words),
    }


# A phone user's values as an action's request holds them (services/requests/actions.py).
ACTION_VALUES = VALUES | {"display_name": "Megan Bowen", "from_extension": "100", "from_pbx_location": "PBX"}
PORTAL = {
    "portal_step": "delete",
    "portal_steps": T(
        "In the Enterprise portal: Users > Advanced User Search > Disabled Users > {upn} > Delete User.",
        upn="megan@contoso.example",
    ).encode(),
    "portal_url": "https://portal.ctt.example/users",
}


def action(action: RequestAction, state: RequestState = RequestState.draft, **changes) -> ProvisioningRequest:
    values = changes.pop("values", ACTION_VALUES)
    return request(state, action=action, values=values, **changes)


def action_cards(words: Words) -> dict[str, AdaptiveCard]:
    """The cards of the actions on one phone user (issue 16), in each state a person sees."""
    removed = Steps(calling=StepOutcome.done, calling_note="Calling disabled", delete=StepOutcome.done)
    cards = {
        f"confirm-{a.value}": action_confirm_card(action(a), words=words)
        for a in (
            RequestAction.reset_password,
            RequestAction.disable_calling,
            RequestAction.enable_calling,
            RequestAction.remove,
        )
    }
    return cards | {
        "confirm-remove-partner": action_confirm_card(
            action(RequestAction.remove, kind=RequestKind.partner), words=words
        ),
        "form-change": add_user_form(
            action(RequestAction.change, values=ACTION_VALUES | {"extension": "106"}), options(), words=words
        ),
        "review-change": review_card(
            action(RequestAction.change, values=ACTION_VALUES | {"extension": "106"}), words=words
        ),
        "action-working": progress_card(action(RequestAction.remove, RequestState.submitted), words=words),
        "action-between": progress_card(
            action(RequestAction.remove, RequestState.calling_disabled, steps=removed), words=words
        ),
        "action-done": progress_card(
            action(RequestAction.remove, RequestState.done, steps=removed), words=words
        ),
        "action-failed": progress_card(
            action(
                RequestAction.remove,
                RequestState.failed,
                error="Timed out",
                resume_state=RequestState.calling_disabled,
            ),
            words=words,
        ),
        "action-portal": progress_card(
            action(
                RequestAction.remove,
                RequestState.awaiting_portal,
                values=ACTION_VALUES | PORTAL,
                resume_state=RequestState.calling_disabled,
            ),
            words=words,
        ),
        "action-partner-waits": progress_card(
            action(RequestAction.disable_calling, RequestState.awaiting_approval, kind=RequestKind.partner),
            words=words,
        ),
        "action-cancelled": cancelled_card(action(RequestAction.remove, RequestState.cancelled), words=words),
        "approval-action": approval_card(
            action(RequestAction.remove, RequestState.awaiting_approval, kind=RequestKind.partner),
            "Northwind Voice",
            ["29:a"],
            words=words,
        ),
        "approval-action-portal": approval_card(
            decided(
                RequestState.awaiting_portal,
                "Ada Admin",
                action=RequestAction.remove,
                values=ACTION_VALUES | PORTAL,
                resume_state=RequestState.calling_disabled,
            ),
            "Northwind Voice",
            ["29:a"],
            words=words,
        ),
        # Issue 17: an approval nobody gave expires; the user a partner's add put there goes again.
        "approval-expired": approval_card(
            request(
                RequestState.expired,
                kind=RequestKind.partner,
                decided_at=NOW,
                steps=Steps(add_user=StepOutcome.done),
            ),
            "Northwind Voice",
            ["29:a"],
            words=words,
        ),
        "progress-partner-expired": progress_card(
            request(
                RequestState.expired,
                kind=RequestKind.partner,
                decided_at=NOW,
                steps=Steps(add_user=StepOutcome.done),
            ),
            words=words,
        ),
        "approval-change-done": approval_card(
            decided(
                RequestState.done,
                "Ada Admin",
                action=RequestAction.change,
                values=ACTION_VALUES | {"extension": "106"},
                steps=DONE_STEPS,
            ),
            "Northwind Voice",
            words=words,
        ),
    }


# French runs longer: every card in French validates, renders and fits too (name suffix -fr).
ALL_CARDS = cards_for(ENGLISH_WORDS) | {f"{name}-fr": c for name, c in cards_for(Words(FRENCH)).items()}


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
    # A reader whose time zone Teams did not give sees the time in UTC, and told so.
    at = "2026-11-24, 2:02\u202fp.m. UTC"
    assert card_text(decided).count(f"Rejected by Ada Admin at {at}. Reason: Leaving") == 1
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
    assert "The Phone Connector needs the extension here, not the PBX caller ID" in text
    assert "portal" not in text.lower()
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
    # The first few, for the dropdown before anything is typed (the renderer needs one).
    assert len(users["choices"]) <= 15


def test_a_partner_past_a_few_dozen_enterprises_gets_a_picker_that_searches():
    def field(card: AdaptiveCard) -> dict:
        return next(e for e in to_dict(card)["body"] if e.get("id") == "enterpriseId")

    listed = field(enterprise_picker_card(enterprises(TYPEAHEAD_THRESHOLD)))
    assert len(listed["choices"]) == TYPEAHEAD_THRESHOLD and "choices.data" not in listed
    for kind in ({}, {"next_verb": VERB_PHONE_USERS_FOR}):
        searched = field(enterprise_picker_card(enterprises(TYPEAHEAD_THRESHOLD + 1), **kind))
        assert searched["choices.data"] == {"type": "Data.Query", "dataset": "enterprises"}
        assert searched["style"] == "filtered"
        assert [c["value"] for c in searched["choices"]] == [f"e{i:04d}" for i in range(TYPEAHEAD_SHOWN)], (
            "the first few, for the dropdown before anything is typed"
        )


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


# -- in French -----------------------------------------------------------------------------------

PLACEHOLDER = re.compile(r"\{\w*\}")


def english_left_in(card: AdaptiveCard) -> list[str]:
    """The English a French reader would see on `card`: any text of the catalog of 3+ words whose
    French differs, and any run of 3+ words of a card's own template that its French does not have
    (a template with values is never on a card whole, so its fixed parts are looked for)."""
    shown = card_text(to_dict(card))
    found = [english for english, french in catalog().items() if english != french and english in shown]
    for english, french in catalog(CATALOG / "cards.po").items():
        found += [
            part
            for part in (p.strip() for p in PLACEHOLDER.split(english))
            if len(part.split()) >= 3 and part not in french and part in shown
        ]
    return found


def catalog(*files: Path) -> dict[str, str]:
    """English -> French of the catalog files (all of them by default), for texts of 3+ words."""
    table: dict[str, str] = {}
    for path in files or sorted(CATALOG.glob("*.po")):
        with path.open("rb") as handle:
            table |= {m.id: m.string for m in read_po(handle) if m.id and m.string}
    return {english: french for english, french in table.items() if len(english.split()) >= 3}


@pytest.mark.parametrize("name", sorted(n for n in ALL_CARDS if n.endswith("-fr")))
def test_a_french_card_shows_no_english(name: str):
    assert english_left_in(ALL_CARDS[name]) == []


def test_every_card_kind_is_also_in_french():
    assert {n for n in ALL_CARDS if not n.endswith("-fr")} == {n[:-3] for n in ALL_CARDS if n.endswith("-fr")}


def test_french_cards_translate_our_texts_and_keep_what_people_wrote():
    left = english_left_in(ALL_CARDS["progress-working"])
    assert "Sync Teams users" in left, "the check sees a whole text"
    assert "at the provisioning service" in left, "and the fixed part of a template"
    rejected = card_text(to_dict(ALL_CARDS["approval-rejected-fr"]))
    assert "Refusée par Ada le 2026-11-24 14 h 02 UTC. Motif\u00a0: No" in rejected, (
        "the admin's reason as typed (not the catalog's 'No'), the time as a French reader writes it"
    )
    calling = progress_card(request(RequestState.calling_enabled), words=Words(FRENCH))
    assert "Demande 3f2a9c1e · Appels activés" in card_text(to_dict(calling)), "state names too"


# Teams refuses a message over about 100 KB, counted in UTF-16; it asks bots to stay under 80 KB.
TEAMS_MESSAGE_LIMIT = 80 * 1024


def teams_size(card: AdaptiveCard) -> int:
    return len(json.dumps(to_dict(card), ensure_ascii=False).encode("utf-16-le"))


def largest_cards(words: Words) -> dict[str, AdaptiveCard]:
    """Each card that grows with data, at the most it can hold: the audit card's 50 entries
    (dialogs/approvals.py), 20 requests (services' requests_of), a form with 50 users listed (or
    5,000 searched), 200 PBX locations and 200 voice routes and every field in error, a partner's
    pickers (50 enterprises listed, 300 searched), a page of phone users, with long names and the
    longest state labels (issue 19)."""
    long_name = "Marie-Ève Bouchard-Tremblay de la Direction des technologies de l'information"
    long_upn = "marie-eve.bouchard-tremblay." + "x" * 40 + "@services-informatiques-quebec.example"
    long_note = T(
        "Extension {extension} does not exist on {pbx_location}.", extension="9" * 20, pbx_location="P" * 100
    )
    # The audit's longest sentence (cards/audit.py): a rejected change, every value as long as its
    # column lets it be (a name of 200, a reason of 500), the user's name longer still.
    entries = [
        AuditEntry(
            at=NOW,
            actor_tenant_id="t1",
            actor_id="a" * 64,
            actor_name="N" * 200,
            tenant_id="t1",
            request_id="r" * 36,
            action="reject",
            from_state="awaiting_approval",
            to_state="rejected",
            outcome="rejected",
            outcome_text=T("rejected by {name}: {reason}", name="N" * 200, reason="x" * 500),
            entry_id=10**12 + i,
            request_action="change",
            subject=long_name * 4,
            extension="9" * 20,
            from_extension="8" * 20,
        )
        for i in range(AUDIT_PAGE_SIZE)
    ]
    values = VALUES | {"teams_user": long_upn, "pbx_location": "P" * 100, "voice_route": "V" * 100}
    failed = request(
        RequestState.failed,
        values=values,
        tenant_name=long_name,
        error=str(long_note),
        error_text=long_note,
        decided_by=long_name,
        decided_at=NOW,
        steps=Steps(add_user=StepOutcome.done, sync=StepOutcome.failed, sync_note=long_note.encode()),
        resume_state=RequestState.submitted,
    )
    # A provider's largest tenant (issue 19): 200 PBX locations, 200 voice routes, and the most
    # users the form lists before it searches (TYPEAHEAD_THRESHOLD), or 5,000 it searches.
    users = FormOptions(
        tenant=Tenant(tenant_id="t1", name=long_name),
        pbx_locations=[f"{i}" + "P" * 99 for i in range(200)],
        voice_routes=[VoiceRoute(route_id=i, name=f"{i}" + "V" * 99) for i in range(200)],
        licensed_users=[
            TeamsUser(upn=f"{i}{long_upn}", display_name=long_name, licensed=True, phone_extension="9" * 20)
            for i in range(TYPEAHEAD_THRESHOLD)
        ],
        licensed_user_count=TYPEAHEAD_THRESHOLD,
        free_extensions=[Extension(pbx_location="PBX", number="9" * 20, caller_id="6045550000")] * 12,
    )
    searched_users = users.model_copy(update={"licensed_user_count": 5000})
    long_user = PhoneUser(
        upn=long_upn,
        display_name=long_name,
        pbx_location="P" * 100,
        extension="9" * 20,
        phone_number="+" + "9" * 15,
        voice_route="V" * 100,
        sync_pending=True,
        waiting_for_admin=True,
    )
    long_tenant = Tenant(tenant_id="t" * 36, name=long_name)
    long_query = "x" * MAX_QUERY
    every_field = {field: long_note for field in ("form", *(f for f in INPUT_IDS.values()))}
    return {
        "audit": audit_card(
            AuditPage(tenant_name=long_name, entries=entries, older=True, newer=True), words=words
        ),
        "my-requests": my_requests_card([failed] * 20, words=words),
        "form": add_user_form(failed, users, every_field, confirm_voicemail=True, words=words),
        "approval": approval_card(
            failed.model_copy(update={"kind": RequestKind.partner}),
            long_name,
            ["29:a"] * 60,
            "x" * 500,
            words=words,
        ),
        "progress": progress_card(failed, words=words),
        # A bulk add's report and progress at their longest: every shown line as long as it gets.
        "bulk-report": bulk_report_card(
            BatchReport(
                "b" * 36,
                Tenant(tenant_id="t1", name=long_name),
                1000,
                [RowProblem(100000 + i, long_note) for i in range(1000)],
            ),
            words,
        ),
        "bulk-progress": bulk_progress_card(
            BatchStatus(
                "b" * 36,
                long_name,
                ("t1", "a1"),
                failures=[(100000 + i, long_upn, long_note) for i in range(1000)],
                problems=[(100000 + i, long_note, long_upn, "9" * 20) for i in range(1000)],
            ),
            words,
        ),
        # A partner's batch of 1,000 rows waiting for the approval, every listed value long.
        "bulk-approval": batch_approval_card(
            batch_approval("awaiting_approval", 1000, name=long_name), long_name, "x" * 500, words
        ),
        "bulk-rejected": batch_approval_card(
            batch_approval("rejected", 0, name=long_name, rejected=1000), long_name, words=words
        ),
        # An action's cards at their longest: every value long, the portal's steps long too.
        "action-portal": progress_card(
            failed.model_copy(
                update={
                    "action": RequestAction.remove,
                    "state": RequestState.awaiting_portal,
                    "values": values
                    | PORTAL
                    | {"display_name": long_name, "portal_steps": long_note.encode()},
                }
            ),
            words=words,
        ),
        "approval-action": approval_card(
            failed.model_copy(
                update={
                    "kind": RequestKind.partner,
                    "action": RequestAction.change,
                    "state": RequestState.awaiting_approval,
                    "values": values | {"display_name": long_name, "from_extension": "9" * 20},
                }
            ),
            long_name,
            ["29:a"] * 60,
            "x" * 500,
            words=words,
        ),
        "confirm-remove": action_confirm_card(
            failed.model_copy(
                update={
                    "kind": RequestKind.partner,
                    "action": RequestAction.remove,
                    "state": RequestState.draft,
                    "values": values | {"display_name": long_name},
                }
            ),
            words=words,
        ),
        "form-5000-users": add_user_form(
            failed, searched_users, every_field, confirm_voicemail=True, words=words
        ),
        # The most enterprises a picker lists, then a provider's 300 (the picker searches).
        "enterprise-picker-listed": enterprise_picker_card(
            enterprises(TYPEAHEAD_THRESHOLD, long_name), long_note, words
        ),
        "enterprise-picker-300": enterprise_picker_card(enterprises(300, long_name), long_note, words),
        "bulk-help": bulk_help_card(words, partner_for=long_name),
        # A page of the `phone users` list and one phone user's card, every value long.
        "phone-users": phone_users_card(
            PhoneUserListing(
                long_tenant, long_query, 250, 501, 5010, [long_user] * PHONE_USERS_PAGE_SIZE, long_note
            ),
            long_note,
            words=words,
        ),
        "phone-user": phone_user_card(long_tenant, long_user, long_query, 501, words=words),
    }


@functools.cache
def largest_in(language: str) -> dict[str, AdaptiveCard]:
    return largest_cards(Words(language))


# One case per card kind and language (French is the longest), so that a card over the limit is
# named with its size: e.g. test_each_card_kind_fits_in_a_teams_message_at_its_largest[fr-CA-form].
@pytest.mark.parametrize("kind", list(largest_in(ENGLISH_WORDS.language)))
@pytest.mark.parametrize("language", [ENGLISH_WORDS.language, FRENCH])
def test_each_card_kind_fits_in_a_teams_message_at_its_largest(language: str, kind: str):
    card = largest_in(language)[kind]
    size = teams_size(card)
    assert size <= TEAMS_MESSAGE_LIMIT, (
        f"{kind} ({language}): {size:,} bytes as Teams counts them (UTF-16), over {TEAMS_MESSAGE_LIMIT:,}"
    )
