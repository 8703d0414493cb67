"""The audit card: one page of a tenant's audit trail, each entry a sentence a person reads ("Ada
Admin approved adding Isaiah Langer, extension 108"), at the reader's time, in their language;
drafts and cancels hidden unless asked; Older / Newer to page."""

from __future__ import annotations

from typing import Any

from microsoft_teams.cards import AdaptiveCard

from cards.common import card, execute, facts, heading, label_line, paragraph
from i18n import ENGLISH_WORDS, FRENCH, N_, Text, Words, as_text
from services.models import AuditEntry, AuditPage, RequestState

# The card's buttons: another page (data: `olderThan` or `newerThan`, an entry id) of the trail
# with or without the drafts and cancels (`all`). Ids and a flag only: each click reads again.
VERB_AUDIT_PAGE = "audit.page"

# Data can be long (a name of 200 characters, a rejection's reason of 500): the card shows this
# much of each, so 50 entries at their longest stay far within a Teams message (tests/test_cards.py).
NAME_LENGTH = 80
NOTE_LENGTH = 150


def audit_card(page: AuditPage, words: Words = ENGLISH_WORDS) -> AdaptiveCard:
    title = heading(words("Audit: {tenant}", tenant=page.tenant_name))
    shown = (
        words("Newest first, drafts and cancels included.")
        if page.everything
        else words("Newest first. Drafts and cancels are hidden.")
    )
    toggle = execute(
        words("Hide drafts and cancels") if page.everything else words("Show everything"),
        VERB_AUDIT_PAGE,
        {"all": not page.everything},
    )
    if not page.entries:
        return card(
            [title, paragraph(words("Nothing recorded yet.")), paragraph(shown, subtle=True)], [toggle]
        )
    rows = [(words.when(e.at), describe(e, words)) for e in page.entries]
    actions = []
    if page.newer:
        actions.append(
            execute(
                words("Newer"),
                VERB_AUDIT_PAGE,
                {"newerThan": page.entries[0].entry_id, "all": page.everything},
            )
        )
    if page.older:
        actions.append(
            execute(
                words("Older"),
                VERB_AUDIT_PAGE,
                {"olderThan": page.entries[-1].entry_id, "all": page.everything},
            )
        )
    return card([title, paragraph(shown, subtle=True), facts(rows)], [*actions, toggle])


def describe(entry: AuditEntry, words: Words = ENGLISH_WORDS) -> str:
    """One entry as a sentence: who did what to whom ("Ada Admin approved adding Isaiah Langer,
    extension 108"), or what a step did ("Adding Isaiah Langer, extension 108: Calling enabled
    (Ada Admin)")."""
    actor = _clip(_actor(entry, words), NAME_LENGTH)
    what = _what(entry, words)
    action = entry.action
    if action == "refused":
        return _capital(_refused(entry, actor, what, words))
    if what is None:  # no request: a bulk add's check, its approval round
        return _capital(_about_no_request(entry, actor, words))
    if action == "create" and entry.to_state == RequestState.draft.value:
        said = words("{actor} started a draft: {what}", actor=actor, what=what)
    elif action == "create":  # the removal that undoes a partner's add nobody approved
        said = words("{actor} started {what}, to undo an add that was not approved", actor=actor, what=what)
    elif action == "edit":
        said = words("{actor} went back to the form: {what}", actor=actor, what=what)
    elif action == "submit" and entry.from_state == RequestState.queued.value:
        said = words("{actor} started {what} (bulk add)", actor=actor, what=what)
    elif action == "submit":
        said = words("{actor} requested {what}", actor=actor, what=what)
    elif action == "queue":
        said = words("{actor} confirmed {what} in a bulk add", actor=actor, what=what)
    elif action == "cancel" and entry.from_state == RequestState.awaiting_admin_sign_in.value:
        said = words("{actor} stopped {what} before a Global Admin signed in", actor=actor, what=what)
    elif action == "cancel":
        said = words("{actor} cancelled {what}", actor=actor, what=what)
    elif action == "approve":
        said = words("{actor} approved {what}", actor=actor, what=what)
    elif action == "reject":
        reason = _clip(str(_value(entry, "reason") or ""), NOTE_LENGTH)
        said = (
            words("{actor} rejected {what}: {reason}", actor=actor, what=what, reason=reason)
            if reason
            else words("{actor} rejected {what}", actor=actor, what=what)
        )
    else:
        said = _event(entry, actor, what, words)
    return _capital(said)


