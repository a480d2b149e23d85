"""Parsing uploaded CSV and Excel files into metric points, with a row-numbered report.

Two layouts:
- long: ``metric,timestamp,value[,dimension…]`` — one point per row; extra columns are dimensions.
- wide: ``date[,dimension…],revenue,orders,…`` — one row per timestamp (and dimension values), one
  column per metric; empty cells are skipped. A column is a *dimension* when its values are text and
  a *metric* when they are numbers (decided on the first ``SAMPLE_ROWS`` rows, by majority, so a typo
  in a metric column is reported as a bad cell rather than turning the column into a dimension);
  ``dimensions=store,channel`` names the dimension columns explicitly instead.

Nothing is written here: the caller commits all points or none.
"""

from __future__ import annotations

import codecs
import csv
import itertools
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import IO, Any
from zoneinfo import ZoneInfo

from backend.services.errors import ValidationFailed
from backend.services.metrics.points import (
    MAX_DIMENSIONS,
    Point,
    dimensions_problem,
    localize,
    metric_name_problem,
    timestamp_problem,
    value_problem,
)
from backend.utils.cells import NumberCell
from backend.utils.row_errors import RowErrors

LAYOUTS = ("auto", "long", "wide")
# Rows read before the wide layout decides which columns are dimensions and which metrics.
SAMPLE_ROWS = 1_000
_TIMESTAMP_HEADERS = ("timestamp", "ts", "date", "time", "datetime", "day", "month", "period")
_LONG_FIXED = ("metric", "value")


@dataclass(frozen=True)
class UploadMapping:
    """How the file's columns become points."""

    layout: str
    timestamp_column: str
    dimension_columns: tuple[str, ...]
    metric_columns: tuple[str, ...]  # wide layout; the long layout names metrics in its cells


@dataclass
class ParsedUpload(RowErrors):
    mapping: UploadMapping
    rows_read: int = 0
    points: list[Point] = field(default_factory=list)

    @property
    def layout(self) -> str:
        return self.mapping.layout

    def points_per_metric(self) -> dict[str, int]:
        return dict(sorted(Counter(point.metric for point in self.points).items()))

    def time_range(self) -> tuple[datetime, datetime] | None:
        if not self.points:
            return None
        instants = [point.ts for point in self.points]
        return min(instants), max(instants)


def csv_rows(stream: IO[bytes]) -> Iterator[list[str]]:
    """Rows of a UTF-8 (optionally BOM-prefixed) CSV, decoded incrementally."""
    text = codecs.iterdecode(stream, "utf-8-sig")
    try:
        yield from csv.reader(text)
    except UnicodeDecodeError as error:
        raise ValidationFailed("the file is not UTF-8 text; save the CSV as UTF-8") from error
    except csv.Error as error:
        raise ValidationFailed(f"the CSV is malformed: {error}") from error


def file_rows(stream: IO[bytes], filename: str) -> Iterator[list[Any]]:
    """The rows of an uploaded file by its name: .xlsx, else CSV (.csv, .txt or no extension)."""
    lower = filename.lower()
    if lower.endswith(".xlsx"):
        return xlsx_rows(stream)
    if lower.endswith((".csv", ".txt")) or "." not in lower:
        return csv_rows(stream)
    raise ValidationFailed("upload a .csv or .xlsx file", context={"filename": filename})


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


def parse_in_chunks(
    rows: Iterable[list[Any]],
    *,
    zone: ZoneInfo,
    layout: str,
    max_rows: int,
    max_points: int,
    dimensions: Sequence[str] | None = None,
    chunk_rows: int | None = None,
) -> Iterator[ParsedUpload]:
    """Points of every valid row and an error per bad cell (``dimensions`` overrides the wide layout's
    guess of which columns are dimensions). The same growing ``ParsedUpload`` is yielded after every
    ``chunk_rows`` data rows and once at the end, so a caller can write each chunk's new points
    (``points[len_before:]``) and report rows read while the rest of the file is still unread."""
    iterator = iter(rows)
    header_row = next(iterator, None)
    if header_row is None:
        raise ValidationFailed("the file is empty; the first row must be a header")
    header = [str(cell).strip().lower() if cell is not None else "" for cell in header_row]
    sample = list(itertools.islice(iterator, SAMPLE_ROWS))
    mapping = choose_mapping(header, sample, layout, dimensions)
    parsed = ParsedUpload(mapping=mapping)
    parse_row = _long_row if mapping.layout == "long" else _WideRows(header, mapping)
    for number, row in enumerate(itertools.chain(sample, iterator), start=2):
        if _blank(row):
            continue
        parsed.rows_read += 1
        if parsed.rows_read > max_rows:
            raise ValidationFailed(
                f"the file has more than {max_rows} data rows; split it", context={"max_rows": max_rows}
            )
        parse_row(parsed, header, row, number, zone)
        if len(parsed.points) > max_points:  # a wide file holds a point per metric column
            raise ValidationFailed(
                f"the file holds more than {max_points} points; split it", context={"max_points": max_points}
            )
        if chunk_rows is not None and parsed.rows_read % chunk_rows == 0:
            yield parsed
    yield parsed


