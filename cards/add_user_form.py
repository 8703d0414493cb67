"""The add-user form: every field of the portal's "Add User" page, with the portal's fixes built in."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from microsoft_teams.cards import (
    ActionSet,
    AdaptiveCard,
    CardElement,
    Choice,
    ChoiceSetInput,
    Container,
    Fact,
    FactSet,
    TextInput,
    ToggleInput,
)

from cards.common import (
    VERB_CANCEL,
    VERB_SUBMIT_FORM,
    card,
    execute,
    field_error,
    heading,
    paragraph,
    request_data,
)
from cards.phone_users import VERB_PHONE_USER_OPEN, listing_data
from cards.request_state import approved_before
from cards.typeahead import searched_as_typed
from i18n import ENGLISH_WORDS, N_, T, Words
from services.add_user_rules import sip_auth_id_for
from services.models import FormOptions, ProvisioningRequest, RequestAction, RequestKind, TeamsUser
from services.requests.form import (
    DISPLAY_NAME,
    EXISTING_PHONE_USER,
    EXTENSION_PATTERN,
    SIP_AUTH_ID_PATTERN,
    FieldErrors,
)

USER_DATASET = "licensedTeamsUsers"
# A provider's large tenant: its PBX locations and voice routes are searched as the person types
# past this many (a listed choice costs its name twice; 200 of them would pass Teams' limit).
LOCATION_DATASET = "pbxLocations"
ROUTE_DATASET = "voiceRoutes"
CHOICES_LISTED = 30
SHOWN_FREE_EXTENSIONS = 12

# The form's input ids, as the card names them, and the field of the request each one fills: the
# card's names stay on this side; services/ take and store field names only.
INPUT_IDS = {
    "pbxLocation": "pbx_location",
    "voiceRoute": "voice_route",
    "teamsUser": "teams_user",
    "extension": "extension",
    "phoneNumber": "phone_number",
    "disableVoicemail": "disable_voicemail",
    "defaultDialPlan": "default_dial_plan",
    "sipAuthId": "sip_auth_id",
    "voicemailConfirmed": "voicemail_confirmed",
    "dialPlanConfirmed": "dial_plan_confirmed",
}

# Keys a card may send besides its inputs: our ids, the Submit fallback's verb, Teams' own.
CARD_DATA_KEYS = frozenset({"requestId", "version", "verb", "msteams"})

VOICEMAIL_WARNING = N_(
    "Leaving Teams voicemail on stops calls from reaching the user's PBX voicemail "
    "and can break call queue routing."
)


# What a user without the default dial plan policy loses (Microsoft, "What are dial plans?":
# a dial plan's normalization rules translate what a user dials into a number Teams can route).
DIAL_PLAN_WARNING = N_(
    "Without the default dial plan policy, the numbers this user dials in Teams (other extensions, "
    "short numbers) are not translated for the PBX, and those calls can fail."
)


def voicemail_warning(words: Words = ENGLISH_WORDS) -> str:
    """The warning the form and the review card show when Teams voicemail stays on."""
    return words("**Teams voicemail stays on.**") + " " + words(VOICEMAIL_WARNING)


def dial_plan_warning(words: Words = ENGLISH_WORDS) -> str:
    """The warning the form and the review card show without the default dial plan policy."""
    return words("**No default dial plan policy.**") + " " + words(DIAL_PLAN_WARNING)


def _confirmation(warning: str, input_id: str, title: str) -> Container:
    """A warning and the box that confirms it, as the procedure asks for the other choice."""
    toggle = ToggleInput(
        id=input_id, title=title, value="false", value_on="true", value_off="false", wrap=True
    )
    return Container(style="warning", items=[paragraph(warning), toggle])


def form_values(data: Mapping[str, Any]) -> tuple[dict[str, Any], FieldErrors]:
    """What the form card sent, by field name. Keys the form does not have are an error under
    "form", and nothing is kept from them (a crafted submit cannot set other columns)."""
    values = {name: data[key] for key, name in INPUT_IDS.items() if key in data}
    unexpected = sorted(k for k in data if k not in INPUT_IDS and k not in CARD_DATA_KEYS)
    errors: FieldErrors = {}
    if unexpected:
        shown = ", ".join(repr(k[:40]) for k in unexpected[:3])
        # A Text: the form is drawn again later, in the language of whoever reads it then.
        errors["form"] = T(
            "The card sent fields this form does not have ({fields}). Nothing was saved from them.",
            fields=shown,
        )
    return values, errors


def add_user_form(
    request: ProvisioningRequest,
    options: FormOptions,
    errors: FieldErrors | None = None,
    *,
    confirm_voicemail: bool = False,
    confirm_dial_plan: bool = False,
    words: Words = ENGLISH_WORDS,
) -> AdaptiveCard:
    errors = errors or {}
    values: Mapping[str, Any] = request.values
    extension = str(values.get("extension") or "")
    tenant = options.tenant.name
    changing = request.action is RequestAction.change
    if changing:
        name = str(values.get(DISPLAY_NAME) or values.get("teams_user") or "")
        body: list[CardElement] = [heading(words("Change {name} in {tenant}", name=name, tenant=tenant))]
    else:
        body = [heading(words("Add a phone user to {tenant}", tenant=tenant))]
    if request.kind is RequestKind.partner and changing:
        body.append(approved_before(tenant, words))
    elif request.kind is RequestKind.partner:
        body.append(
            paragraph(
                words(
                    "A global admin of {tenant} approves the last steps (sync and enable calling).",
                    tenant=tenant,
                ),
                subtle=True,
            )
        )
    # Errors come from services/ and from form_values as plain strings or Texts; words() shows both.
    form_error = errors.get("form")
    if form_error:
        body.append(paragraph(words(form_error), color="Attention"))
    elif errors:
        body.append(paragraph(words("Please fix the fields marked below."), color="Attention"))

    def add(element: CardElement, field: str, note: str | None = None) -> None:
        body.append(element)
        if note:
            body.append(paragraph(note, subtle=True))
        problem = errors.get(field)
        if problem:
            body.append(field_error(words(problem)))
        existing = errors.get(EXISTING_PHONE_USER) if field == "teams_user" else None
        if existing:
            # Not re-added: their card is where they are changed (issue 16).
            data = listing_data(request.tenant_id, "", 1) | {"upn": str(existing)}
            open_card = execute(
                words("Open this phone user"), VERB_PHONE_USER_OPEN, data, validate_inputs=False
            )
            body.append(ActionSet(actions=[open_card], spacing="Small"))

    add(
        _choices(
            "pbxLocation",
            words("PBX location"),
            words("Choose a PBX location."),
            options.pbx_locations,
            str(values.get("pbx_location") or ""),
            f"{LOCATION_DATASET}:{request.request_id}",
            words,
        ),
        "pbx_location",
    )
    add(
        _choices(
            "voiceRoute",
            words("Voice route"),
            words("Choose a voice route."),
            [r.name for r in options.voice_routes],
            str(values.get("voice_route") or ""),
            f"{ROUTE_DATASET}:{request.request_id}",
            words,
        ),
        "voice_route",
    )
    current = str(values.get("teams_user") or "")
    if changing:  # a change keeps its user: the one choice
        user_input = ChoiceSetInput(
            id="teamsUser",
            label=words("Teams user"),
            is_required=True,
            error_message=words("Choose the Teams user."),
            choices=[Choice(title=f"{values.get(DISPLAY_NAME) or current} ({current})", value=current)],
            value=current,
        )
        add(user_input, "teams_user")
    else:
        add(
            _teams_user_input(options, current, request.request_id, words),
            "teams_user",
            words("Only users with a Teams Phone licence are listed."),
        )
    location = str(values.get("pbx_location") or "") or (options.pbx_locations or [""])[0]
    free_note, example = free_extensions_hint(options, location, words)
    add(
        TextInput(
            id="extension",
            label=words("SIP user (PBX extension)"),
            is_required=True,
            regex=EXTENSION_PATTERN,
            error_message=words("Enter the extension, digits only."),
            placeholder=words("e.g. {extension}", extension=example) if example else None,
            value=extension or None,
            max_length=8,
        ),
        "extension",
        free_note
        + " "
        + words("An extension can belong to one user only.")
        + (
            " " + words("A new extension takes the phone number and the SIP authentication ID with it.")
            if changing
            else ""
        ),
    )
    add(
        TextInput(
            id="phoneNumber",
            label=words("Phone number"),
            # Long enough for any number a person may paste (E.164: + and 15 digits): a number is
            # never cut, it is refused with a reason (services/add_user_rules.py).
            regex=r"^\+?[0-9]*$",
            error_message=words("Digits only, or + and digits."),
            placeholder=words("Same as the extension"),
            value=str(values.get("phone_number") or extension) or None,
            max_length=16,
        ),
        "phone_number",
        words("The Phone Connector needs the extension here, not the PBX caller ID: leave it as it is."),
    )
    add(
        ToggleInput(
            id="disableVoicemail",
            title=words("Disable voicemail in Teams"),
            value="true" if values.get("disable_voicemail", True) else "false",
            value_on="true",
            value_off="false",
            wrap=True,
        ),
        "disable_voicemail",
    )
    if confirm_voicemail:
        body.append(
            _confirmation(
                voicemail_warning(words), "voicemailConfirmed", words("I understand: keep Teams voicemail on")
            )
        )
    add(
        ToggleInput(
            id="defaultDialPlan",
            title=words("Assign default dial plan policy"),
            value="true" if values.get("default_dial_plan", True) else "false",
            value_on="true",
            value_off="false",
            wrap=True,
        ),
        "default_dial_plan",
    )
    if confirm_dial_plan:
        body.append(
            _confirmation(
                dial_plan_warning(words),
                "dialPlanConfirmed",
                words("I understand: no default dial plan policy"),
            )
        )
    password_note = words(
        "Device password: the bot generates one (8 letters and digits) and sends it straight "
        "to the PBX. Nobody sees it and the bot does not keep it."
    )
    suffix = options.sip_auth_suffix
    if options.sip_auth_editable:
        add(
            TextInput(
                id="sipAuthId",
                label=words("Device: SIP authentication ID"),
                regex=SIP_AUTH_ID_PATTERN,
                error_message=words("The extension, then letters or digits."),
                placeholder=words(
                    "The extension followed by {suffix}, e.g. {example}",
                    suffix=suffix,
                    example=sip_auth_id_for(example or "105", suffix),
                ),
                value=str(values.get("sip_auth_id") or sip_auth_id_for(extension, suffix)) or None,
                max_length=16,
            ),
            "sip_auth_id",
            password_note,
        )
    else:
        # Derived, not typed (services/requests/form.py effective_form): shown as it will be sent.
        shown = sip_auth_id_for(extension, suffix) or words(
            "The extension followed by {suffix}, e.g. {example}",
            suffix=suffix,
            example=sip_auth_id_for(example or "105", suffix),
        )
        add(
            FactSet(facts=[Fact(title=words("Device: SIP authentication ID"), value=shown)]),
            "sip_auth_id",
            password_note,
        )
    data = request_data(request.request_id, request.version)
    return card(
        body,
        [
            execute(words("Review"), VERB_SUBMIT_FORM, data, style="positive"),
            execute(words("Cancel"), VERB_CANCEL, data, validate_inputs=False),
        ],
    )


def free_extensions_hint(options: FormOptions, location: str, words: Words) -> tuple[str, str]:
    """The free extensions as a hint, per PBX location when the tenant has several (so that an
    extension of one is not tried at the other), and an example for the placeholder: the first
    free one at `location`."""
    by_location: dict[str, list[str]] = {}
    for e in options.free_extensions:
        by_location.setdefault(e.pbx_location, []).append(e.number)
    if not by_location:
        return words("No free extensions left."), ""
    example = (by_location.get(location) or [""])[0]
    if len(options.pbx_locations) < 2:
        numbers = [n for found in by_location.values() for n in found][:SHOWN_FREE_EXTENSIONS]
        return words("Free extensions: {extensions}.", extensions=number_ranges(numbers)), example
    lines = [
        words("Free at {location}: {extensions}.", location=name, extensions=number_ranges(numbers))
        for name, numbers in by_location.items()
    ]
    return " ".join(lines), example


def number_ranges(numbers: list[str]) -> str:
    """ "200-204, 207": runs of consecutive numbers shortened, in the order given."""
    runs: list[list[str]] = []
    for n in numbers:
        if runs and n.isdigit() and runs[-1][-1].isdigit() and int(n) == int(runs[-1][-1]) + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 2 else ", ".join(r) for r in runs)


def user_choice_title(user: TeamsUser, words: Words = ENGLISH_WORDS) -> str:
    """How the user list and the typeahead name a user: existing phone users with their extension."""
    if user.phone_extension:
        return words(
            "{name} ({upn}, extension {extension})",
            name=user.display_name,
            upn=user.upn,
            extension=user.phone_extension,
        )
    return f"{user.display_name} ({user.upn})"


def _choices(
    input_id: str, label: str, error: str, names: list[str], current: str, dataset: str, words: Words
) -> ChoiceSetInput:
    """A dropdown of the tenant's names, or, past CHOICES_LISTED, a box Teams searches as the
    person types (application/search with `dataset`; the chosen one stays listed)."""
    field = ChoiceSetInput(
        id=input_id,
        label=label,
        style="compact",
        is_required=True,
        error_message=error,
        choices=[Choice(title=name, value=name) for name in names],
        value=current or None,
    )
    if len(names) > CHOICES_LISTED:
        field.style = "filtered"
        field.placeholder = words("Type to search")
        field = searched_as_typed(field, dataset)
    return field


def _teams_user_input(options: FormOptions, current: str, request_id: str, words: Words) -> ChoiceSetInput:
    choices = [Choice(title=user_choice_title(u, words), value=u.upn) for u in options.licensed_users]
    field = ChoiceSetInput(
        id="teamsUser",
        label=words("Teams user"),
        style="filtered",
        is_required=True,
        error_message=words("Choose the Teams user."),
        placeholder=words("Choose a user"),
        choices=choices,
        value=current or None,
    )
    if options.needs_user_search:
        # A large tenant: Teams asks the bot as the admin types (application/search invoke).
        field.placeholder = words("Type a name or address")
        field = searched_as_typed(field, f"{USER_DATASET}:{request_id}")
    return field
