"""Exchange-rate rows: the rules every load path shares, and parsing an uploaded CSV/xlsx.

A file has a header naming the columns ``day``, ``base``, ``quote`` and ``rate`` (any order,
any case; ``date`` is accepted for ``day``). Every bad cell is reported by row and column,
and a file with any problem is stored not at all. Nothing is written here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any, NamedTuple, TypeVar

from backend.services.errors import ValidationFailed
from backend.services.metrics.points import EARLIEST_TS, LATEST_TS
from backend.services.metrics.types import MAX_RATE, MIN_RATE, pair_problem
from backend.utils.cells import NumberCell, cell_text
from backend.utils.currencies import currency_problem
from backend.utils.row_errors import RowErrors

# A sanity bound: no currency pair in circulation is quoted outside it, and beyond it a
# converted value could overflow a float.
EARLIEST_DAY = EARLIEST_TS.date()
LATEST_DAY = LATEST_TS.date()  # exclusive
COLUMNS = ("day", "base", "quote", "rate")
T = TypeVar("T")
_ALIASES = {"date": "day"}


class RateRow(NamedTuple):
    """``1 base = rate quote`` on ``day``."""

    day: date
    base: str
    quote: str
    rate: float


def rate_problem(rate: float) -> str | None:
    if not math.isfinite(rate) or not MIN_RATE <= rate <= MAX_RATE:
        return f"rate must be a finite number from {MIN_RATE:g} to {MAX_RATE:g}"
    return None


def day_problem(day: date) -> str | None:
    if not EARLIEST_DAY <= day < LATEST_DAY:
        return f"days must lie from {EARLIEST_DAY} (inclusive) to {LATEST_DAY} (exclusive)"
    return None


@dataclass
class ParsedRates(RowErrors):
    rows_read: int = 0
    rates: list[RateRow] = field(default_factory=list)


def parse_rate_rows(rows: Iterable[list[Any]], *, max_rows: int) -> ParsedRates:
    """Rates from the rows of a file (the first is the header); problems are collected, not raised,
    except for a header without the needed columns or a file over ``max_rows``."""
    iterator = iter(rows)
    header_row = next(iterator, None)
    if header_row is None:
        raise ValidationFailed("the file is empty; the first row must be the header day,base,quote,rate")
    positions = _positions(header_row)
    parsed = ParsedRates()
    seen: dict[tuple[str, str, date], int] = {}
    for number, row in enumerate(iterator, start=2):
        if all(cell is None or str(cell).strip() == "" for cell in row):
            continue
        parsed.rows_read += 1
        if parsed.rows_read > max_rows:
            raise ValidationFailed(
                f"the file has more than {max_rows} data rows; split it", context={"max_rows": max_rows}
            )
        rate = _row(parsed, number, {name: _cell(row, index) for name, index in positions.items()})
        if rate is None:
            continue
        key = (rate.base, rate.quote, rate.day)
        if key in seen:
            repeated = f"repeats {rate.base}/{rate.quote} on {rate.day} (row {seen[key]})"
            parsed.add_error(number, None, repeated)
            continue
        seen[key] = number
        parsed.rates.append(rate)
    return parsed


def _positions(header_row: list[Any]) -> dict[str, int]:
    header = [str(cell).strip().lower() if cell is not None else "" for cell in header_row]
    header = [_ALIASES.get(name, name) for name in header]
    missing = [name for name in COLUMNS if name not in header]
    if missing:
        raise ValidationFailed(
            "the header must name the columns day, base, quote and rate",
            context={"row": 1, "header": header, "missing": missing},
        )
    return {name: header.index(name) for name in COLUMNS}


def _cell(row: list[Any], index: int) -> Any:
    return row[index] if index < len(row) else None


def _row(parsed: ParsedRates, number: int, cells: dict[str, Any]) -> RateRow | None:
    problems: dict[str, str] = {}
    day = _check(problems, "day", _day, cells["day"])
    base = _check(problems, "base", _currency, cells["base"])
    quote = _check(problems, "quote", _currency, cells["quote"])
    rate = _check(problems, "rate", _RATE.read, cells["rate"])
    if base is not None and quote is not None and (problem := pair_problem(base, quote)):
        problems["quote"] = problem
    for column, message in problems.items():
        parsed.add_error(number, column, message)
    if problems or day is None or base is None or quote is None or rate is None:
        return None
    return RateRow(day, base, quote, rate)


def _check(problems: dict[str, str], column: str, parse: Callable[[Any], T], cell: Any) -> T | None:
    try:
        value: T = parse(cell)
    except ValueError as error:
        problems[column] = str(error)
        return None
    return value


def _day(cell: Any) -> date:
    if isinstance(cell, datetime):
        day = cell.date()
    elif isinstance(cell, date):
        day = cell
    else:
        text = cell_text(cell, "day is empty")
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{text!r} is not an ISO 8601 date (e.g. 2026-03-31)") from None
    problem = day_problem(day)
    if problem:
        raise ValueError(problem)
    return day


def _currency(cell: Any) -> str:
    return _currency_code(cell_text(cell, "currency is empty"))


@lru_cache(maxsize=1024)  # a file repeats a handful of codes on every row
def _currency_code(text: str) -> str:
    code = text.upper()
    problem = currency_problem(code)
    if problem:
        raise ValueError(problem)
    return code


_RATE = NumberCell(
    true_false="a true/false cell is not a rate",
    empty="rate is empty",
    hint="use '.' for decimals",
    check=rate_problem,
)