def _blank(row: Sequence[Any]) -> bool:
    for cell in row:  # a loop that stops at the first filled cell: usually the first
        if cell is not None and (cell.strip() if isinstance(cell, str) else str(cell).strip()):
            return False
    return True


def choose_mapping(
    header: list[str], sample: list[list[Any]], layout: str, dimensions: Sequence[str] | None
) -> UploadMapping:
    """The layout and the role of every column, from the header and the first rows."""
    if layout not in LAYOUTS:
        raise ValidationFailed(f"layout must be one of {', '.join(LAYOUTS)}", context={"field": "layout"})
    repeated = sorted(name for name, seen in Counter(header).items() if name and seen > 1)
    if repeated:
        raise ValidationFailed(
            f"the header repeats column(s) {', '.join(repeated)}; name every column once",
            context={"row": 1, "repeated": repeated},
        )
    ts_column = next((h for h in header if h in _TIMESTAMP_HEADERS), None)
    is_long = set(_LONG_FIXED) <= set(header) and ts_column is not None
    if layout == "long" or (layout == "auto" and is_long):
        return _long_mapping(header, ts_column)
    if ts_column is None:
        raise ValidationFailed(
            "cannot tell the layout: use 'metric,timestamp,value[,dimension…]' (long) or "
            "'date[,dimension…],<metric>,<metric>…' (wide)",
            context={"header": header, "timestamp_columns": list(_TIMESTAMP_HEADERS)},
        )
    return _wide_mapping(header, ts_column, sample, dimensions)


def _long_mapping(header: list[str], ts_column: str | None) -> UploadMapping:
    missing = [name for name in _LONG_FIXED if name not in header]
    if missing or ts_column is None:
        raise ValidationFailed(
            "a long-layout file needs columns metric, timestamp and value",
            context={"header": header, "missing": missing or ["timestamp"]},
        )
    others = tuple(h for h in header if h and h not in (*_LONG_FIXED, ts_column))
    return UploadMapping("long", ts_column, others, ())


def _wide_mapping(
    header: list[str], ts_column: str, sample: list[list[Any]], dimensions: Sequence[str] | None
) -> UploadMapping:
    columns = [h for h in header if h != ts_column]
    if dimensions is None:
        chosen = [c for c in columns if _looks_like_text(header.index(c), sample)]
    else:
        chosen = [d.strip().lower() for d in dimensions if d.strip()]
        unknown = [d for d in chosen if d not in columns]
        if unknown:
            raise ValidationFailed(
                "dimensions names columns the header does not have",
                context={"field": "dimensions", "unknown": unknown, "header": header},
            )
    problems = {c: p for c in columns if (p := _column_problem(c, is_dimension=c in chosen))}
    if problems:
        raise ValidationFailed(
            "wide-layout columns must be metric or dimension names (lowercase slugs)",
            context={"row": 1, "columns": problems},
        )
    if len(chosen) > MAX_DIMENSIONS:
        raise ValidationFailed(
            f"at most {MAX_DIMENSIONS} dimension columns; these columns hold text: {', '.join(chosen)}",
            context={"row": 1, "dimension_columns": chosen},
        )
    metrics = tuple(c for c in columns if c not in chosen)
    if not metrics:
        raise ValidationFailed(
            "no metric column: a wide file needs at least one column of numbers",
            context={"row": 1, "dimension_columns": chosen},
        )
    return UploadMapping("wide", ts_column, tuple(chosen), metrics)


def _column_problem(column: str, *, is_dimension: bool) -> str | None:
    if not column:
        return "the column has no name"
    problem = metric_name_problem(column)
    if is_dimension and problem is None:
        problem = dimensions_problem({column: "x"})
    return problem


def _looks_like_text(index: int, sample: list[list[Any]]) -> bool:
    """A dimension column: most of its non-empty sampled cells are not numbers."""
    cells = [row[index] for row in sample if index < len(row) and not _blank([row[index]])]
    text = sum(1 for cell in cells if not _is_number(cell))
    return text * 2 > len(cells)