def _event(entry: AuditEntry, actor: str, what: str, words: Words) -> str:
    """What the bot did, or a person's step that is not a decision."""
    action = entry.action
    if action == "expire":
        days = _number(_value(entry, "days"))
        return (
            words("{what} expired: no global admin decided within {days} days", what=what, days=days)
            if days
            else words("{what} expired: no global admin decided in time", what=what)
        )
    if action in ("remind", "escalate"):
        count = _count(entry)
        if action == "remind":
            return (
                words("Reminder sent to {count} global admin: {what}", count=count, what=what)
                if _one(count, words)
                else words("Reminder sent to {count} global admins: {what}", count=count, what=what)
            )
        return (
            words(
                "Last reminder sent to {count} global admin and the partner: {what}", count=count, what=what
            )
            if _one(count, words)
            else words(
                "Last reminder sent to {count} global admins and the partner: {what}", count=count, what=what
            )
        )
    if action == "retry" and _template(entry) == "new sign-in link":
        return words("{actor} asked for a new sign-in link: {what}", actor=actor, what=what)
    if action == "retry":
        return words("{actor} tried {what} again", actor=actor, what=what)
    if action == "portal_done":
        return words("{actor} did the steps in the portal: {what}", actor=actor, what=what)
    if action == "admin_signed_in":
        return words("{actor} signed in as a Global Admin: {what}", actor=actor, what=what)
    return words("{what}: {step} ({actor})", what=what, step=_step(entry, words), actor=actor)


def _step(entry: AuditEntry, words: Words) -> str:
    """What an automatic step of the request did."""
    steps = {
        "add_user": words("user added"),
        "change_user": words("user changed"),
        "ask_approval": words("sent to the global admins for approval"),
        "admin_sign_in_asked": words("waiting for a Global Admin to sign in"),
        "await_portal": words("waiting for steps in the portal"),
        "disable_calling": words("calling disabled"),
        "delete_user": words("user deleted, extension freed"),
        "reset_password": words("new device password sent"),
        "finish": words("request done"),
    }
    if entry.action in steps:
        return steps[entry.action]
    note = _clip(words(entry.outcome_text), NOTE_LENGTH)  # sync, enable calling: their own note
    return words("failed. {reason}", reason=note) if entry.action == "fail" else note


def _about_no_request(entry: AuditEntry, actor: str, words: Words) -> str:
    if entry.action == "bulk_check":
        ready, problems = _number(_value(entry, "ready")), _number(_value(entry, "problems"))
        rows = (
            words("{count} row ready", count=ready)
            if _one(ready, words)
            else words("{count} rows ready", count=ready)
        )
        found = (
            words("{count} problem", count=problems)
            if _one(problems, words)
            else words("{count} problems", count=problems)
        )
        return words("{actor} checked a bulk add: {rows}, {problems}", actor=actor, rows=rows, problems=found)
    if entry.action == "batch_ask":
        count = _count(entry)
        return (
            words("A bulk add was sent to {count} global admin for approval", count=count)
            if _one(count, words)
            else words("A bulk add was sent to {count} global admins for approval", count=count)
        )
    return label_line(actor, _clip(words(entry.outcome_text), NOTE_LENGTH), words)


def _refused(entry: AuditEntry, actor: str, what: str | None, words: Words) -> str:
    """A refusal, and why, in words: the trail keeps the developer's reason ("decide: not a GA")."""
    why = words(_REFUSALS.get(_refusal_kind(entry.outcome), NOT_ALLOWED))
    if what:
        return words("{actor} was refused ({what}): {why}", actor=actor, what=what, why=why)
    return words("{actor} was refused: {why}", actor=actor, why=why)


