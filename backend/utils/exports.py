"""Exports: a table as CSV or .xlsx, chosen by ``format=`` or the ``Accept`` header.

Every export goes through :mod:`backend.utils.spreadsheets`, so no text cell is ever run as a
formula; numbers stay numbers in a workbook, timestamps become the export's wall-clock time
(a workbook has no time zones; the column header names the zone). Features build an
``ExportTable`` from what their JSON endpoint answers and return ``export_response(...)``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import Depends, Query, Request, Response

from backend.utils.spreadsheets import Cell, write_csv, write_xlsx

CSV_MEDIA_TYPE = "text/csv"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
JSON_MEDIA_TYPE = "application/json"
FormatParam = Literal["json", "csv", "xlsx"]
FORMAT_DESCRIPTION = (
    "Answer as `json` (default), `csv` or `xlsx`; without it, `Accept: text/csv` or "
    f"`Accept: {XLSX_MEDIA_TYPE}` chooses the file format. Files come as an attachment."
)
_SAFE_FILENAME = re.compile(r"[^A-Za-z0-9_-]+")
_MAX_STEM = 100


class ExportFormat(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


_MEDIA_TYPES = {ExportFormat.CSV: CSV_MEDIA_TYPE, ExportFormat.XLSX: XLSX_MEDIA_TYPE}


@dataclass(frozen=True)
class ExportTable:
    """A header and rows of plain cells; ``zone`` is the wall clock timestamps are written in."""

    title: str
    header: Sequence[str]
    rows: Sequence[Sequence[Cell]]
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))


# Media ranges an export endpoint answers; None is the JSON body.
_ACCEPTED: dict[str, ExportFormat | None] = {
    JSON_MEDIA_TYPE: None,
    "application/*": None,
    "*/*": None,
    CSV_MEDIA_TYPE: ExportFormat.CSV,
    XLSX_MEDIA_TYPE: ExportFormat.XLSX,
}


def negotiate(format_param: FormatParam | None, accept: str | None) -> ExportFormat | None:
    """The file format asked for, or None for JSON: ``format=`` first, then ``Accept`` (highest q)."""
    if format_param is not None:
        return None if format_param == "json" else ExportFormat(format_param)
    best_quality, best = 0.0, None
    for media_type, quality in _media_ranges(accept or ""):
        if media_type in _ACCEPTED and quality > best_quality:
            best_quality, best = quality, _ACCEPTED[media_type]
    return best


def _media_ranges(accept: str) -> list[tuple[str, float]]:
    ranges = []
    for part in accept.split(","):
        media_type, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media_type:
            ranges.append((media_type.lower(), quality))
    return ranges


def safe_filename(*parts: str) -> str:
    """A filename stem from ``parts`` with nothing a header or a file system could trip on."""
    stem = _SAFE_FILENAME.sub("_", "-".join(p for p in parts if p)).strip("._-")
    return stem[:_MAX_STEM] or "export"


def _in_zone(cell: Cell, zone: ZoneInfo, *, naive: bool) -> Cell:
    if isinstance(cell, datetime) and cell.tzinfo is not None:
        local = cell.astimezone(zone)
        return local.replace(tzinfo=None) if naive else local
    return cell


def render(table: ExportTable, export_format: ExportFormat) -> bytes:
    """The table's bytes in ``export_format`` (formula-like text neutralised). Timestamps are in the
    table's zone: ISO 8601 with the offset in CSV, the wall-clock time in a workbook."""
    naive = export_format is ExportFormat.XLSX
    rows = [[_in_zone(cell, table.zone, naive=naive) for cell in row] for row in table.rows]
    if export_format is ExportFormat.CSV:
        return write_csv([table.header, *rows]).encode("utf-8")
    return write_xlsx([list(table.header), *rows], sheet_title=safe_filename(table.title)[:31])


def export_response(table: ExportTable, export_format: ExportFormat, filename_stem: str) -> Response:
    """The table as an attachment named ``<stem>.<csv|xlsx>``."""
    filename = f"{safe_filename(filename_stem)}.{export_format.value}"
    return Response(
        render(table, export_format),
        media_type=_MEDIA_TYPES[export_format],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def export_openapi(
    description: str = "The JSON body, or the same data as a CSV or .xlsx file",
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entry documenting the file media types next to JSON."""
    return {
        200: {
            "description": description,
            "content": {
                CSV_MEDIA_TYPE: {"schema": {"type": "string"}},
                XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
            },
        }
    }


async def requested_export(
    request: Request,
    output: Annotated[FormatParam | None, Query(alias="format", description=FORMAT_DESCRIPTION)] = None,
) -> ExportFormat | None:
    """The dependency of an exportable endpoint: the file format asked for, or None for JSON."""
    return negotiate(output, request.headers.get("accept"))


RequestedExport = Annotated[ExportFormat | None, Depends(requested_export)]
