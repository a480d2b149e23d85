"""The table of a unit-level study: rows of units (customers, stores, visitors) checked cell by cell.

Rows come as JSON objects or as the rows of an uploaded CSV/.xlsx (header first). Every problem
is named by row and column — an empty or non-numeric cell, a NUL, a duplicate unit id, too many
levels in a categorical column — and any problem rejects the whole table (422, nothing stored).

Column names are normalised (``"Order Value"`` → ``order_value``) the same way in the header and
in the study, so the estimator and its graph only see safe identifiers. Categorical covariates
are one-hot encoded against their most frequent level (``device`` → ``device_desktop``, …),
within documented caps (see the constants). Pure computation: no I/O.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from backend.services.errors import ValidationFailed
from backend.services.evidence.types import (
    MAX_ADJUSTMENT_COLUMNS,
    MAX_CATEGORY_LEVELS,
    MAX_CELLS,
    MAX_UNITS,
    MIN_UNITS,
)
from backend.utils.cells import NumberCell
from backend.utils.row_errors import RowErrors
from backend.utils.text import nul_problem

# At most this many units (rows) per study, and this many cells read (rows × used columns): the
# rows of a study queued as a job travel in its JSON payload, ~20 bytes per cell.
MAX_TEXT_CELL = 200
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def column_name(raw: str) -> str:
    """``"Order Value"`` → ``order_value``: lower case, runs of other characters become ``_``."""
    return re.sub(r"[^a-z0-9]+", "_", raw.strip().lower()).strip("_")


@dataclass(frozen=True)
class UnitColumns:
    """Which columns play which role (names as given; normalised by :func:`column_name`)."""

    unit_id: str
    treatment: str
    outcome: str
    covariates: Sequence[str] = ()
    categorical: Sequence[str] = ()
    segment: str | None = None


@dataclass(frozen=True)
class UnitTable:
    """The checked study: numeric frame (unit ids as index), encoded columns and the segment labels."""

    frame: pd.DataFrame
    treatment: str
    outcome: str
    adjustment: list[str]
    encoded: dict[str, list[str]]
    reference_levels: dict[str, str]
    segments: pd.Series | None
    segment: str | None
    # The checked cells as JSON rows (numbers as floats, labels as text): a queued job's payload.
    clean_rows: list[dict[str, Any]]


def normalised_columns(columns: UnitColumns) -> UnitColumns:
    """The roles with normalised names; 422 for a name that normalises to nothing or repeats."""
    named = {
        "unit_id": [columns.unit_id],
        "treatment": [columns.treatment],
        "outcome": [columns.outcome],
        "covariates": list(columns.covariates),
        "categorical": list(columns.categorical),
        "segment": [columns.segment] if columns.segment else [],
    }
    bad = [raw for names in named.values() for raw in names if not _NAME.match(column_name(raw))]
    if bad:
        raise ValidationFailed(
            "Column names must start with a letter (letters, digits and underscores after it).",
            code="invalid_columns",
            context={"columns": bad},
        )
    fixed = {role: [column_name(n) for n in names] for role, names in named.items()}
    roles = [
        *fixed["unit_id"],
        *fixed["treatment"],
        *fixed["outcome"],
        *fixed["covariates"],
        *fixed["categorical"],
    ]
    repeated = sorted({n for n in roles if roles.count(n) > 1})
    if repeated:
        raise ValidationFailed(
            "Unit id, treatment, outcome, covariates and categorical covariates must be different columns.",
            code="repeated_columns",
            context={"repeated": repeated},
        )
    return UnitColumns(
        unit_id=fixed["unit_id"][0],
        treatment=fixed["treatment"][0],
        outcome=fixed["outcome"][0],
        covariates=fixed["covariates"],
        categorical=fixed["categorical"],
        segment=fixed["segment"][0] if fixed["segment"] else None,
    )


def _finite_problem(value: float) -> str | None:
    return None if math.isfinite(value) else "the value must be a finite number"


_NUMBER = NumberCell(
    true_false="a true/false cell is not a number (use 1 and 0)",
    empty="the cell is empty",
    hint="use '.' for decimals, no thousands separators",
    check=_finite_problem,
    refuse_nul=True,
    shown=40,
)


def _text(cell: Any) -> str:
    if isinstance(cell, bool) or cell is None:
        raise ValueError("the cell is empty" if cell is None else "a true/false cell is not a label")
    text = (str(int(cell)) if isinstance(cell, float) and cell.is_integer() else str(cell)).strip()
    if not text:
        raise ValueError("the cell is empty")
    problem = nul_problem(text)
    if problem:
        raise ValueError(problem)
    if len(text) > MAX_TEXT_CELL:
        raise ValueError(f"the label is longer than {MAX_TEXT_CELL} characters")
    return text


def _read_rows(
    rows: Iterable[tuple[int, Mapping[str, Any]]], columns: UnitColumns, errors: RowErrors
) -> tuple[list[str], dict[str, list[float]], dict[str, list[str]], list[int], list[dict[str, Any]]]:
    numeric = [columns.treatment, columns.outcome, *columns.covariates]
    text_columns = list(
        dict.fromkeys([*columns.categorical, *([columns.segment] if columns.segment else [])])
    )
    ids: list[str] = []
    numbers: dict[str, list[float]] = {c: [] for c in numeric}
    labels: dict[str, list[str]] = {c: [] for c in text_columns}
    numbers_of_rows: list[int] = []
    clean: list[dict[str, Any]] = []
    limit = MAX_CELLS // (len(numeric) + len(text_columns) + 1)
    for number, row in rows:
        if len(ids) >= min(MAX_UNITS, limit):
            raise ValidationFailed(
                f"The study has more than {min(MAX_UNITS, limit)} units for its "
                f"{len(numeric) + len(text_columns)} columns; at most {MAX_UNITS} units and {MAX_CELLS} "
                "cells are analysed at once.",
                code="too_many_units",
                context={"max_units": MAX_UNITS, "max_cells": MAX_CELLS},
            )
        ok = True
        values: dict[str, Any] = {}
        for column, reader in [
            (columns.unit_id, _text),
            *((c, _NUMBER.read) for c in numeric),
            *((c, _text) for c in text_columns),
        ]:
            try:
                values[column] = reader(row.get(column))
            except ValueError as error:
                errors.add_error(number, column, str(error))
                ok = False
        if not ok:
            continue
        ids.append(values[columns.unit_id])
        clean.append(values)
        numbers_of_rows.append(number)
        for c in numeric:
            numbers[c].append(values[c])
        for c in text_columns:
            labels[c].append(values[c])
    return ids, numbers, labels, numbers_of_rows, clean


def _duplicates(ids: Sequence[str], rows: Sequence[int], unit_id: str, errors: RowErrors) -> None:
    seen: dict[str, int] = {}
    for unit, row in zip(ids, rows, strict=True):
        if unit in seen:
            errors.add_error(row, unit_id, f"unit id {unit[:40]!r} repeats row {seen[unit]}")
        else:
            seen[unit] = row


def _check_levels(labels: Mapping[str, list[str]]) -> None:
    """Categorical covariates and the segment column: at most MAX_CATEGORY_LEVELS distinct values."""
    too_many = {c: n for c, values in labels.items() if (n := len(set(values))) > MAX_CATEGORY_LEVELS}
    if too_many:
        raise ValidationFailed(
            f"A categorical covariate or segment column may have at most {MAX_CATEGORY_LEVELS} levels "
            "(more looks like an id).",
            code="too_many_levels",
            context={"levels": too_many, "max_levels": MAX_CATEGORY_LEVELS},
        )


def _encode(
    labels: Mapping[str, list[str]], categorical: Sequence[str], *, taken: set[str]
) -> tuple[dict[str, np.ndarray], dict[str, list[str]], dict[str, str]]:
    """One-hot columns per categorical covariate, the most frequent level as the reference."""
    dummies: dict[str, np.ndarray] = {}
    encoded: dict[str, list[str]] = {}
    references: dict[str, str] = {}
    for column in categorical:
        values = np.array(labels[column], dtype=object)
        counts = Counter(labels[column])
        reference = max(sorted(counts), key=lambda level: counts[level])
        references[column] = reference
        encoded[column] = []
        for level in sorted(counts):
            if level == reference:
                continue
            name = f"{column}_{column_name(level) or 'level'}"
            # Never shadow another one-hot column or a numeric column ("device_desktop" given as a covariate).
            while name in dummies or name in taken:
                name += "_"
            dummies[name] = (values == level).astype("float64")
            encoded[column].append(name)
    return dummies, encoded, references


def build_unit_table(rows: Iterable[tuple[int, Mapping[str, Any]]], columns: UnitColumns) -> UnitTable:
    """Check every cell, one-hot encode categorical covariates, and return the study table.

    ``rows`` are ``(row number, {column: cell})`` with normalised column names; the row number is
    the one reported in errors (the file line, or the index in a JSON list). 422 for any cell
    problem, duplicate unit ids, too many units, levels or adjustment columns, or too few units.
    """
    errors = RowErrors()
    ids, numbers, labels, row_numbers, clean = _read_rows(rows, columns, errors)
    _duplicates(ids, row_numbers, columns.unit_id, errors)
    errors.raise_if_any("cell problem(s) in the study; nothing was analysed or stored.", code="invalid_rows")
    if len(ids) < MIN_UNITS:
        raise ValidationFailed(
            f"A unit-level study needs at least {MIN_UNITS} units.",
            code="too_few_units",
            context={"units": len(ids), "required": MIN_UNITS},
        )
    _check_levels(labels)
    dummies, encoded, references = _encode(labels, columns.categorical, taken=set(numbers))
    adjustment = [*columns.covariates, *dummies]
    if len(adjustment) > MAX_ADJUSTMENT_COLUMNS:
        raise ValidationFailed(
            f"At most {MAX_ADJUSTMENT_COLUMNS} adjustment columns (covariates plus one-hot levels) "
            "per study.",
            code="too_many_covariates",
            context={"columns": len(adjustment), "limit": MAX_ADJUSTMENT_COLUMNS},
        )
    frame = pd.DataFrame({**numbers, **dummies}, index=pd.Index(ids, name=columns.unit_id), dtype="float64")
    segments = (
        pd.Series(labels[columns.segment], index=frame.index, name=columns.segment)
        if columns.segment
        else None
    )
    return UnitTable(
        frame=frame,
        treatment=columns.treatment,
        outcome=columns.outcome,
        adjustment=adjustment,
        encoded=encoded,
        reference_levels=references,
        segments=segments,
        segment=columns.segment,
        clean_rows=clean,
    )


def json_rows(
    rows: Sequence[Mapping[str, Any]], columns: UnitColumns
) -> Iterator[tuple[int, dict[str, Any]]]:
    """JSON objects with their keys normalised; 422 naming study columns missing from every row."""
    used = _used(columns)
    keys = [{column_name(str(k)): v for k, v in row.items()} for row in rows]
    present = set().union(*(k.keys() for k in keys)) if keys else set()
    _unknown(used, present)
    return ((index, row) for index, row in enumerate(keys))


def sheet_rows(rows: Iterable[Sequence[Any]], columns: UnitColumns) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows of a CSV/xlsx (header first, the header is row 1); blank rows are skipped."""
    iterator = iter(rows)
    header_row = next(iterator, None)
    if header_row is None:
        raise ValidationFailed("The file is empty; the first row must be a header.", code="invalid_rows")
    header = [column_name(str(cell)) if cell is not None else "" for cell in header_row]
    used = _used(columns)
    _unknown(used, set(header))
    repeated = sorted({h for h in header if h in used and header.count(h) > 1})
    if repeated:
        raise ValidationFailed(
            "The header names a study column more than once.",
            code="repeated_columns",
            context={"row": 1, "repeated": repeated},
        )
    positions = {name: header.index(name) for name in used}
    for number, row in enumerate(iterator, start=2):
        if all(cell is None or str(cell).strip() == "" for cell in row):
            continue
        yield number, {name: row[i] if i < len(row) else None for name, i in positions.items()}


def _used(columns: UnitColumns) -> list[str]:
    names = [columns.unit_id, columns.treatment, columns.outcome, *columns.covariates, *columns.categorical]
    return list(dict.fromkeys([*names, *([columns.segment] if columns.segment else [])]))


def _unknown(used: Sequence[str], present: set[str]) -> None:
    unknown = [name for name in used if name not in present]
    if unknown:
        raise ValidationFailed(
            "The study names columns the table does not have.",
            code="unknown_columns",
            context={"unknown": unknown, "available": sorted(present)[:MAX_ADJUSTMENT_COLUMNS]},
        )
