"""The bulk-add cards (issue 18): what to paste, the report before anything is written (rows ready,
each problem with its line), and the one progress card of a running batch."""

from __future__ import annotations

from microsoft_teams.cards import AdaptiveCard, CardElement, TextInput

from cards.common import banner, card, command, execute, heading, paragraph
from i18n import ENGLISH_WORDS, N_, Words
from services.models import RequestState
from services.requests.batch_file import MAX_ROWS
from services.requests.batches import BatchReport, BatchStatus

VERB_BULK_ADD = "bulk.add"
VERB_BULK_CANCEL = "bulk.cancel"
VERB_BULK_RETRY = "bulk.retry"
VERB_BULK_FOR = "bulk.for"  # a partner picked the enterprise
VERB_BULK_CHECK = "bulk.check"  # the rows pasted in the help card's box

# Problems and failures listed on a card; the rest are counted (the card stays far under Teams'
# message limit at any file size: tests/test_cards.py).
SHOWN = 15

TEMPLATE = "teams_user,extension,voice_route\nadele@contoso.example,105,CA Central\nisaiah@contoso.example,108,US West"


def bulk_help_card(words: Words = ENGLISH_WORDS, partner_for: str | None = None) -> AdaptiveCard:
    """What to send; for a partner, which enterprise the rows go to and that they wait for the
    approval of its global admins."""
    partner: list[CardElement] = []
    if partner_for:
        partner.append(
            banner(
                words(
                    "The rows you send now go to **{tenant}**. Once they have been added, {tenant}'s "
                    "global admins get one card to approve them all.",
                    tenant=partner_for,
                ),
                "accent",
            )
        )
    return card(
        [
            heading(words("Add many phone users at once")),
            *partner,
            paragraph(
                words(
                    "Send a CSV file in this chat, or **bulk add** with the rows on the next lines in "
                    "one message: a first line naming the columns, then one user per line (up to "
                    "{max}). Nothing is added before you have seen a report of every row.",
                    max=MAX_ROWS,
                )
            ),
            paragraph(
                words(
                    "Columns: the Teams user's sign-in address and the extension; optional: voice route, "
                    "PBX location, phone number (the extension), disable voicemail and default dial plan "
                    "(yes or no; yes by default). Commas, semicolons or tabs, as Excel copies them."
                ),
                subtle=True,
            ),
            # The command as the reader types it (dialogs/commands.py knows both), then the rows.
            paragraph(f"{words('bulk add')}\n{TEMPLATE}".replace("\n", "\n\n")),
            # A box keeps the line breaks that some clients drop from a message typed on several
            # lines (bot/message_text.py).
            TextInput(
                id="rows",
                label=words("Or paste the rows here (with the line naming the columns):"),
                is_multiline=True,
                is_required=True,
                error_message=words("Paste the rows first."),
                placeholder=TEMPLATE.splitlines()[0],
            ),
        ],
        [execute(words("Check the rows"), VERB_BULK_CHECK, {}, style="positive")],
    )


def bulk_report_card(report: BatchReport, words: Words = ENGLISH_WORDS) -> AdaptiveCard:
    body: list[CardElement] = [
        heading(words("Bulk add for {tenant}: the check", tenant=report.tenant.name)),
        paragraph(
            words(
                "{ready} user(s) ready to add, {problems} problem(s). Nothing has been sent yet.",
                ready=report.ready,
                problems=len(report.problems),
            )
        ),
    ]
    if report.problems:
        lines = [
            words("Line {line}: {problem}", line=p.line, problem=words(p.text))
            for p in report.problems[:SHOWN]
        ]
        if len(report.problems) > SHOWN:
            lines.append(words("…and {count} more problem(s).", count=len(report.problems) - SHOWN))
        body.append(banner("\n\n".join(lines), "warning"))
        body.append(
            paragraph(
                words("Fix those rows and send them again with **bulk add** to add them too."), subtle=True
            )
        )
    data = {"batchId": report.batch_id}
    actions = []
    if report.ready:
        actions.append(
            execute(
                words("Add {count} user(s)", count=report.ready),
                VERB_BULK_ADD,
                data,
                style="positive",
                validate_inputs=False,
            )
        )
    actions.append(execute(words("Cancel"), VERB_BULK_CANCEL, data, validate_inputs=False))
    return card(body, actions)


