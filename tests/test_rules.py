"""Rules of the seed procedure that need no server: passwords, commands, form parsing."""

from __future__ import annotations

import string

from dialogs.commands import Command, parse_command
from services.passwords import generate_device_password, is_valid_device_password
from services.requests.form import AddUserInput, needs_voicemail_confirmation, to_spec


def test_device_passwords_are_8_letters_and_digits_with_both():
    seen = set()
    for _ in range(2000):
        password = generate_device_password()
        assert len(password) == 8
        assert set(password) <= set(string.ascii_letters + string.digits)
        assert any(c.isdigit() for c in password) and any(c.isalpha() for c in password)
        seen.add(password)
    assert len(seen) == 2000, "passwords do not repeat"


def test_password_rule_refuses_special_characters_and_wrong_lengths():
    assert is_valid_device_password("abcd1234")
    for bad in ["abcd123!", "abcdefgh", "12345678", "abc123", "abcd12345", "abcd 123", "abcé1234"]:
        assert not is_valid_device_password(bad), bad


def test_commands_are_whole_phrases_not_substrings():
    assert parse_command("Add user") is Command.add_user
    assert parse_command("<at>Phone Connector</at> add user!") is Command.add_user
    assert parse_command("  CANCEL ") is Command.cancel
    assert parse_command("my requests") is Command.my_requests
    assert parse_command("please don't add user yet") is Command.unknown
    assert parse_command(None) is Command.unknown
    assert parse_command("") is Command.unknown


def test_form_input_keeps_good_fields_when_others_are_bad():
    form, errors = AddUserInput.from_values(
        {"teams_user": "adele@contoso.example", "extension": ["105"], "disable_voicemail": "false"}
    )
    assert form.teams_user == "adele@contoso.example"
    assert {field: str(error) for field, error in errors.items()} == {"extension": "Must be text."}
    assert form.disable_voicemail is False


def test_voicemail_on_needs_confirmation_and_defaults_are_on():
    form, _ = AddUserInput.from_values({})
    assert form.disable_voicemail is True and form.default_dial_plan is True
    off, _ = AddUserInput.from_values({"disable_voicemail": "false"})
    assert needs_voicemail_confirmation(off)
    confirmed, _ = AddUserInput.from_values({"disable_voicemail": "false", "voicemail_confirmed": "true"})
    assert not needs_voicemail_confirmation(confirmed)


def test_phone_number_defaults_to_the_extension():
    form, _ = AddUserInput.from_values(
        {
            "pbx_location": "PBX",
            "voice_route": "US West",
            "teams_user": "a@b.c",
            "extension": "105",
            "sip_auth_id": "105t",
        }
    )
    assert to_spec(form).phone_number == "105"


def test_the_card_speaks_in_input_ids_and_services_in_field_names():
    from cards.add_user_form import form_values

    values, errors = form_values(
        {"teamsUser": "adele@contoso.example", "disableVoicemail": "false", "requestId": "r", "version": 3}
    )
    assert values == {"teams_user": "adele@contoso.example", "disable_voicemail": "false"}
    assert errors == {}
    values, errors = form_values({"extension": "105", "tenant_id": "someone-else", "state": "done"})
    assert values == {"extension": "105"}
    assert "'state', 'tenant_id'" in str(errors["form"])
