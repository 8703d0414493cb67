"""Reading a bulk-add file (issue 18) as people make them: Excel's CSV UTF-8 (BOM, semicolons),
pasted rows, French headers; and the files it refuses as a whole, each with its reason."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.requests.batch_file import MAX_BYTES, MAX_ROWS, BatchFileRefused, read_batch, write_csv


def test_excel_csv_utf8_with_bom_semicolons_and_loose_headers():
    data = "\ufeffTeams user;Extension;Voice route;Disable voicemail\r\nadele@contoso.example;105;CA Central;Non\r\n"
    batch = read_batch(data.encode("utf-8"))
    assert [(r.line, r.values) for r in batch.rows] == [
        (
            2,
            {
                "teams_user": "adele@contoso.example",
                "extension": "105",
                "voice_route": "CA Central",
                "disable_voicemail": False,
            },
        )
    ]


def test_pasted_rows_with_french_headers_and_blank_lines():
    batch = read_batch("Utilisateur Teams,Poste\n\nadele@contoso.example,105\nisaiah@contoso.example,108\n")
    assert [(r.line, r.values["extension"]) for r in batch.rows] == [(3, "105"), (4, "108")]


def test_a_bad_line_is_a_problem_of_its_own():
    batch = read_batch("upn,ext,disable voicemail\na@x.example,1,maybe\nb@x.example,2,yes\n")
    assert [(p.line, str(p.text)) for p in batch.problems] == [(2, "maybe is not yes or no.")]
    assert [r.line for r in batch.rows] == [3]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "The file is empty"),
        (b"upn,ext\n", "has a header line but no users"),
        (b"name,number\nx,1\n", "The first line must name the columns"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "holds binary data"),
        ("upn,ext\né,1\n".encode("latin-1"), "is not UTF-8 text"),
        (b"upn,ext\n" + b"a,1\n" * (MAX_BYTES // 4), "larger than 1 MB"),
        (("upn,ext\n" + "a@x,1\n" * (MAX_ROWS + 1)).encode(), "more than 1000 users"),
    ],
)
def test_files_refused_as_a_whole_say_why(data: bytes, reason: str):
    with pytest.raises(BatchFileRefused) as refused:
        read_batch(data)
    assert reason in str(refused.value.text)


@given(st.binary(max_size=2000) | st.text(max_size=2000).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_any_bytes_give_rows_problems_or_a_reason_never_a_crash(data: bytes):
    try:
        batch = read_batch(data)
    except BatchFileRefused as refused:
        assert str(refused.text)
        return
    for row in batch.rows:
        assert "teams_user" in row.values or "extension" in row.values or row.values == {}


def test_results_csv_never_carries_a_formula_a_spreadsheet_would_run():
    rows = [
        ["line", "user"],
        ["2", "=cmd|' /C calc'!A0"],
        ["3", "+1+1"],
        ["4", "@SUM(A1)"],
        ["5", "-2"],
        ["6", "a,b"],
    ]
    text = write_csv(rows)
    assert text.splitlines() == [
        "line,user",
        "2,'=cmd|' /C calc'!A0",
        "3,'+1+1",
        "4,'@SUM(A1)",
        "5,'-2",
        '6,"a,b"',
    ]
