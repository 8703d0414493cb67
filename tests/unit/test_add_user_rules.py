"""The add-user rules (services/add_user_rules.py): each rule, its typed error and its one wording."""

from __future__ import annotations

import pytest

from services.add_user_rules import (
    require_extension_exists,
    require_extension_free,
    require_licensed,
    require_not_phone_user_elsewhere,
)
from services.errors import AlreadyPhoneUser, ExtensionTaken, ExtensionUnknown, NotLicensed
from services.models import TeamsUser

ADELE = TeamsUser(upn="adele@contoso.example", display_name="Adele Vance", licensed=True)
NESTOR = TeamsUser(upn="nestor@contoso.example", display_name="Nestor Wilke", licensed=False)


def test_only_licensed_users():
    assert require_licensed(ADELE, ADELE.upn) is ADELE
    for user in (NESTOR, None):
        with pytest.raises(NotLicensed) as refused:
            require_licensed(user, "nestor@contoso.example")
        assert refused.value.message == "nestor@contoso.example has no Teams Phone licence."
        assert not refused.value.retryable


def test_a_phone_user_keeps_their_extension():
    require_not_phone_user_elsewhere(ADELE.upn, (None, None), ("PBX", "105"))  # not a phone user yet
    require_not_phone_user_elsewhere(ADELE.upn, ("PBX", "105"), ("PBX", "105"))  # the same: an edit
    require_not_phone_user_elsewhere(ADELE.upn, (None, "105"), ("PBX", "105"))  # location unknown
    for current in (("PBX", "101"), ("PBX West", "105")):
        with pytest.raises(AlreadyPhoneUser) as refused:
            require_not_phone_user_elsewhere(ADELE.upn, current, ("PBX", "105"))
        assert (
            refused.value.message
            == f"adele@contoso.example is already a phone user with extension {current[1]}."
        )


def test_the_extension_exists_at_that_location():
    require_extension_exists(True, "105", "PBX")
    with pytest.raises(ExtensionUnknown) as refused:
        require_extension_exists(False, "999", "PBX East")
    assert refused.value.message == "Extension 999 does not exist on PBX East."


def test_an_extension_belongs_to_one_user():
    require_extension_free(None, "105", ADELE.upn)
    require_extension_free("ADELE@contoso.example", "105", ADELE.upn)  # already hers: an edit
    with pytest.raises(ExtensionTaken) as refused:
        require_extension_free("alex@contoso.example", "101", ADELE.upn)
    assert refused.value.message == "Extension 101 is already assigned to alex@contoso.example."