def _is_number(cell: Any) -> bool:
    try:
        _number(cell)
    except ValueError:
        return False
    return True


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
    if isinstance(cell, str):  # the common case first: float() takes the text as _VALUE.read does
        try:
            value = float(cell)
        except ValueError:
            return _VALUE.read(cell)
        if math.isfinite(value):
            return value
    return _VALUE.read(cell)


_VALUE = NumberCell(
    true_false="a true/false cell is not a number",
    empty="value is empty",
    hint="use '.' for decimals and no thousands separators",
    check=value_problem,
)


def _dimension_cells(cells: dict[str, Any], columns: Sequence[str]) -> dict[str, str]:
    return {
        column: str(cell).strip()
        for column in columns
        if (cell := cells.get(column)) is not None and str(cell).strip()
    }


def _too_many_cells(parsed: ParsedUpload, header: list[str], row: list[Any], number: int) -> bool:
    if any(cell is not None and str(cell).strip() for cell in row[len(header) :]):
        # Typically an unquoted thousands separator ("1,000") that split the value.
        parsed.add_error(number, None, f"the row has {len(row)} cells but the header has {len(header)}")
        return True
    return False


def _long_row(parsed: ParsedUpload, header: list[str], row: list[Any], number: int, zone: ZoneInfo) -> None:
    if _too_many_cells(parsed, header, row, number):
        return
    cells = dict(zip(header, row, strict=False))
    ts_column = parsed.mapping.timestamp_column
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
    dimensions = _dimension_cells(cells, parsed.mapping.dimension_columns)
    problem = dimensions_problem(dimensions)
    if problem:
        parsed.add_error(number, None, problem)
        return
    parsed.points.append(Point(metric=metric, ts=ts, value=value, dimensions=dimensions))


class _WideRows:
    """Reads wide rows by column position; a dimension value is checked once, then remembered, and
    so is each timestamp text (a wide file repeats a date once per dimension combination)."""

    def __init__(self, header: list[str], mapping: UploadMapping) -> None:
        self.ts_index = header.index(mapping.timestamp_column)
        self.dimensions = [(header.index(c), c) for c in mapping.dimension_columns]
        self.metrics = [(header.index(c), c) for c in mapping.metric_columns]
        self.valid_values: set[tuple[str, str]] = set()
        self.combinations: dict[tuple[str, ...], dict[str, str]] = {}
        self.instants: dict[str, datetime] = {}

    def __call__(
        self, parsed: ParsedUpload, header: list[str], row: list[Any], number: int, zone: ZoneInfo
    ) -> None:
        if _too_many_cells(parsed, header, row, number):
            return
        width = len(row)
        try:
            ts = self._timestamp(row[self.ts_index] if self.ts_index < width else None, zone)
        except ValueError as error:
            parsed.add_error(number, parsed.mapping.timestamp_column, str(error))
            return
        dimensions = self._dimensions(parsed, row, number)
        if dimensions is None:
            return
        append = parsed.points.append
        for index, column in self.metrics:
            cell = row[index] if index < width else None
            if cell is None or cell == "" or (isinstance(cell, str) and not cell.strip()):
                continue
            try:
                append(Point(column, ts, _number(cell), dimensions))
            except ValueError as error:
                parsed.add_error(number, column, str(error))

    def _timestamp(self, cell: Any, zone: ZoneInfo) -> datetime:
        if not isinstance(cell, str):
            return _timestamp(cell, zone)
        known = self.instants.get(cell)
        if known is None:
            known = self.instants[cell] = _timestamp(cell, zone)  # a ValueError is not remembered
        return known

    def _dimensions(self, parsed: ParsedUpload, row: list[Any], number: int) -> dict[str, str] | None:
        values = tuple(
            str(cell).strip() if (cell := row[index] if index < len(row) else None) is not None else ""
            for index, _ in self.dimensions
        )
        known = self.combinations.get(values)
        if known is not None:
            return known
        dimensions: dict[str, str] = {}
        for (_, column), value in zip(self.dimensions, values, strict=True):
            if not value:
                continue
            if (column, value) not in self.valid_values:
                problem = dimensions_problem({column: value})
                if problem:
                    parsed.add_error(number, column, problem)
                    return None
                self.valid_values.add((column, value))
            dimensions[column] = value
        # One shared map per combination (points never mutate their dimensions).
        self.combinations[values] = dimensions
        return dimensions
