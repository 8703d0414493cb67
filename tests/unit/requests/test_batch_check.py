"""Every row of a bulk-add file checked against the demo world before anything is written (issue 18):
each reason of the single add, and what only a file gets wrong (a user or an extension twice)."""

from __future__ import annotations

from services.requests.batch_check import check_batch
from services.requests.batch_file import read_batch
from tests.doubles import CONTOSO
from tests.unit.requests.world import World

FILE = """teams user,extension,voice route,phone number
adele@contoso.example,105,CA Central,
isaiah@contoso.example,106,US West,106
nestor@contoso.example,107,CA Central,
alex@contoso.example,108,CA Central,
lee@contoso.example,101,CA Central,
diego@contoso.example,999,CA Central,
grady@contoso.example,109,Mars,
adele@contoso.example,110,CA Central,
miriam@contoso.example,105,CA Central,
lynne@contoso.example,111,CA Central,6045550111
"""


async def test_each_row_is_ready_or_has_its_reasons_by_line(world: World):
    options = await world.provisioning.form_options(CONTOSO)
    checked = await check_batch(world.provisioning, options, read_batch(FILE))
    assert [(line, spec.teams_user, spec.extension, spec.sip_auth_id) for line, spec in checked.ready] == [
        (2, "adele@contoso.example", "105", "105t"),
        (3, "isaiah@contoso.example", "106", "106t"),
    ]
    assert [(p.line, str(p.text)) for p in checked.problems] == [
        (4, "nestor@contoso.example has no Teams Phone licence."),
        (5, "Alex Wilber is already a phone user on extension 101."),
        (6, "Extension 101 is already assigned to alex@contoso.example."),
        (7, "Extension 999 does not exist on PBX."),
        (8, "Choose a voice route (CA Central or US West)."),
        (9, "adele@contoso.example is in the file twice (line 2)."),
        (10, "Extension 105 is in the file twice (line 2)."),
        (11, "6045550111 looks like the PBX caller ID. The Phone Connector needs the extension here: 111."),
    ]
    assert not (await world.provisioning.user_state(CONTOSO, "adele@contoso.example")).provisioned, (
        "nothing written"
    )