_REFUSALS = {
    "stale": N_("an out-of-date card (a second click, or someone acted first)"),
    "admins": N_("only the tenant's global admins may do that"),
    "unknown": N_("no such request"),
    "managed": N_("not an enterprise they manage"),
    "see": N_("not allowed to see that request"),
    "author": N_("only the person who started the request may change it"),
    "data": N_("the card's data was not valid"),
    "role": N_("no role: not a global admin, nor a partner who manages the tenant"),
}
NOT_ALLOWED = N_("not allowed")


def _refusal_kind(outcome: str) -> str:
    """The kind of a refusal's reason as services/ and dialogs/ write them (grep "refused")."""
    for marker, kind in (
        ("stale card", "stale"),
        ("not a GA or partner", "role"),
        ("not a GA", "admins"),
        ("unknown request", "unknown"),
        ("not managed", "managed"),
        ("not allowed", "see"),
        ("not the author", "author"),
        ("malformed", "data"),
        ("bad card data", "data"),
        ("no role", "role"),
        ("not a partner", "role"),
    ):
        if marker in outcome:
            return kind
    return ""


def _what(entry: AuditEntry, words: Words) -> str | None:
    """What the entry's request does, to whom ("adding Isaiah Langer, extension 108"); None when the
    entry is about no request (or one gone from the database)."""
    if not entry.request_id or entry.request_action is None:
        return None
    if not entry.subject and entry.request_action == "add":  # a draft before its user was chosen
        return words("adding a phone user")
    name = _clip(entry.subject, NAME_LENGTH) or entry.request_id[:8]
    extension, old = _clip(entry.extension, 20), _clip(entry.from_extension, 20)
    kind = entry.request_action
    if kind == "change":
        if old and extension and old != extension:
            return words(
                "changing {name}, extension {old} to {extension}", name=name, old=old, extension=extension
            )
        return words("changing {name}", name=name)
    if kind == "reset_password":
        return words("a new device password for {name}", name=name)
    if kind == "disable_calling":
        return words("disabling calling for {name}", name=name)
    if kind == "enable_calling":
        return words("enabling calling for {name}", name=name)
    if kind == "remove":
        extension = extension or old
        if extension:
            return words("removing {name}, extension {extension}", name=name, extension=extension)
        return words("removing {name}", name=name)
    if extension:
        return words("adding {name}, extension {extension}", name=name, extension=extension)
    return words("adding {name}", name=name)


def _actor(entry: AuditEntry, words: Words) -> str:
    """A person's name as the directory gave it; the bot's own words (e.g. "the bot") translated."""
    name = as_text(entry.actor_name_text)
    if isinstance(name, Text):
        return words(name)
    return name or entry.actor_id


def _value(entry: AuditEntry, key: str) -> Any:
    """A value the entry's note was written with (a rejection's reason, a count), if it was a text."""
    outcome = as_text(entry.outcome_text)
    return outcome.values.get(key) if isinstance(outcome, Text) else None


def _template(entry: AuditEntry) -> str:
    outcome = as_text(entry.outcome_text)
    return outcome.template if isinstance(outcome, Text) else str(outcome)


def _count(entry: AuditEntry) -> int:
    return _number(_value(entry, "count"))


def _number(value: Any) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError, OverflowError):
        return 0


def _one(count: int, words: Words) -> bool:
    """Whether `count` takes the singular: 1 in English; 0 and 1 in French ("0 problème")."""
    return count == 1 or (count == 0 and words.language == FRENCH)


def _clip(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1].rstrip() + "…"


def _capital(sentence: str) -> str:
    """A sentence that starts with a lower-case word ("the bot", "adding ...") starts with a capital."""
    return sentence[:1].upper() + sentence[1:]
