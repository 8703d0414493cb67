"""Errors and field errors made by services/ are `Text`s: `message` and `str(...)` are the English (as
before), and a French-speaking person's `Words` shows them in French."""

from __future__ import annotations

import pytest

from i18n import ENGLISH, FRENCH, Text, Words
from services.add_user_rules import phone_number_problem, sip_auth_id_for, sip_auth_id_problem
from services.errors import (
    AdminSignInRequired,
    AlreadyPhoneUser,
    DomainError,
    ExtensionTaken,
    ExtensionUnknown,
    NotAuthorised,
    NotLicensed,
    ProvisioningError,
)
from services.models import FormOptions, Tenant, VoiceRoute
from services.outbound_http import GaveUp
from services.provisioning.connecttoteams.api import _not_answering
from services.requests.form import AddUserInput, check_form

FRENCH_WORDS = Words(FRENCH)


@pytest.mark.parametrize(
    ("error", "english", "french"),
    [
        (
            ExtensionTaken("105", "alex@contoso.example"),
            "Extension 105 is already assigned to alex@contoso.example.",
            "Le poste 105 est déjà attribué à alex@contoso.example.",
        ),
        (
            ExtensionTaken("105", None),
            "Extension 105 is already assigned to another user.",
            "Le poste 105 est déjà attribué à un autre utilisateur.",
        ),
        (
            NotLicensed("lee@contoso.example"),
            "lee@contoso.example has no Teams Phone licence.",
            "lee@contoso.example n'a pas de licence Téléphone Teams.",
        ),
        (
            AlreadyPhoneUser("adele@contoso.example", "101"),
            "adele@contoso.example is already a phone user with extension 101.",
            "adele@contoso.example est déjà un utilisateur téléphonique, au poste 101.",
        ),
        (
            ExtensionUnknown("999", "PBX"),
            "Extension 999 does not exist on PBX.",
            "Le poste 999 n'existe pas sur PBX.",
        ),
        (
            NotAuthorised(
                Text("Only a global admin of {tenant} can retry this step.", {"tenant": "Contoso"})
            ),
            "Only a global admin of Contoso can retry this step.",
            "Seul un administrateur général de Contoso peut réessayer cette étape.",
        ),
    ],
)
def test_a_domain_error_is_english_in_its_message_and_french_for_a_french_reader(
    error: DomainError, english: str, french: str
):
    assert error.message == str(error) == str(error.text) == english
    assert Words(ENGLISH)(error.text) == english
    assert FRENCH_WORDS(error.text) == french


def test_the_sign_in_error_uses_microsofts_french_terms():
    from datetime import UTC, datetime

    needed = AdminSignInRequired("t", "Contoso", "https://x.example", "s", datetime.now(UTC), ["a@b.c"])
    assert needed.message.startswith("Sign in as Global Admin to finish: Contoso has not allowed")
    assert FRENCH_WORDS(needed.text) == (
        "Connectez-vous en tant qu'administrateur général pour terminer\u00a0: Contoso n'a pas autorisé "
        "la gestion par le fournisseur de services; les appels ne peuvent donc être activés qu'avec "
        "la connexion Microsoft d'un administrateur général."
    )


def test_an_error_made_with_a_plain_string_keeps_it_as_its_text():
    error = ProvisioningError("The tenant is suspended.", retryable=False)
    assert error.text == Text("The tenant is suspended.", {})
    assert error.message == FRENCH_WORDS(error.text) == "The tenant is suspended."


@pytest.mark.parametrize(
    ("gave_up", "french_detail"),
    [
        (GaveUp("HTTP 503 after 4 attempt(s)", 503, 4), "(HTTP 503 après 4 tentative(s))"),
        (
            GaveUp("no answer within 2.5 s after 3 attempt(s)", None, 3, no_answer_within=2.5),
            "(aucune réponse en 2.5\u00a0s après 3 tentative(s))",
        ),
        (
            GaveUp(
                "connection failed (ClientOSError) after 2 attempt(s)",
                None,
                2,
                connection_error="ClientOSError",
            ),
            "(échec de la connexion (ClientOSError) après 2 tentative(s))",
        ),
        (
            GaveUp("HTTP 503, asked to wait 600 s", 503, 1, 600.0, asked_to_wait=True),
            "(HTTP 503, attente demandée de 600\u00a0s)",
        ),
    ],
)
def test_a_platform_that_stays_down_is_described_in_the_words_of_its_reason(
    gave_up: GaveUp, french_detail: str
):
    """The English is the message the reason made before; the French says the same in French."""
    text = _not_answering(gave_up)
    assert str(text) == (
        f"The provisioning platform is not answering right now ({gave_up.reason}); nothing was lost, "
        "try again in a few minutes."
    )
    assert french_detail in FRENCH_WORDS(text)


