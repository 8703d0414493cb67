"""services/requests/access.py: every decision over every kind of person, on requests built in memory."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.models import Actor, ProvisioningRequest, RequestKind, RequestState, Role
from services.requests import access
from tests import doubles

CONTOSO, FABRIKAM = doubles.CONTOSO, doubles.FABRIKAM
ADMIN = Actor(tenant_id=CONTOSO, aad_object_id=doubles.CONTOSO_ADMIN, name="Ada", role=Role.tenant_admin)
ADMIN2 = Actor(tenant_id=CONTOSO, aad_object_id=doubles.CONTOSO_ADMIN2, name="Avery", role=Role.tenant_admin)
USER = Actor(tenant_id=CONTOSO, aad_object_id=doubles.CONTOSO_USER, name="Uma", role=Role.none)
OTHER_ADMIN = Actor(
    tenant_id=FABRIKAM, aad_object_id=doubles.FABRIKAM_ADMIN, name="Farah", role=Role.tenant_admin
)
PARTNER = Actor(
    tenant_id=doubles.NORTHWIND, aad_object_id=doubles.NORTHWIND_PARTNER, name="Pat", role=Role.partner
)
OTHER_PARTNER = Actor(
    tenant_id=doubles.TAILSPIN, aad_object_id=doubles.TAILSPIN_PARTNER, name="Sam", role=Role.partner
)
# The same person, after losing the role: what they may do is decided by the role of this activity.
DEMOTED_ADMIN = ADMIN.model_copy(update={"role": Role.none})
EVERYONE = {
    "admin": ADMIN,
    "admin2": ADMIN2,
    "user": USER,
    "other_admin": OTHER_ADMIN,
    "partner": PARTNER,
    "other_partner": OTHER_PARTNER,
    "demoted_admin": DEMOTED_ADMIN,
}
NOW = datetime(2025, 1, 1, tzinfo=UTC)


def request(
    by: Actor,
    state: RequestState,
    resume_state: RequestState | None = None,
) -> ProvisioningRequest:
    """A Contoso request by `by` (Contoso's admin: an admin's add; Northwind: a partner's add)."""
    return ProvisioningRequest(
        request_id="r-1",
        kind=RequestKind.partner if by.role is Role.partner else RequestKind.admin,
        tenant_id=CONTOSO,
        tenant_name="Contoso",
        requester_tenant_id=by.tenant_id,
        requester_id=by.aad_object_id,
        requester_name=by.name,
        state=state,
        version=3,
        resume_state=resume_state,
        created_at=NOW,
        updated_at=NOW,
    )


def who(decision, *args) -> set[str]:
    return {name for name, actor in EVERYONE.items() if decision(actor, *args)}


# -- the person alone --------------------------------------------------------------------------------


def test_add_kind_and_who_may_start_an_add():
    assert {name: access.add_kind(actor) for name, actor in EVERYONE.items()} == {
        "admin": RequestKind.admin,
        "admin2": RequestKind.admin,
        "user": None,
        "other_admin": RequestKind.admin,
        "partner": RequestKind.partner,
        "other_partner": RequestKind.partner,
        "demoted_admin": None,
    }
    assert who(access.may_start_add) == {"admin", "admin2", "other_admin", "partner", "other_partner"}


def test_only_partners_pick_an_enterprise():
    assert who(access.may_pick_enterprise) == {"partner", "other_partner"}


def test_an_admin_adds_to_their_own_tenant_and_a_partner_to_those_it_manages():
    northwind_manages = {CONTOSO, FABRIKAM}
    assert who(access.may_add_for, CONTOSO, northwind_manages) == {
        "admin",
        "admin2",
        "partner",
        "other_partner",
    }
    tailspin_manages = {FABRIKAM}
    assert who(access.may_add_for, CONTOSO, tailspin_manages) == {"admin", "admin2"}
    assert who(access.may_add_for, FABRIKAM, tailspin_manages) == {"other_admin", "partner", "other_partner"}
    assert who(access.may_add_for, None, northwind_manages) == set()


def test_only_global_admins_list_pending_requests_and_read_the_audit_trail():
    assert who(access.may_list_pending) == {"admin", "admin2", "other_admin"}
    assert who(access.may_read_audit) == {"admin", "admin2", "other_admin"}


# -- the person and a request ------------------------------------------------------------------------


@pytest.mark.parametrize("by", [ADMIN, PARTNER], ids=["admin's add", "partner's add"])
def test_the_requester_is_the_same_person_in_the_same_tenant(by: Actor):
    mine = request(by, RequestState.submitted)
    assert who(access.is_requester, mine) == ({"admin", "demoted_admin"} if by is ADMIN else {"partner"})
    elsewhere = by.model_copy(update={"tenant_id": FABRIKAM})
    assert not access.is_requester(elsewhere, mine)


@pytest.mark.parametrize("by", [ADMIN, PARTNER], ids=["admin's add", "partner's add"])
def test_the_tenant_s_global_admins_approve(by: Actor):
    assert who(access.may_approve, request(by, RequestState.awaiting_approval)) == {"admin", "admin2"}


def test_the_requester_and_the_tenant_s_global_admins_see_a_request():
    assert who(access.may_see, request(PARTNER, RequestState.awaiting_approval)) == {
        "admin",
        "admin2",
        "partner",
    }
    # A demoted requester still sees their own request; a demoted admin no one else's.
    assert who(access.may_see, request(ADMIN, RequestState.done)) == {"admin", "admin2", "demoted_admin"}
    assert not access.may_see(DEMOTED_ADMIN, request(PARTNER, RequestState.done))


def test_a_draft_is_changed_by_its_author_alone_later_states_by_whoever_sees_it():
    assert who(access.may_change, request(PARTNER, RequestState.draft)) == {"partner"}
    assert who(access.may_change, request(ADMIN, RequestState.draft)) == {"admin", "demoted_admin"}
    failed = request(PARTNER, RequestState.failed, resume_state=RequestState.submitted)
    assert who(access.may_change, failed) == {"admin", "admin2", "partner"}


@pytest.mark.parametrize(
    ("resume_state", "approvers_part"),
    [
        (RequestState.submitted, False),
        (RequestState.approved, True),
        (RequestState.synced, True),
        (None, True),
    ],
)
def test_the_approvers_part_of_a_partner_s_request_is_past_the_add(
    resume_state: RequestState | None, approvers_part: bool
):
    assert access.approvers_part(request(PARTNER, RequestState.failed, resume_state)) is approvers_part
    assert not access.approvers_part(request(ADMIN, RequestState.failed, resume_state))


def test_retry_the_add_is_the_requester_s_the_rest_the_tenant_s_admins():
    failed_add = request(PARTNER, RequestState.failed, resume_state=RequestState.submitted)
    assert who(access.may_retry, failed_add) == {"admin", "admin2", "partner"}
    failed_sync = request(PARTNER, RequestState.failed, resume_state=RequestState.approved)
    assert who(access.may_retry, failed_sync) == {"admin", "admin2"}
    waiting = request(PARTNER, RequestState.awaiting_admin_sign_in, resume_state=RequestState.synced)
    assert who(access.may_retry, waiting) == {"admin", "admin2"}
    admins_own = request(ADMIN, RequestState.failed, resume_state=RequestState.user_added)
    assert who(access.may_retry, admins_own) == {"admin", "admin2", "demoted_admin"}


def test_a_wait_for_a_sign_in_is_stopped_by_the_tenant_s_admins_or_by_whoever_changes_an_admin_s_add():
    partners = request(PARTNER, RequestState.awaiting_admin_sign_in, resume_state=RequestState.synced)
    assert who(access.may_stop_waiting, partners) == {"admin", "admin2"}
    admins = request(ADMIN, RequestState.awaiting_admin_sign_in, resume_state=RequestState.synced)
    assert who(access.may_stop_waiting, admins) == {"admin", "admin2", "demoted_admin"}
