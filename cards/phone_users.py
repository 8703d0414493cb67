"""The `phone users` cards: one page of a tenant's phone users, with a search and Previous/Next, and
the card of one phone user. Their buttons carry the tenant id, the user's UPN and where in the list
the person was (search, page): the bot re-reads the user and re-checks the role on every click."""

from __future__ import annotations

from typing import Any

from microsoft_teams.cards import ActionSet, AdaptiveCard, CardElement, Container, TextBlock, TextInput

from cards.common import banner, card, execute, facts, field_error, heading, paragraph
from i18n import ENGLISH_WORDS, Text, Words
from services.models import PhoneUser, RequestAction, Tenant
from services.requests.phone_users import MAX_QUERY, PhoneUserListing

VERB_PHONE_USERS_FOR = "phoneUsers.for"  # a partner picked the enterprise
VERB_PHONE_USERS_SEARCH = "phoneUsers.search"
VERB_PHONE_USERS_PAGE = "phoneUsers.page"  # Previous, Next, Back to the list
VERB_PHONE_USER_OPEN = "phoneUsers.open"
VERB_PHONE_USER_ACTION = "phoneUsers.action"  # Change, Reset device password, ..., Remove

SEARCH_INPUT = "searchText"


def listing_data(tenant_id: str, query: str, page: int) -> dict[str, Any]:
    return {"tenantId": tenant_id, "query": query, "page": page}


def phone_users_card(
    listing: PhoneUserListing, search_error: str | Text | None = None, words: Words = ENGLISH_WORDS
) -> AdaptiveCard:
    tenant = listing.tenant
    body: list[CardElement] = [heading(words("Phone users of {tenant}", tenant=tenant.name))]
    if listing.total == 0 and listing.query:
        body.append(paragraph(words("No phone user matches this search."), subtle=True))
    elif listing.total == 0:
        body.append(paragraph(words("{tenant} has no phone users yet.", tenant=tenant.name), subtle=True))
    else:
        body.append(
            paragraph(
                words(
                    "Phone users found: {total}. Page {page} of {pages}.",
                    total=listing.total,
                    page=listing.page,
                    pages=listing.pages,
                ),
                subtle=True,
            )
        )
    if listing.note:
        body.append(banner(words(listing.note), "warning"))
    body.append(
        TextInput(
            id=SEARCH_INPUT,
            label=words("Search"),
            placeholder=words("Start of a name, an address or an extension"),
            value=listing.query or None,
            max_length=MAX_QUERY,
        )
    )
    if search_error:
        body.append(field_error(words(search_error)))
    body.append(
        ActionSet(
            actions=[
                execute(words("Search"), VERB_PHONE_USERS_SEARCH, {"tenantId": tenant.tenant_id}),
            ]
        )
    )
    for user in listing.users:
        body.append(_row(user, listing, words))
    moves = []
    if listing.page > 1:
        data = listing_data(tenant.tenant_id, listing.query, listing.page - 1)
        moves.append(execute(words("Previous"), VERB_PHONE_USERS_PAGE, data, validate_inputs=False))
    if listing.page < listing.pages:
        data = listing_data(tenant.tenant_id, listing.query, listing.page + 1)
        moves.append(execute(words("Next"), VERB_PHONE_USERS_PAGE, data, validate_inputs=False))
    return card(body, moves)


def _row(user: PhoneUser, listing: PhoneUserListing, words: Words) -> Container:
    data = listing_data(listing.tenant.tenant_id, listing.query, listing.page) | {"upn": user.upn}
    return Container(
        separator=True,
        spacing="Medium",
        items=[
            TextBlock(text=f"**{user.display_name}**", wrap=True),
            TextBlock(text=user.upn, wrap=True, is_subtle=True, spacing="None"),
            TextBlock(text=_summary(user, words), wrap=True, size="Small", spacing="Small"),
            ActionSet(actions=[execute(words("Open"), VERB_PHONE_USER_OPEN, data, validate_inputs=False)]),
        ],
    )


# A lone "-" is a list item to Teams' markdown (it shows a bullet): an em dash is not.
NONE = "—"


def _summary(user: PhoneUser, words: Words) -> str:
    """One line: extension, phone number, voice route, calling, and what waits."""
    parts = [
        words("Extension {extension}", extension=user.extension or NONE),
        words("Phone number {number}", number=user.phone_number or NONE),
        user.voice_route or words("no voice route"),
        _calling(user, words),
    ]
    parts += _pending(user, words)
    return " · ".join(parts)


def _calling(user: PhoneUser, words: Words) -> str:
    return words("Calling on") if user.calling_enabled else words("Calling off")


def _pending(user: PhoneUser, words: Words) -> list[str]:
    pending = []
    if user.sync_pending:
        pending.append(words("Sync pending"))
    if user.waiting_for_admin:
        pending.append(words("A request waits for a global admin"))
    return pending


def phone_user_card(
    tenant: Tenant, user: PhoneUser, query: str = "", page: int = 1, words: Words = ENGLISH_WORDS
) -> AdaptiveCard:
    """One phone user's details, and what can be done with them: change, reset the device
    password, disable or enable calling, remove; and back to the list."""
    pending = _pending(user, words)
    body: list[CardElement] = [
        heading(user.display_name),
        paragraph(words("Phone user of {tenant}", tenant=tenant.name), subtle=True),
        facts(
            [
                (words("Sign-in address"), user.upn),
                (words("PBX location"), user.pbx_location or NONE),
                (words("Extension"), user.extension or NONE),
                (words("Phone number"), user.phone_number or NONE),
                (words("Voice route"), user.voice_route or NONE),
                (words("State"), _calling(user, words)),
                (words("Pending"), ", ".join(pending) if pending else words("Nothing")),
            ]
        ),
    ]
    # Each action starts a request of its own, which re-reads the user and re-checks the role.
    where = listing_data(tenant.tenant_id, query, page) | {"upn": user.upn}
    calling = (
        (RequestAction.disable_calling, words("Disable calling"))
        if user.calling_enabled
        else (RequestAction.enable_calling, words("Enable calling"))
    )
    choices = [
        (RequestAction.change, words("Change")),
        (RequestAction.reset_password, words("Reset device password")),
        calling,
        (RequestAction.remove, words("Remove")),
    ]
    buttons = [
        execute(title, VERB_PHONE_USER_ACTION, where | {"action": action.value}, validate_inputs=False)
        for action, title in choices
    ]
    # Two rows: Teams shows at most a few buttons side by side and cuts their titles short.
    body.append(ActionSet(actions=buttons[:2], spacing="Medium"))
    body.append(ActionSet(actions=buttons[2:], spacing="Small"))
    actions = [
        execute(
            words("Back to the list"),
            VERB_PHONE_USERS_PAGE,
            listing_data(tenant.tenant_id, query, page),
            validate_inputs=False,
        )
    ]
    return card(body, actions)
