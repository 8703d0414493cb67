"""Who may do what with a request: the one home of every see / change / approve / retry / stop / start
decision. Plain functions of the person (and the request), so that the services refuse and the dialogs
choose what to offer by the same rule.

Roles come from the directory on every activity (DESIGN.md, "Security model"); nothing here trusts a
card's data beyond the request id it names."""

from __future__ import annotations

from collections.abc import Collection

from services.models import Actor, ProvisioningRequest, RequestKind, RequestState, Role

# -- the person alone ------------------------------------------------------------------------------


def add_kind(actor: Actor) -> RequestKind | None:
    """Which add this person starts: for their own tenant (a global admin), for an enterprise they
    manage (a partner), or none."""
    if actor.role is Role.tenant_admin:
        return RequestKind.admin
    if actor.role is Role.partner:
        return RequestKind.partner
    return None


def may_start_add(actor: Actor) -> bool:
    """The people the bot is for: they add phone users, and so use its request commands and cards."""
    return add_kind(actor) is not None


def may_pick_enterprise(actor: Actor) -> bool:
    """A partner adds for one of the enterprises it manages, so it picks one first."""
    return add_kind(actor) is RequestKind.partner


def may_add_for(actor: Actor, tenant_id: str | None, managed: Collection[str]) -> bool:
    """A global admin adds to their own tenant; a partner to an enterprise it manages (`managed`:
    the tenant ids the provisioning side lists for the partner)."""
    kind = add_kind(actor)
    if kind is RequestKind.admin:
        return tenant_id == actor.tenant_id
    return kind is RequestKind.partner and tenant_id in managed


def may_see_phone_users(actor: Actor, tenant_id: str | None, managed: Collection[str]) -> bool:
    """The tenant's phone users are for those who add them there: its global admins, and the
    partners who manage it (`managed`, as in `may_add_for`)."""
    return may_add_for(actor, tenant_id, managed)


def may_bulk_add(actor: Actor) -> bool:
    """Whoever adds users one at a time adds many at once: a global admin to their own tenant, a
    partner to an enterprise it manages (its batch then waits for one approval of all its rows)."""
    return may_start_add(actor)


def may_list_pending(actor: Actor) -> bool:
    """Partner requests wait for a tenant's global admins; only they have a list of them."""
    return actor.role is Role.tenant_admin


def may_give_consent(actor: Actor) -> bool:
    """A tenant's consents at the platform are its Global Admin's to give."""
    return actor.role is Role.tenant_admin


def may_read_audit(actor: Actor) -> bool:
    """A tenant's audit trail is its global admins' (it names every requester and approver)."""
    return actor.role is Role.tenant_admin


# -- the person and a request ----------------------------------------------------------------------


def is_requester(actor: Actor, request: ProvisioningRequest) -> bool:
    return actor.tenant_id == request.requester_tenant_id and actor.aad_object_id == request.requester_id


def may_approve(actor: Actor, request: ProvisioningRequest) -> bool:
    """A global admin of the request's tenant: approves or rejects a partner's request and owns the
    steps that need the tenant's consent (sync, enable calling, the Global Admin sign-in)."""
    return actor.role is Role.tenant_admin and actor.tenant_id == request.tenant_id


def may_see(actor: Actor, request: ProvisioningRequest) -> bool:
    """Its requester, or a global admin of its tenant."""
    return is_requester(actor, request) or may_approve(actor, request)


def may_change(actor: Actor, request: ProvisioningRequest) -> bool:
    """Whoever may see it, except that a draft is its author's alone: a tenant's admins may look at a
    partner's draft but not edit, submit or cancel it."""
    if request.state is RequestState.draft:
        return is_requester(actor, request)
    return may_see(actor, request)


def approvers_part(request: ProvisioningRequest) -> bool:
    """Whether the request stands in the tenant's admins' half: a partner's request past the add
    (a failed add is the partner's to fix; a failed sync or enable is the approvers')."""
    return request.kind is RequestKind.partner and request.resume_state is not RequestState.submitted


def may_retry(actor: Actor, request: ProvisioningRequest) -> bool:
    """ "Try again" or "Get a new sign-in link": in the approvers' half only a global admin of the
    tenant; otherwise whoever may change the request."""
    if approvers_part(request):
        return may_approve(actor, request)
    return may_change(actor, request)


def may_stop_waiting(actor: Actor, request: ProvisioningRequest) -> bool:
    """Stop a request that waits for a Global Admin's sign-in: a partner's is the tenant's admins'
    to stop (they approved it); an admin's own, whoever may change it."""
    if request.kind is RequestKind.partner:
        return may_approve(actor, request)
    return may_change(actor, request)