class _Service:
    """Just what check_form asks of the provisioning side: nobody is a user, no extension exists."""

    async def user_state(self, tenant_id: str, upn: str) -> None:
        return None

    async def extension(self, tenant_id: str, pbx_location: str, number: str) -> None:
        return None


async def test_the_forms_field_errors_are_texts_with_their_french():
    options = FormOptions(
        tenant=Tenant(tenant_id="t", name="Contoso"),
        pbx_locations=["PBX"],
        voice_routes=[VoiceRoute(route_id=1, name="CA Central"), VoiceRoute(route_id=2, name="US West")],
        licensed_users=[],
        licensed_user_count=0,
        free_extensions=[],
    )
    form, errors = AddUserInput.from_values(
        {"pbx_location": "PBX", "voice_route": "EU", "teams_user": "nobody@x.example", "extension": "999"}
    )
    errors = await check_form(_Service(), options, form, errors)  # type: ignore[arg-type]
    assert all(isinstance(error, Text) for error in errors.values())
    assert {field: str(error) for field, error in errors.items()} == {
        "voice_route": "Choose a voice route (CA Central or US West).",
        "teams_user": "nobody@x.example is not a user of Contoso.",
        "extension": "Extension 999 does not exist on PBX.",
    }
    assert {field: FRENCH_WORDS(error) for field, error in errors.items()} == {
        "voice_route": "Choisissez une route vocale (CA Central ou US West).",
        "teams_user": "nobody@x.example n'est pas un utilisateur de Contoso.",
        "extension": "Le poste 999 n'existe pas sur PBX.",
    }


@pytest.mark.parametrize(
    ("number", "english", "french"),
    [
        (
            "6045551234",
            "6045551234 looks like the PBX caller ID. The Phone Connector needs the extension here: 106.",
            "6045551234 ressemble à l'identifiant d'appelant du PBX. Le Phone Connector a besoin du poste "
            "ici\u00a0: 106.",
        ),
        (
            "+16045551234",
            "+16045551234 is a full phone number (E.164). The Phone Connector needs the extension here: 106.",
            "+16045551234 est un numéro de téléphone complet (E.164). Le Phone Connector a besoin du poste "
            "ici\u00a0: 106.",
        ),
        (
            "107",
            "The phone number must be the extension (106).",
            "Le numéro de téléphone doit être le poste (106).",
        ),
    ],
)
def test_a_phone_number_is_never_cut_and_the_message_says_what_was_typed(
    number: str, english: str, french: str
):
    problem = phone_number_problem(number, "106")
    assert problem is not None and str(problem) == english and FRENCH_WORDS(problem) == french
    assert phone_number_problem("106", "106") is None and phone_number_problem("", "106") is None


def test_a_typed_sip_authentication_id_starts_with_the_extension():
    assert sip_auth_id_problem("106tp", "106", "tp") is None
    problem = sip_auth_id_problem("999t", "106", "t")
    assert problem is not None and str(problem) == (
        "The SIP authentication ID is the extension followed by a suffix, e.g. 106t."
    )
    assert sip_auth_id_for("106", "tp") == "106tp" and sip_auth_id_for("", "t") == ""


def test_values_that_fail_their_type_check_are_field_errors_in_either_language():
    _, errors = AddUserInput.from_values(
        {"extension": ["105"], "teams_user": "a\u200bb@x.example", "pbx_location": "P" * 101}
    )
    assert {field: (str(error), FRENCH_WORDS(error)) for field, error in errors.items()} == {
        "extension": ("Must be text.", "Doit être du texte."),
        "teams_user": (
            "Contains control or formatting characters.",
            "Contient des caractères de contrôle ou de mise en forme.",
        ),
        "pbx_location": ("This value is too long.", "Cette valeur est trop longue."),
    }
