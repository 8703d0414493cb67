"""Every row of a bulk-add file checked before anything is written (issue 18): the single add's
rules (services/requests/form.py `check_form`, the one home of them), the single add's defaults, and
what only a file can get wrong: a user or an extension twice."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from i18n import T, Text
from services.models import FormOptions, PhoneUserSpec
from services.provisioning.protocol import ProvisioningService
from services.requests.batch_file import BatchFile, BatchRow, RowProblem
from services.requests.form import EXISTING_PHONE_USER, AddUserInput, check_form, effective_form, to_spec


@dataclass
class CheckedBatch:
    """The rows ready to add (as specs, with their line) and every problem, by line."""

    ready: list[tuple[int, PhoneUserSpec]] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)


def with_defaults(row: BatchRow, options: FormOptions) -> dict[str, Any]:
    """The single add's defaults: the only location or route when there is one, the phone number
    from the extension (the SIP authentication ID too: effective_form), voicemail off and the
    default dial plan."""
    values: dict[str, Any] = {"disable_voicemail": True, "default_dial_plan": True} | row.values
    if not values.get("pbx_location") and len(options.pbx_locations) == 1:
        values["pbx_location"] = options.pbx_locations[0]
    if not values.get("voice_route") and len(options.voice_routes) == 1:
        values["voice_route"] = options.voice_routes[0].name
    extension = str(values.get("extension") or "")
    values.setdefault("phone_number", extension)
    return values


async def check_batch(service: ProvisioningService, options: FormOptions, batch: BatchFile) -> CheckedBatch:
    checked = CheckedBatch(problems=list(batch.problems))
    users: dict[str, int] = {}
    extensions: dict[tuple[str, str], int] = {}
    for row in batch.rows:
        form, errors = AddUserInput.from_values(with_defaults(row, options))
        form = effective_form(form, options)
        errors = await check_form(service, options, form, errors)
        errors.pop(EXISTING_PHONE_USER, None)
        problems = [_problem(row.line, name, text) for name, text in errors.items()]
        user = form.teams_user.casefold()
        if not problems and user in users:
            problems.append(
                RowProblem(
                    row.line,
                    T("{upn} is in the file twice (line {first}).", upn=form.teams_user, first=users[user]),
                )
            )
        place = (form.pbx_location, form.extension)
        if not problems and place in extensions:
            problems.append(
                RowProblem(
                    row.line,
                    T(
                        "Extension {extension} is in the file twice (line {first}).",
                        extension=form.extension,
                        first=extensions[place],
                    ),
                )
            )
        if problems:
            named = {"teams_user": form.teams_user, "extension": str(row.values.get("extension") or "")}
            checked.problems += [replace(p, **named) for p in problems]
            continue
        users[user] = row.line
        extensions[place] = row.line
        checked.ready.append((row.line, to_spec(form)))
    checked.problems.sort(key=lambda p: p.line)
    return checked


def _problem(line: int, name: str, text: str | Text) -> RowProblem:
    if isinstance(text, Text):
        return RowProblem(line, text)
    return RowProblem(line, T("{field}: {problem}", field=name, problem=text))
