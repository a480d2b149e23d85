"""Parsing uploaded CSV and Excel files into metric points, with a row-numbered report.

Two layouts:
- long: ``metric,timestamp,value[,dimension…]`` — one point per row; extra columns are dimensions.
- wide: ``date,revenue,orders,…`` — one row per timestamp, one column per metric; empty cells are skipped.

Nothing is written here: the caller commits all points or none.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import IO, Any
from zoneinfo import ZoneInfo

from backend.services.errors import ValidationFailed
from backend.services.metrics.points import (
    Point,
    dimensions_problem,
    localize,
    metric_name_problem,
    timestamp_problem,
    value_problem,
)

LAYOUTS = ("auto", "long", "wide")
MAX_REPORTED_ERRORS = 100
_TIMESTAMP_HEADERS = ("timestamp", "ts", "date", "time", "datetime", "day", "month", "period")


@dataclass(frozen=True)
class RowError:
    row: int  # line number in the file, the header being row 1
    column: str | None
    message: str


@dataclass
class ParsedUpload:
    layout: str
    rows_read: int = 0
    points: list[Point] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0

    def add_error(self, row: int, column: str | None, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(RowError(row, column, message))


def csv_rows(stream: IO[bytes]) -> Iterator[list[str]]:
    """Rows of a UTF-8 (optionally BOM-prefixed) CSV, decoded incrementally."""
    text = codecs.iterdecode(stream, "utf-8-sig")
    try:
        yield from csv.reader(text)
    except UnicodeDecodeError as error:
        raise ValidationFailed("the file is not UTF-8 text; save the CSV as UTF-8") from error
    except csv.Error as error:
        raise ValidationFailed(f"the CSV is malformed: {error}") from error


def xlsx_rows(stream: IO[bytes]) -> Iterator[list[Any]]:
    """Rows of the first worksheet of an .xlsx workbook (streamed, read-only)."""
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(stream, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many types for a broken workbook
        raise ValidationFailed("the file is not a readable .xlsx workbook") from error
    try:
        sheet = workbook.worksheets[0]
        for row in sheet.iter_rows(values_only=True):
            yield list(row)
    finally:
        workbook.close()


def parse_rows(
    rows: Iterable[list[Any]], *, zone: ZoneInfo, layout: str, max_rows: int, max_points: int
) -> ParsedUpload:
    iterator = iter(rows)
    header_row = next(iterator, None)
    if header_row is None:
        raise ValidationFailed("the file is empty; the first row must be a header")
    header = [str(cell).strip().lower() if cell is not None else "" for cell in header_row]
    chosen = _choose_layout(header, layout)
    parsed = ParsedUpload(layout=chosen)
    parse_row = _long_row if chosen == "long" else _wide_row
    for number, row in enumerate(iterator, start=2):
        if all(cell is None or str(cell).strip() == "" for cell in row):
            continue
        parsed.rows_read += 1
        if parsed.rows_read > max_rows:
            raise ValidationFailed(
                f"the file has more than {max_rows} data rows; split it", details={"max_rows": max_rows}
            )
        parse_row(parsed, header, row, number, zone)
        if len(parsed.points) > max_points:  # a wide file holds a point per metric column
            raise ValidationFailed(
                f"the file holds more than {max_points} points; split it", details={"max_points": max_points}
            )
    return parsed


def _choose_layout(header: list[str], layout: str) -> str:
    if layout not in LAYOUTS:
        raise ValidationFailed(f"layout must be one of {', '.join(LAYOUTS)}", details={"field": "layout"})
    is_long = {"metric", "value"} <= set(header) and any(h in _TIMESTAMP_HEADERS for h in header)
    if layout == "long" or (layout == "auto" and is_long):
        missing = [name for name in ("metric", "value") if name not in header]
        if missing or not any(h in _TIMESTAMP_HEADERS for h in header):
            raise ValidationFailed(
                "a long-layout file needs columns metric, timestamp and value",
                details={"header": header, "missing": missing or ["timestamp"]},
            )
        return "long"
    if not header or header[0] not in _TIMESTAMP_HEADERS:
        raise ValidationFailed(
            "cannot tell the layout: use 'metric,timestamp,value[,dimension…]' (long) or "
            "'date,<metric>,<metric>…' (wide)",
            details={"header": header, "timestamp_columns": list(_TIMESTAMP_HEADERS)},
        )
    bad_columns = {column: problem for column in header[1:] if (problem := metric_name_problem(column))}
    if bad_columns:
        raise ValidationFailed(
            "wide-layout columns after the first must be metric names",
            details={"row": 1, "columns": bad_columns},
        )
    return "wide"


def _timestamp(cell: Any, zone: ZoneInfo) -> datetime:
    ts = _parse_timestamp(cell, zone)
    problem = timestamp_problem(ts)
    if problem:
        raise ValueError(problem)
    return ts


def _parse_timestamp(cell: Any, zone: ZoneInfo) -> datetime:
    if isinstance(cell, datetime):
        return localize(cell, zone)
    if isinstance(cell, date):
        return datetime(cell.year, cell.month, cell.day, tzinfo=zone)
    text = str(cell).strip() if cell is not None else ""
    if not text:
        raise ValueError("timestamp is empty")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO 8601 date or timestamp (e.g. 2026-03-31 or 2026-03-31T09:00:00Z)"
        ) from None
    return localize(parsed, zone)


def _number(cell: Any) -> float:
    if isinstance(cell, bool):
        raise ValueError("a true/false cell is not a number")
    if isinstance(cell, int | float):
        value = float(cell)
    else:
        text = str(cell).strip() if cell is not None else ""
        if not text:
            raise ValueError("value is empty")
        try:
            value = float(text)
        except ValueError:
            raise ValueError(
                f"{text!r} is not a number (use '.' for decimals and no thousands separators)"
            ) from None
    problem = value_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _long_row(parsed: ParsedUpload, header: list[str], row: list[Any], number: int, zone: ZoneInfo) -> None:
    if any(cell is not None and str(cell).strip() for cell in row[len(header) :]):
        # Typically an unquoted thousands separator ("1,000") that split the value.
        parsed.add_error(number, None, f"the row has {len(row)} cells but the header has {len(header)}")
        return
    cells = dict(zip(header, row, strict=False))
    ts_column = next(h for h in header if h in _TIMESTAMP_HEADERS)
    metric = str(cells.get("metric") or "").strip()
    problem = metric_name_problem(metric)
    if problem:
        parsed.add_error(number, "metric", f"{metric!r}: {problem}")
        return
    try:
        ts = _timestamp(cells.get(ts_column), zone)
    except ValueError as error:
        parsed.add_error(number, ts_column, str(error))
        return
    try:
        value = _number(cells.get("value"))
    except ValueError as error:
        parsed.add_error(number, "value", str(error))
        return
    dimensions = {
        column: str(cell).strip()
        for column, cell in cells.items()
        if column not in ("metric", "value", ts_column) and column and cell is not None and str(cell).strip()
    }
    problem = dimensions_problem(dimensions)
    if problem:
        parsed.add_error(number, None, problem)
        return
    parsed.points.append(Point(metric=metric, ts=ts, value=value, dimensions=dimensions))


def _wide_row(parsed: ParsedUpload, header: list[str], row: list[Any], number: int, zone: ZoneInfo) -> None:
    try:
        ts = _timestamp(row[0] if row else None, zone)
    except ValueError as error:
        parsed.add_error(number, header[0], str(error))
        return
    for column, cell in zip(header[1:], row[1:], strict=False):
        if cell is None or str(cell).strip() == "":
            continue
        try:
            parsed.points.append(Point(metric=column, ts=ts, value=_number(cell)))
        except ValueError as error:
            parsed.add_error(number, column, str(error))