# A partner's rows between the add and the approval's end.
_DECIDING = (RequestState.awaiting_approval, RequestState.rejected, RequestState.expired)


def bulk_progress_card(status: BatchStatus, words: Words = ENGLISH_WORDS) -> AdaptiveCard:
    c = status.counts
    settled = (
        RequestState.done,
        RequestState.failed,
        RequestState.cancelled,
        RequestState.queued,
        *_DECIDING,
    )
    # Each count once it is not zero (Added always): a finished card shows no row of zeros.
    counts = [
        (N_("Added: {count}"), c[RequestState.done]),
        (N_("Working: {count}"), sum(n for state, n in c.items() if state not in settled)),
        (N_("Waiting: {count}"), c[RequestState.queued]),
        (N_("Waiting for approval: {count}"), c[RequestState.awaiting_approval]),
        (N_("Failed: {count}"), c[RequestState.failed]),
        (N_("Cancelled: {count}"), c[RequestState.cancelled]),
        (N_("Rejected: {count}"), c[RequestState.rejected]),
        (N_("Expired: {count}"), c[RequestState.expired]),
    ]
    shown = [words(text, count=n) for i, (text, n) in enumerate(counts) if n or i == 0]
    body: list[CardElement] = [
        heading(words("Bulk add for {tenant}", tenant=status.tenant_name)),
        paragraph(" · ".join(shown)),
    ]
    if status.problems:
        lines = [
            words("Line {line}: {problem}", line=line, problem=words(why))
            for line, why, _, _ in status.problems[:SHOWN]
        ]
        if len(status.problems) > SHOWN:
            lines.append(words("…and {count} more problem(s).", count=len(status.problems) - SHOWN))
        left_out = words(
            "Not in this batch, from the check: fix these rows and send them again with **bulk add**."
        )
        body.append(banner("\n\n".join([left_out, *lines]), "warning"))
    if status.failures:
        lines = [
            words("Line {line}, {user}: {why}", line=line, user=user, why=words(why) if why else "")
            for line, user, why in status.failures[:SHOWN]
        ]
        if len(status.failures) > SHOWN:
            lines.append(words("…and {count} more failure(s).", count=len(status.failures) - SHOWN))
        body.append(banner("\n\n".join(lines), "attention"))
    actions = []
    if status.running:
        body.append(paragraph(words("Working... this card updates every few seconds."), subtle=True))
        actions.append(
            execute(words("Cancel"), VERB_BULK_CANCEL, {"batchId": status.batch_id}, validate_inputs=False)
        )
    elif c[RequestState.awaiting_approval]:
        body.append(
            banner(
                words(
                    "**Sent for approval.** {count} user(s) added at the service wait for a global admin "
                    "of {tenant}; you will be told when they decide.",
                    count=c[RequestState.awaiting_approval],
                    tenant=status.tenant_name,
                ),
                "accent",
            )
        )
    else:
        body.append(
            banner(
                words(
                    "**Finished.** {done} of {total} user(s) added.",
                    done=c[RequestState.done],
                    total=status.total,
                ),
                "good" if not status.failures else "warning",
            )
        )
        if status.failures:
            actions.append(
                execute(
                    words("Try the failed rows again"),
                    VERB_BULK_RETRY,
                    {"batchId": status.batch_id},
                    style="positive",
                    validate_inputs=False,
                )
            )
        actions.append(command(words("Phone users"), "phone users"))
    return card(body, actions)
