"""The one way the product writes CSV and .xlsx: cells a spreadsheet would run as formulas are not.

Stored text is returned verbatim by the JSON API, which is right; but a spreadsheet program
opening a file the product wrote would run a cell like ``=HYPERLINK("http://evil", "x")``
(CSV injection). Following the OWASP guidance, text cells starting with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return get a leading single quote, so they read as text; numbers,
dates and booleans stay what they are. Every CSV or .xlsx the product writes (exports, reports)
goes through ``write_csv`` / ``write_xlsx``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

Cell = str | int | float | bool | date | datetime | None

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_REPLACEMENT = "\ufffd"


def neutralise(cell: Cell) -> Cell:
    """The cell as it is safe to write: formula-like text quoted, anything else unchanged."""
    if isinstance(cell, str) and cell.startswith(FORMULA_PREFIXES):
        return "'" + cell
    return cell


def _csv_text(cell: Cell) -> Cell:
    safe = neutralise(cell)
    return safe.isoformat() if isinstance(safe, date) else safe


def write_csv(rows: Iterable[Sequence[Cell]]) -> str:
    """CSV text (RFC 4180 quoting, ``\\r\\n`` line ends) of ``rows``, the first usually a header."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow([_csv_text(cell) for cell in row])
    return buffer.getvalue()


def _xlsx_value(cell: Cell) -> Cell:
    safe = neutralise(cell)
    if isinstance(safe, str):
        # Control characters cannot be stored in the XML of a workbook.
        return str(ILLEGAL_CHARACTERS_RE.sub(_REPLACEMENT, safe))
    if isinstance(safe, datetime) and safe.tzinfo is not None:
        return safe.astimezone(UTC).replace(tzinfo=None)  # Excel has no time zones: UTC
    return safe


def write_xlsx(rows: Iterable[Sequence[Cell]], *, sheet_title: str = "data") -> bytes:
    """An .xlsx workbook with one sheet holding ``rows``; no cell is ever a formula."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=sheet_title)
    for row in rows:
        sheet.append([_xlsx_value(cell) for cell in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
