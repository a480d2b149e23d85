"""Turning JSON-ish records into metric points: dotted paths, timestamps, numbers (pure)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any

from backend.services.metrics.points import (
    Point,
    dimensions_problem,
    localize,
    metric_name_problem,
    timestamp_problem,
)

MAX_REPORTED_PROBLEMS = 10


class RecordProblem(ValueError):
    """A record cannot become a point (missing field, not a number, bad time)."""


def get_path(record: Any, path: str) -> Any:
    """``a.b.0.c`` into nested dicts and lists; ``""`` is the record itself; None when absent."""
    current = record
    for part in (p for p in path.split(".") if p) if path else ():
        if isinstance(current, Mapping):
            current = current.get(part)
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    return current


def parse_timestamp(value: Any, zone: tzinfo) -> datetime:
    if isinstance(value, bool) or value is None:
        raise RecordProblem(f"timestamp {value!r} is not a date or time")
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 10**11 else value  # epoch milliseconds or seconds
        return datetime.fromtimestamp(seconds, UTC)
    text = str(value).strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        return localize(datetime.fromisoformat(text), zone)
    except ValueError as error:
        raise RecordProblem(f"timestamp {value!r} is not ISO 8601 or epoch seconds") from error


def parse_number(value: Any) -> float:
    if isinstance(value, bool) or value is None:
        raise RecordProblem(f"value {value!r} is not a number")
    try:
        number = float(value)
    except (TypeError, ValueError) as error:
        raise RecordProblem(f"value {value!r} is not a number") from error
    if not math.isfinite(number):
        raise RecordProblem("value must be finite")
    return number


def make_point(metric: str, ts: datetime, value: float, dimensions: Mapping[str, str]) -> Point:
    problem = metric_name_problem(metric) or timestamp_problem(ts) or dimensions_problem(dimensions)
    if problem:
        raise RecordProblem(problem)
    return Point(metric=metric, ts=ts, value=value, dimensions=dict(dimensions))


def dimension_values(record: Any, paths: Mapping[str, str]) -> dict[str, str]:
    dimensions = {}
    for name, path in paths.items():
        value = get_path(record, path)
        if value is not None and str(value).strip():
            dimensions[name] = str(value).strip()[:100]
    return dimensions
