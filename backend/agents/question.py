"""Reading a question without a model: which metrics it names, percentages, horizons, deadlines, money.

Pure functions over text; used when no language model is configured (and to fill in
arguments a model left out). They only read what the user wrote: when something is not
in the question, they return None and the agent says what it needs.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

# Everyday words for metrics, used only when the tenant has a metric of that name.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "revenue": ("sales", "turnover", "income"),
    "orders": ("order count", "purchases"),
    "ad_spend": ("ad spend", "advertising", "marketing spend", "ads"),
    "units_sold": ("units sold", "unit sales", "demand"),
    "visitors": ("traffic", "visits"),
}
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*(?:%|percent\b|per cent\b)", re.IGNORECASE)
_DECREASE = re.compile(r"\b(reduce|cut|lower|decrease|shrink|drop|bring down|less)\b", re.IGNORECASE)
_MONTHS = {name.lower(): index for index, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): index for index, name in enumerate(calendar.month_abbr) if name})
_HORIZON = re.compile(r"\bnext\s+(\d{1,3})\s+(day|week|month|quarter)s?\b", re.IGNORECASE)
_NEXT_ONE = re.compile(r"\bnext\s+(day|week|month|quarter|year)\b", re.IGNORECASE)
_IN_MONTHS = re.compile(r"\b(?:in|within|over)\s+(?:the\s+next\s+)?(\d{1,2})\s+months?\b", re.IGNORECASE)
_BY_MONTH = re.compile(r"\bby\s+(?:the\s+end\s+of\s+)?([a-z]{3,9})(?:\s+(\d{4}))?\b", re.IGNORECASE)
_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_MONEY = re.compile(
    r"\$\s?(\d[\d,]*(?:\.\d+)?)\s*([km])?\b|\b(\d[\d,]*(?:\.\d+)?)\s*([km])?\s*(?:dollars|usd)\b", re.I
)


def _phrases(name: str) -> list[str]:
    spoken = name.replace("_", " ")
    return list(dict.fromkeys([name.lower(), spoken.lower(), *SYNONYMS.get(name, ())]))


def match_metrics(question: str, names: Sequence[str]) -> list[str]:
    """Catalog metrics the question names, in the order they appear (longest phrase wins on overlap)."""
    lowered = question.lower()
    found: list[tuple[int, int, str]] = []
    for name in names:
        for phrase in _phrases(name):
            match = re.search(rf"(?<![\w]){re.escape(phrase)}(?![\w])", lowered)
            if match:
                found.append((match.start(), -len(phrase), name))
                break
    found.sort()
    ordered: list[str] = []
    taken: list[tuple[int, int]] = []
    for start, negative_length, name in found:
        end = start - negative_length
        if any(start < t_end and end > t_start for t_start, t_end in taken):
            continue
        taken.append((start, end))
        ordered.append(name)
    return ordered


def parse_percent(question: str) -> float | None:
    """The first percentage in the question as a fraction (``"20%"`` → 0.2)."""
    match = _PERCENT.search(question)
    return float(match.group(1)) / 100 if match else None


def wants_decrease(question: str) -> bool:
    return _DECREASE.search(question) is not None


@dataclass(frozen=True)
class Horizon:
    count: int
    unit: str  # day, week, month, quarter, year


def parse_horizon(question: str) -> Horizon | None:
    """ "next 3 months" → (3, month); "next quarter" → (1, quarter)."""
    match = _HORIZON.search(question)
    if match:
        return Horizon(int(match.group(1)), match.group(2).lower())
    match = _NEXT_ONE.search(question)
    if match:
        return Horizon(1, match.group(1).lower())
    return None


def _end_of_month(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _add_months(day: date, months: int) -> tuple[int, int]:
    index = day.year * 12 + day.month - 1 + months
    return index // 12, index % 12 + 1


def quarter_end(day: date) -> date:
    last_month = 3 * ((day.month - 1) // 3) + 3
    return _end_of_month(day.year, last_month)


def parse_deadline(question: str, today: date) -> tuple[date, str] | None:
    """A deadline the question states, with the phrase it came from; None when it states none."""
    lowered = question.lower()
    iso = _ISO.search(question)
    if iso:
        try:
            return date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3))), iso.group(0)
        except ValueError:
            pass
    if re.search(r"\b(this year|by (the )?(end of (the )?)?year|year[- ]end|end of year)\b", lowered):
        return date(today.year, 12, 31), "this year"
    if "next year" in lowered:
        return date(today.year + 1, 12, 31), "next year"
    if "this quarter" in lowered:
        return quarter_end(today), "this quarter"
    if "next quarter" in lowered:
        year, month = _add_months(today, 3)
        return quarter_end(date(year, month, 1)), "next quarter"
    if "this month" in lowered:
        return _end_of_month(today.year, today.month), "this month"
    if "next month" in lowered:
        year, month = _add_months(today, 1)
        return _end_of_month(year, month), "next month"
    months = _IN_MONTHS.search(question)
    if months:
        year, month = _add_months(today, int(months.group(1)))
        return _end_of_month(year, month), months.group(0)
    for match in _BY_MONTH.finditer(question):
        month_number = _MONTHS.get(match.group(1).lower())
        if month_number is None:
            continue
        year = int(match.group(2)) if match.group(2) else today.year
        candidate = _end_of_month(year, month_number)
        if not match.group(2) and candidate <= today:
            candidate = _end_of_month(year + 1, month_number)
        return candidate, match.group(0)
    return None


def parse_money(question: str) -> float | None:
    """An amount of money the question states (``$5,000``, ``5k dollars``)."""
    match = _MONEY.search(question)
    if not match:
        return None
    number, suffix = (match.group(1), match.group(2)) if match.group(1) else (match.group(3), match.group(4))
    value = float(number.replace(",", ""))
    multiplier = {"k": 1_000, "m": 1_000_000}.get((suffix or "").lower(), 1)
    return value * multiplier


def default_deadline(today: date, months: int) -> date:
    year, month = _add_months(today, months)
    return _end_of_month(year, month)


__all__ = [
    "Horizon",
    "default_deadline",
    "match_metrics",
    "parse_deadline",
    "parse_horizon",
    "parse_money",
    "parse_percent",
    "quarter_end",
    "wants_decrease",
]
