"""The bulk-add cards (issue 18): what to paste, the report before anything is written (rows ready,
each problem with its line), and the one progress card of a running batch."""

from __future__ import annotations

from microsoft_teams.cards import AdaptiveCard, CardElement

from cards.common import banner, card, command, execute, heading, paragraph
from i18n import ENGLISH_WORDS, Words
from services.models import RequestState
from services.requests.batch_file import MAX_ROWS
from services.requests.batches import BatchReport, BatchStatus

VERB_BULK_ADD = "bulk.add"
VERB_BULK_CANCEL = "bulk.cancel"
VERB_BULK_RETRY = "bulk.retry"

# Problems and failures listed on a card; the rest are counted (the card stays far under Teams'
# message limit at any file size: tests/test_cards.py).
SHOWN = 15

TEMPLATE = "teams_user,extension,voice_route\nadele@contoso.example,105,CA Central\nisaiah@contoso.example,108,US West"


def bulk_help_card(words: Words = ENGLISH_WORDS) -> AdaptiveCard:
    return card(
        [
            heading(words("Add many phone users at once")),
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
            paragraph(f"{words('bulk add')}\n\n{TEMPLATE}".replace("\n", "\n\n")),
        ]
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


def bulk_progress_card(status: BatchStatus, words: Words = ENGLISH_WORDS) -> AdaptiveCard:
    c = status.counts
    body: list[CardElement] = [
        heading(words("Bulk add for {tenant}", tenant=status.tenant_name)),
        paragraph(
            words(
                "Added: {done} · Working: {working} · Waiting: {waiting} · Failed: {failed} · Cancelled: {cancelled}",
                done=c[RequestState.done],
                working=sum(
                    n
                    for state, n in c.items()
                    if state
                    not in (
                        RequestState.done,
                        RequestState.failed,
                        RequestState.cancelled,
                        RequestState.queued,
                    )
                ),
                waiting=c[RequestState.queued],
                failed=c[RequestState.failed],
                cancelled=c[RequestState.cancelled],
            )
        ),
    ]
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
