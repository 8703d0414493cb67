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
    QueryData,
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
from i18n import ENGLISH_WORDS, N_, T, Words
from services.models import FormOptions, ProvisioningRequest, RequestAction, RequestKind, TeamsUser
from services.requests.form import (
    DISPLAY_NAME,
    EXISTING_PHONE_USER,
    EXTENSION_PATTERN,
    SIP_AUTH_ID_PATTERN,
    FieldErrors,
)

USER_DATASET = "licensedTeamsUsers"
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
}

# Keys a card may send besides its inputs: our ids, the Submit fallback's verb, Teams' own.
CARD_DATA_KEYS = frozenset({"requestId", "version", "verb", "msteams"})

VOICEMAIL_WARNING = N_(
    "Leaving Teams voicemail on stops calls from reaching the user's PBX voicemail "
    "and can break call queue routing."
)


def voicemail_warning(words: Words = ENGLISH_WORDS) -> str:
    """The warning the form and the review card show when Teams voicemail stays on."""
    return words("**Teams voicemail stays on.**") + " " + words(VOICEMAIL_WARNING)


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
        ChoiceSetInput(
            id="pbxLocation",
            label=words("PBX location"),
            style="compact",
            is_required=True,
            error_message=words("Choose a PBX location."),
            choices=[Choice(title=name, value=name) for name in options.pbx_locations],
            value=str(values.get("pbx_location") or "") or None,
        ),
        "pbx_location",
    )
    add(
        ChoiceSetInput(
            id="voiceRoute",
            label=words("Voice route"),
            style="compact",
            is_required=True,
            error_message=words("Choose a voice route."),
            choices=[Choice(title=r.name, value=r.name) for r in options.voice_routes],
            value=str(values.get("voice_route") or "") or None,
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
    free = [e.number for e in options.free_extensions][:SHOWN_FREE_EXTENSIONS]
    free_note = (
        words("Free extensions: {extensions}.", extensions=", ".join(free))
        if free
        else words("No free extensions left.")
    )
    add(
        TextInput(
            id="extension",
            label=words("SIP user (PBX extension)"),
            is_required=True,
            regex=EXTENSION_PATTERN,
            error_message=words("Enter the extension, digits only."),
            placeholder=words("e.g. 105"),
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
            regex=r"^[0-9]*$",
            error_message=words("Digits only."),
            placeholder=words("Same as the extension"),
            value=str(values.get("phone_number") or extension) or None,
            max_length=8,
        ),
        "phone_number",
        words(
            "The portal pre-fills the PBX caller ID here, but the Phone Connector needs the "
            "extension: the bot fills in the extension for you."
        ),
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
            Container(
                style="warning",
                items=[
                    paragraph(voicemail_warning(words)),
                    ToggleInput(
                        id="voicemailConfirmed",
                        title=words("I understand: keep Teams voicemail on"),
                        value="false",
                        value_on="true",
                        value_off="false",
                        wrap=True,
                    ),
                ],
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
    add(
        TextInput(
            id="sipAuthId",
            label=words("Device: SIP authentication ID"),
            regex=SIP_AUTH_ID_PATTERN,
            error_message=words("Letters, digits, dots, dashes or underscores."),
            placeholder=words("The extension followed by t, e.g. 105t"),
            value=str(values.get("sip_auth_id") or (f"{extension}t" if extension else "")) or None,
            max_length=64,
        ),
        "sip_auth_id",
        words(
            "Device password: the bot generates one (8 letters and digits) and sends it straight "
            "to the PBX. Nobody sees it and the bot does not keep it."
        ),
    )
    data = request_data(request.request_id, request.version)
    return card(
        body,
        [
            execute(words("Review"), VERB_SUBMIT_FORM, data, style="positive"),
            execute(words("Cancel"), VERB_CANCEL, data, validate_inputs=False),
        ],
    )


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
        selected = [c for c in choices if c.value == current]
        if current and not selected:
            selected = [Choice(title=current, value=current)]
        field.placeholder = words("Type a name or address")
        field.choices = selected
        field.choices_data = QueryData(dataset=f"{USER_DATASET}:{request_id}")
    return field
