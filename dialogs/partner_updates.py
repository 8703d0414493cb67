"""What a partner reads in their chat about their own request beyond its card: who was asked to
approve it (an add, or a change, disable, enable or removal)."""

from __future__ import annotations

import logging
from typing import Any

from dialogs.notifications import Notifier
from dialogs.ports import Messenger
from i18n import Words
from services.models import ProvisioningRequest, RequestAction

log = logging.getLogger(__name__)


async def tell_partner_who_approves(
    messenger: Messenger,
    notifier: Notifier,
    request: ProvisioningRequest,
    card_ref: dict[str, Any],
    words: Words,
) -> None:
    """Under the partner's card, once their request waits for an approval: who got the approval
    card, or that nobody of the tenant can get it yet (and whom to ask)."""
    reachable, unreachable = await notifier.reachable_admins(request.tenant_id)
    names = {"request": request.short_id, "tenant": request.tenant_name}
    asks = ", ".join(unreachable) or words("a global admin of {tenant}", tenant=request.tenant_name)
    if request.action is not RequestAction.add and reachable:
        text = words(
            "Request {request} sent: an approval card went to {admins}. Nothing is done before one "
            "of them approves it.",
            admins=", ".join(reachable),
            **names,
        )
    elif request.action is not RequestAction.add:
        text = words(
            "Request {request} sent, but no global admin of {tenant} has the Phone Connector bot in "
            "Teams yet, so nobody can approve it. Ask {admins} to install the app in Teams: the "
            "approval card reaches them as soon as they do.",
            admins=asks,
            **names,
        )
    elif reachable:
        text = words(
            "User added (request {request}). Waiting for a global admin of {tenant} to enable "
            "calling: an approval card went to {admins}.",
            admins=", ".join(reachable),
            **names,
        )
    else:
        text = words(
            "User added (request {request}), but no global admin of {tenant} has the Phone "
            "Connector bot in Teams yet, so nobody can approve it. Ask {admins} to install the app "
            "in Teams: the approval card reaches them as soon as they do. The request waits until "
            "then.",
            admins=asks,
            **names,
        )
    try:
        await messenger.send_text(card_ref["conversation"], text)
    except Exception:
        log.warning("could not tell the partner who approves", exc_info=True)
