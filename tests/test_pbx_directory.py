"""The provider's PBX directory file: what it accepts, what it refuses, and live edits."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from services.provisioning.pbx_directory import FilePbxDirectory, PbxDirectoryError, parse_pbx_csv

HEADER = "tenant_id,pbx_location,pbx_domain,extension,caller_id"


def test_locations_and_extensions_per_tenant():
    text = "\n".join(
        [
            f"{HEADER},pbx_location_id,assigned_to",
            "t1,West,west.example,201,2065550201,77,",
            "t1,East,east.example,101,2065550101,,",
            "t1,East,east.example,100,2065550100,,someone@t1.example",
            "t2,Main,main.example,9,5550009,,",
            "",
        ]
    )
    locations, extensions = parse_pbx_csv(text)
    assert [(loc.name, loc.platform_location) for loc in locations["t1"]] == [
        ("East", "East"),
        ("West", "77"),
    ]
    assert [(e.pbx_location, e.number, e.assigned_to) for e in extensions["t1"]] == [
        ("East", "100", "someone@t1.example"),
        ("East", "101", None),
        ("West", "201", None),
    ]
    assert [e.caller_id for e in extensions["t2"]] == ["5550009"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("tenant_id,pbx_location,extension,caller_id\nt,P,1,2", "missing column(s) pbx_domain"),
        (f"{HEADER}\nt,P,,1,2", "line 2: pbx_domain is empty"),
        (f"{HEADER}\nt,P,d,1a,2", "line 2: extension '1a' is not digits"),
        (f"{HEADER}\nt,P,d,1,2\nt,P,d,1,3", "line 3: extension 1 on 'P' repeated"),
        (f"{HEADER}\nt,P,d,1,2\nt,P,other,2,3", "line 3: location 'P' has another domain"),
    ],
)
def test_a_bad_file_is_refused_with_the_line(text: str, problem: str):
    with pytest.raises(PbxDirectoryError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        parse_pbx_csv(text, source="pbx.csv")


async def test_edits_are_picked_up_and_a_broken_edit_keeps_the_last_good_copy(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    path = tmp_path / "pbx.csv"
    path.write_text(f"{HEADER}\nt,P,d,1,2\n", encoding="utf-8")
    directory = FilePbxDirectory(path)
    assert [e.number for e in await directory.extensions("t")] == ["1"]

    path.write_text(f"{HEADER}\nt,P,d,1,2\nt,P,d,2,3\n", encoding="utf-8")
    os.utime(path, ns=(1, 2_000_000_000))
    assert [e.number for e in await directory.extensions("t")] == ["1", "2"]
    assert (await directory.extension("t", "P", "2")).caller_id == "3"

    caplog.set_level(logging.ERROR)
    path.write_text("garbage\n", encoding="utf-8")
    os.utime(path, ns=(1, 3_000_000_000))
    assert [e.number for e in await directory.extensions("t")] == ["1", "2"]
    assert "invalid" in caplog.text


async def test_a_missing_file_is_a_clear_error(tmp_path: Path):
    with pytest.raises(PbxDirectoryError, match="cannot be read"):
        await FilePbxDirectory(tmp_path / "nope.csv").locations("t")
