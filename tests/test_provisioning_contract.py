"""One behavioural suite for every `ProvisioningService` (and `Directory`) implementation.

The embedded service runs on its seeded database; the ConnecttoTeams service runs against the local
platform double, the fake Graph and a PBX directory file holding the same demo world.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.db import Database
from services.directory import Directory, EmbeddedDirectory
from services.errors import (
    AlreadyPhoneUser,
    ExtensionTaken,
    ExtensionUnknown,
    NotLicensed,
    PortalStepsRequired,
    ProvisioningError,
)
from services.models import PhoneUserSpec, Role
from services.provisioning.connecttoteams import SqlPhoneUserRecords
from services.provisioning.embedded import EmbeddedProvisioningService
from services.provisioning.graph import GraphDirectory
from services.provisioning.protocol import ProvisioningService
from services.seed_data import load_world
from tests.ctt_world import build_ctt_world, partners_of
from tests.doubles import (
    CONTOSO,
    CONTOSO_ADMIN,
    CONTOSO_ADMIN2,
    CONTOSO_USER,
    FABRIKAM,
    FABRIKAM_ADMIN,
    NORTHWIND,
    NORTHWIND_PARTNER,
    TAILSPIN,
    TAILSPIN_PARTNER,
)

PASSWORD = "Abcd1234"
UNKNOWN_TENANT = "00000000-0000-4000-8000-000000000000"


@dataclass
class Backend:
    name: str
    service: ProvisioningService
    directory: Directory
    # What a person's "Delete User" in the platform's portal does (the platform double's part);
    # None where the backend deletes through its own call.
    portal_delete: Callable[[str, str], None] | None = None


@pytest.fixture(params=["embedded", "connecttoteams"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}")
    await database.create()
    try:
        if request.param == "embedded":
            await load_world(database)
            yield Backend("embedded", EmbeddedProvisioningService(database), EmbeddedDirectory(database))
        else:
            records = SqlPhoneUserRecords(database)
            await records.create()
            ctt = await build_ctt_world(tmp_path, records=records)
            try:
                directory = GraphDirectory(ctt.graph_client, partners_of(ctt.world), customers=ctt.service)
                yield Backend("connecttoteams", ctt.service, directory, ctt.ctt.portal_delete)
            finally:
                await ctt.close()
    finally:
        await database.close()


def spec(**overrides: object) -> PhoneUserSpec:
    values: dict[str, object] = {
        "pbx_location": "PBX",
        "voice_route": "CA Central",
        "teams_user": "adele@contoso.example",
        "extension": "105",
        "phone_number": "105",
        "sip_auth_id": "105t",
    }
    return PhoneUserSpec.model_validate(values | overrides)


# -- what the form offers ----------------------------------------------------------------------------


async def test_ping(backend: Backend):
    await backend.service.ping()


async def test_tenants_by_id(backend: Backend):
    s = backend.service
    assert (await s.tenant(CONTOSO)).name == "Contoso"
    assert (await s.tenant(FABRIKAM)).name == "Fabrikam"
    assert (await s.tenant(NORTHWIND)).name == "Northwind Voice"
    assert await s.tenant(UNKNOWN_TENANT) is None


async def test_enterprises_of_a_partner(backend: Backend):
    s = backend.service
    # Northwind manages Litware too: the demo world's tenant for a 200-user bulk add, a partner's too.
    assert [t.name for t in await s.enterprises_of(NORTHWIND)] == ["Contoso", "Fabrikam", "Litware"]
    assert [t.name for t in await s.enterprises_of(TAILSPIN)] == ["Fabrikam"]
    assert await s.enterprises_of(CONTOSO) == []
    assert await s.enterprises_of(UNKNOWN_TENANT) == []


async def test_form_options_for_contoso(backend: Backend):
    options = await backend.service.form_options(CONTOSO)
    assert options.tenant.name == "Contoso"
    assert options.pbx_locations == ["PBX"]
    assert [(r.route_id, r.name) for r in options.voice_routes] == [(1, "CA Central"), (2, "US West")]
    assert options.licensed_user_count == 12
    names = [u.display_name for u in options.licensed_users]
    assert names == sorted(names) and "Adele Vance" in names and "Nestor Wilke" not in names
    assert all(u.licensed for u in options.licensed_users)
    # The first 12 free extensions, in number order: the form's hint.
    assert [e.number for e in options.free_extensions] == [str(n) for n in range(102, 114)]
    assert options.free_extensions[0].caller_id == "6045550102"
    assert not options.needs_user_search


async def test_form_options_for_fabrikam(backend: Backend):
    options = await backend.service.form_options(FABRIKAM)
    assert options.pbx_locations == ["PBX East", "PBX West"]
    assert [r.name for r in options.voice_routes] == ["US West"]
    assert options.licensed_user_count == 8
    assert len(options.free_extensions) == 10


async def test_form_options_for_an_unknown_tenant(backend: Backend):
    with pytest.raises(ProvisioningError):
        await backend.service.form_options(UNKNOWN_TENANT)


async def test_search_licensed_users(backend: Backend):
    s = backend.service
    assert [u.upn for u in await s.search_licensed_users(CONTOSO, "ADELE")] == ["adele@contoso.example"]
    assert [u.display_name for u in await s.search_licensed_users(CONTOSO, "vance")] == ["Adele Vance"]
    assert await s.search_licensed_users(CONTOSO, "nestor") == []
    # The search's rule (services/provisioning/search.py) on every backend: never the domain alone.
    assert await s.search_licensed_users(CONTOSO, "contoso") == []
    assert await s.search_licensed_users(CONTOSO, "x") == []
    assert [u.upn for u in await s.search_licensed_users(CONTOSO, "adele@contoso")] == [
        "adele@contoso.example"
    ]
    assert len(await s.search_licensed_users(CONTOSO, "", limit=3)) == 3


async def test_teams_user(backend: Backend):
    s = backend.service
    nestor = await s.teams_user(CONTOSO, "nestor@contoso.example")
    assert nestor is not None and not nestor.licensed
    megan = await s.teams_user(CONTOSO, "MEGAN@contoso.example")
    assert megan is not None and megan.upn == "megan@contoso.example" and megan.licensed
    assert await s.teams_user(CONTOSO, "nobody@contoso.example") is None


async def test_extensions(backend: Backend):
    s = backend.service
    taken = await s.extension(CONTOSO, "PBX", "101")
    assert taken is not None and taken.assigned_to == "alex@contoso.example"
    free = await s.extension(CONTOSO, "PBX", "105")
    assert free is not None and free.assigned_to is None and free.caller_id == "6045550105"
    assert await s.extension(CONTOSO, "PBX", "999") is None
    assert await s.extension(FABRIKAM, "PBX West", "200") is None


async def test_users_that_were_there_before(backend: Backend):
    s = backend.service
    assert await s.calling_enabled(CONTOSO, "megan@contoso.example")
    state = await s.user_state(CONTOSO, "alex@contoso.example")
    assert state is not None and state.provisioned and state.extension == "101"
    adele = await s.user_state(CONTOSO, "adele@contoso.example")
    assert adele is not None and adele.licensed and not adele.provisioned
    assert await s.sync_required(CONTOSO) is False


# -- adding a user and the steps after ---------------------------------------------------------------


async def test_add_sync_and_enable_calling(backend: Backend):
    s = backend.service
    await s.add_user(CONTOSO, spec(disable_voicemail=False), PASSWORD)

    state = await s.user_state(CONTOSO, "adele@contoso.example")
    assert state is not None
    assert (state.provisioned, state.calling_enabled) == (True, False)
    assert (state.pbx_location, state.voice_route, state.extension) == ("PBX", "CA Central", "105")
    assert (state.phone_number, state.sip_auth_id) == ("105", "105t")
    assert (state.voicemail_disabled, state.default_dial_plan, state.device_password_set) == (
        False,
        True,
        True,
    )
    assert (await s.extension(CONTOSO, "PBX", "105")).assigned_to == "adele@contoso.example"
    assert "105" not in [e.number for e in (await s.form_options(CONTOSO)).free_extensions]

    assert await s.sync_required(CONTOSO)
    with pytest.raises(ProvisioningError) as early:
        await s.enable_calling(CONTOSO, "adele@contoso.example")
    assert early.value.retryable

    await s.sync_users(CONTOSO)
    assert not await s.sync_required(CONTOSO)
    assert not await s.calling_enabled(CONTOSO, "adele@contoso.example")
    await s.enable_calling(CONTOSO, "adele@contoso.example")
    assert await s.calling_enabled(CONTOSO, "adele@contoso.example")


async def test_the_same_add_again_is_an_edit(backend: Backend):
    s = backend.service
    await s.add_user(CONTOSO, spec(), PASSWORD)
    await s.add_user(CONTOSO, spec(), PASSWORD)
    assert (await s.extension(CONTOSO, "PBX", "105")).assigned_to == "adele@contoso.example"
    state = await s.user_state(CONTOSO, "adele@contoso.example")
    assert state is not None and state.extension == "105"


async def test_a_taken_extension(backend: Backend):
    with pytest.raises(ExtensionTaken) as taken:
        await backend.service.add_user(CONTOSO, spec(extension="101", phone_number="101"), PASSWORD)
    assert (taken.value.extension, taken.value.assigned_to) == ("101", "alex@contoso.example")
    assert not taken.value.retryable


async def test_an_unlicensed_user(backend: Backend):
    with pytest.raises(NotLicensed) as refused:
        await backend.service.add_user(CONTOSO, spec(teams_user="nestor@contoso.example"), PASSWORD)
    assert not refused.value.retryable


@pytest.mark.parametrize(
    ("tenant", "overrides", "password"),
    [
        (CONTOSO, {}, "short1"),
        (CONTOSO, {"pbx_location": "Nowhere"}, PASSWORD),
        (CONTOSO, {"extension": "999", "phone_number": "999"}, PASSWORD),
        (
            FABRIKAM,
            {"pbx_location": "PBX East", "teams_user": "brian@fabrikam.example", "extension": "200"},
            PASSWORD,
        ),
    ],
    ids=["bad-password", "unknown-location", "unknown-extension", "route-not-offered"],
)
async def test_refusals_that_try_again_cannot_fix(backend: Backend, tenant, overrides, password):
    with pytest.raises(ProvisioningError) as refused:
        await backend.service.add_user(tenant, spec(**overrides), password)
    assert not refused.value.retryable
    assert refused.value.message


async def test_an_unknown_extension_is_the_same_error_on_both(backend: Backend):
    with pytest.raises(ExtensionUnknown) as refused:
        await backend.service.add_user(CONTOSO, spec(extension="999", phone_number="999"), PASSWORD)
    assert refused.value.message == "Extension 999 does not exist on PBX."


async def test_a_phone_user_cannot_get_a_second_extension(backend: Backend):
    with pytest.raises(AlreadyPhoneUser) as refused:
        await backend.service.add_user(
            CONTOSO, spec(teams_user="megan@contoso.example", extension="106", phone_number="106"), PASSWORD
        )
    assert "already a phone user" in refused.value.message
    assert not refused.value.retryable


async def test_enable_calling_needs_a_phone_user(backend: Backend):
    with pytest.raises(ProvisioningError) as refused:
        await backend.service.enable_calling(CONTOSO, "isaiah@contoso.example")
    assert not refused.value.retryable


async def test_two_users_racing_for_one_extension(backend: Backend):
    s = backend.service
    results = await asyncio.gather(
        s.add_user(CONTOSO, spec(teams_user="isaiah@contoso.example", extension="110"), PASSWORD),
        s.add_user(CONTOSO, spec(teams_user="patti@contoso.example", extension="110"), PASSWORD),
        return_exceptions=True,
    )
    assert sum(r is None for r in results) == 1
    assert sum(isinstance(r, ExtensionTaken) for r in results) == 1
    holder = (await s.extension(CONTOSO, "PBX", "110")).assigned_to
    assert holder in ("isaiah@contoso.example", "patti@contoso.example")


# -- the directory ---------------------------------------------------------------------------------


async def test_directory_roles(backend: Backend):
    d = backend.directory
    assert (await d.actor(CONTOSO, CONTOSO_ADMIN)).role is Role.tenant_admin
    assert (await d.actor(CONTOSO, CONTOSO_ADMIN)).name == "Ada Admin"
    assert (await d.actor(CONTOSO, CONTOSO_USER)).role is Role.none
    assert (await d.actor(FABRIKAM, FABRIKAM_ADMIN)).role is Role.tenant_admin
    assert (await d.actor(FABRIKAM, CONTOSO_ADMIN)).role is Role.none
    assert (await d.actor(NORTHWIND, NORTHWIND_PARTNER)).role is Role.partner
    assert (await d.actor(TAILSPIN, TAILSPIN_PARTNER)).role is Role.partner
    assert (await d.actor(NORTHWIND, TAILSPIN_PARTNER)).role is Role.none
    assert (await d.actor(UNKNOWN_TENANT, CONTOSO_ADMIN)).role is Role.none
    assert (await d.actor("", "")).role is Role.none
    assert await d.is_global_admin(CONTOSO, CONTOSO_ADMIN2)
    assert not await d.is_global_admin(NORTHWIND, NORTHWIND_PARTNER)


async def test_directory_global_admins(backend: Backend):
    d = backend.directory
    admins = await d.global_admins(CONTOSO)
    assert [(a.display_name, a.upn) for a in admins] == [
        ("Ada Admin", "admin@contoso.example"),
        ("Avery Admin", "admin2@contoso.example"),
    ]
    assert {a.aad_object_id for a in admins} == {CONTOSO_ADMIN, CONTOSO_ADMIN2}
    assert await d.global_admins(NORTHWIND) == []


# -- the phone users list (issue 16) ----------------------------------------------------------------


async def test_phone_users_of_a_tenant_by_name_with_their_state(backend: Backend):
    page = await backend.service.phone_users(CONTOSO, "", 0, 10)
    assert page.total == 2
    assert [(u.display_name, u.upn, u.extension) for u in page.items] == [
        ("Alex Wilber", "alex@contoso.example", "101"),
        ("Megan Bowen", "megan@contoso.example", "100"),
    ]
    alex = page.items[0]
    assert alex.phone_number == "101" and alex.pbx_location == "PBX"
    assert await backend.service.phone_users(FABRIKAM, "nobody", 0, 10) == type(page)(items=[], total=0)


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("alex", ["alex@contoso.example"]),  # the start of the name
        ("WIL", ["alex@contoso.example"]),  # the start of a word of it, in any case
        ("megan@", ["megan@contoso.example"]),  # the address's local part
        ("10", ["alex@contoso.example", "megan@contoso.example"]),  # the start of an extension
        ("101", ["alex@contoso.example"]),
        ("contoso", []),  # never the domain, which every user shares
        ("lex", []),  # not the middle of a word
        ("%", []),
    ],
)
async def test_phone_users_search(backend: Backend, query: str, found: list[str]):
    page = await backend.service.phone_users(CONTOSO, query, 0, 10)
    assert [u.upn for u in page.items] == found and page.total == len(found)


async def test_phone_users_pages_and_a_new_phone_user(backend: Backend):
    s = backend.service
    await s.add_user(CONTOSO, spec(), PASSWORD)
    assert [u.upn for u in (await s.phone_users(CONTOSO, "", 0, 2)).items] == [
        "adele@contoso.example",
        "alex@contoso.example",
    ]
    last = await s.phone_users(CONTOSO, "", 2, 2)
    assert [u.upn for u in last.items] == ["megan@contoso.example"] and last.total == 3
    adele = (await s.phone_users(CONTOSO, "adele", 0, 10)).items[0]
    assert adele.sync_pending and not adele.calling_enabled and adele.extension == "105"
    assert (await s.phone_users(CONTOSO, "", 30, 10)).items == []


async def test_the_form_marks_existing_phone_users(backend: Backend):
    s = backend.service
    users = {u.upn: u for u in (await s.form_options(CONTOSO)).licensed_users}
    assert users["alex@contoso.example"].phone_extension == "101"
    assert users["adele@contoso.example"].phone_extension is None
    [alex] = await s.search_licensed_users(CONTOSO, "alex")
    assert alex.phone_extension == "101"


# -- the actions on one phone user (issue 16) --------------------------------------------------------


async def _either(call, *, portal_done=None) -> bool:
    """Runs a step; where the backend says a person must finish it in the portal, `portal_done`
    records that (as "Done in the portal" does). Returns whether the portal was asked for."""
    try:
        await call()
        return False
    except PortalStepsRequired as needed:
        assert str(needed.steps), "the person is told what to do"
        if portal_done is not None:
            await portal_done()
        return True


async def test_change_moves_the_user_frees_the_old_extension_and_keeps_calling(backend: Backend):
    s = backend.service
    before = await s.user_state(CONTOSO, "alex@contoso.example")
    changed = spec(teams_user="alex@contoso.example", extension="107", phone_number="107", sip_auth_id="107t")
    await s.change_user(CONTOSO, changed)
    state = await s.user_state(CONTOSO, "alex@contoso.example")
    assert (state.extension, state.phone_number, state.sip_auth_id) == ("107", "107", "107t")
    assert state.calling_enabled is before.calling_enabled
    assert await s.sync_required(CONTOSO)
    assert (await s.extension(CONTOSO, "PBX", "101")).assigned_to is None
    assert (await s.extension(CONTOSO, "PBX", "107")).assigned_to == "alex@contoso.example"
    # The same change again is an edit, not an error; the same rules as an add.
    await s.change_user(CONTOSO, changed)
    with pytest.raises(ExtensionTaken):
        await s.change_user(CONTOSO, changed.model_copy(update={"extension": "100", "phone_number": "100"}))
    with pytest.raises(ExtensionUnknown):
        await s.change_user(CONTOSO, changed.model_copy(update={"extension": "999", "phone_number": "999"}))
    with pytest.raises(ProvisioningError) as refused:
        await s.change_user(CONTOSO, spec())  # Adele is not a phone user
    assert not refused.value.retryable


async def test_a_new_device_password(backend: Backend):
    s = backend.service
    await s.reset_device_password(CONTOSO, "alex@contoso.example", PASSWORD)
    assert (await s.user_state(CONTOSO, "alex@contoso.example")).device_password_set
    for bad in ("short", "with space1", "Abcd123!"):
        with pytest.raises(ProvisioningError) as refused:
            await s.reset_device_password(CONTOSO, "alex@contoso.example", bad)
        assert not refused.value.retryable
    with pytest.raises(ProvisioningError):
        await s.reset_device_password(CONTOSO, "adele@contoso.example", PASSWORD)


async def test_disable_then_enable_calling(backend: Backend):
    s = backend.service
    upn = "alex@contoso.example"
    await _either(lambda: s.disable_calling(CONTOSO, upn))
    assert not (await s.user_state(CONTOSO, upn)).calling_enabled
    await _either(lambda: s.disable_calling(CONTOSO, upn))  # again: harmless
    await _either(lambda: s.enable_calling(CONTOSO, upn))
    assert (await s.user_state(CONTOSO, upn)).calling_enabled
    with pytest.raises(ProvisioningError) as refused:
        await s.disable_calling(CONTOSO, "adele@contoso.example")
    assert not refused.value.retryable


async def test_delete_only_after_disable_and_the_extension_is_free_again(backend: Backend):
    s = backend.service
    upn = "megan@contoso.example"
    with pytest.raises(ProvisioningError) as refused:
        await s.delete_user(CONTOSO, upn)  # disable first, then delete
    assert not refused.value.retryable and not isinstance(refused.value, PortalStepsRequired)
    await _either(lambda: s.disable_calling(CONTOSO, upn))

    async def in_the_portal() -> None:
        assert backend.portal_delete is not None, f"{backend.name} asked for portal steps"
        backend.portal_delete(CONTOSO, upn)
        await s.delete_user(CONTOSO, upn, done_in_portal=True)

    await _either(lambda: s.delete_user(CONTOSO, upn), portal_done=in_the_portal)
    state = await s.user_state(CONTOSO, upn)
    assert state is None or not state.provisioned
    assert (await s.extension(CONTOSO, "PBX", "100")).assigned_to is None
    page = await s.phone_users(CONTOSO, "", 0, 10)
    assert upn not in {u.upn for u in page.items}
    # Deleted twice (a step run again after a restart): nothing to do, no error.
    await s.delete_user(CONTOSO, upn, done_in_portal=True)
    # The freed extension takes a new user.
    await s.add_user(CONTOSO, spec(extension="100", phone_number="100", sip_auth_id="100t"), PASSWORD)
    assert (await s.extension(CONTOSO, "PBX", "100")).assigned_to == "adele@contoso.example"
