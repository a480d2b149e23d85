"""Rollup buckets: parsing ``bucket=``, and the bucket starts a range covers (for gap filling).

Calendar buckets (hour … year) follow the wall clock of a time zone, so a "day" in
America/New_York is 23 or 25 hours long across a DST change; fixed intervals
("15 minutes", "6 hours") are exact durations aligned to a fixed origin.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from backend.services.errors import ValidationFailed

CALENDAR_UNITS = ("hour", "day", "week", "month", "quarter", "year")
FILL_MODES = ("none", "null", "zero", "previous")
MAX_BUCKETS = 10_000
# Fixed-interval buckets align to a Monday at midnight UTC (as date_bin's origin).
FIXED_ORIGIN = datetime(2000, 1, 3, tzinfo=UTC)

_INTERVAL = re.compile(r"^\s*(\d+)\s*(minute|minutes|min|m|hour|hours|h|day|days|d|week|weeks|w)\s*$")
_UNIT_SECONDS = {
    "m": 60,
    "min": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "week": 604800,
    "weeks": 604800,
}


@dataclass(frozen=True)
class Bucket:
    unit: str | None  # a calendar unit, or None for a fixed interval
    interval: timedelta | None

    @property
    def label(self) -> str:
        if self.unit is not None:
            return self.unit
        assert self.interval is not None
        return f"{int(self.interval.total_seconds())} seconds"


def parse_bucket(text: str) -> Bucket:
    cleaned = text.strip().lower()
    if cleaned in CALENDAR_UNITS:
        return Bucket(unit=cleaned, interval=None)
    match = _INTERVAL.match(cleaned)
    if match is None or int(match.group(1)) == 0:
        raise ValidationFailed(
            f"bucket {text!r} is not understood",
            context={"field": "bucket", "allowed": [*CALENDAR_UNITS, "'<n> minutes|hours|days|weeks'"]},
        )
    return Bucket(unit=None, interval=timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)]))


def floor_to_bucket(ts: datetime, bucket: Bucket, zone: ZoneInfo) -> datetime:
    """The start of the bucket containing ``ts`` (what the SQL rollup groups it under)."""
    if bucket.interval is not None:
        steps = (ts - FIXED_ORIGIN) // bucket.interval
        return FIXED_ORIGIN + steps * bucket.interval
    local = ts.astimezone(zone)
    if bucket.unit == "hour":
        return local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    day = local.date()
    if bucket.unit == "week":
        day = day - timedelta(days=day.weekday())
    elif bucket.unit == "month":
        day = day.replace(day=1)
    elif bucket.unit == "quarter":
        day = day.replace(month=3 * ((day.month - 1) // 3) + 1, day=1)
    elif bucket.unit == "year":
        day = day.replace(month=1, day=1)
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def _next_start(start: datetime, bucket: Bucket, zone: ZoneInfo) -> datetime:
    if bucket.interval is not None:
        return start + bucket.interval
    if bucket.unit == "hour":
        return start + timedelta(hours=1)
    local = start.astimezone(zone).date()
    if bucket.unit == "day":
        nxt = local + timedelta(days=1)
    elif bucket.unit == "week":
        nxt = local + timedelta(days=7)
    else:
        months = {"month": 1, "quarter": 3, "year": 12}[bucket.unit or "month"]
        index = local.year * 12 + local.month - 1 + months
        nxt = local.replace(year=index // 12, month=index % 12 + 1, day=1)
    return datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone).astimezone(UTC)


def bucket_starts(bucket: Bucket, start: datetime, end: datetime, zone: ZoneInfo) -> list[datetime]:
    """Every bucket start from the bucket containing ``start`` up to (not including) ``end``."""
    current = floor_to_bucket(start, bucket, zone)
    starts: list[datetime] = []
    while current < end:
        starts.append(current)
        if len(starts) > MAX_BUCKETS:
            raise ValidationFailed(
                f"the range holds more than {MAX_BUCKETS} buckets; choose a larger bucket or a shorter range",
                context={"field": "bucket", "max_buckets": MAX_BUCKETS},
            )
        current = _next_start(current, bucket, zone)
    return starts


@dataclass(slots=True)
class FilledValue:
    """One bucket of a rollup (slots, not frozen: a long series builds thousands per request)."""

    ts: datetime
    value: float | None
    count: int
    filled: bool


def fill_gaps(
    observed: dict[datetime, tuple[float | None, int]], starts: list[datetime], mode: str
) -> list[FilledValue]:
    """Merge observed buckets with the expected starts; empty buckets per ``mode``."""
    if mode == "none":
        return [FilledValue(ts, value, count, False) for ts, (value, count) in sorted(observed.items())]
    filled: list[FilledValue] = []
    previous: float | None = None
    for ts in starts:
        if ts in observed:
            value, count = observed[ts]
            filled.append(FilledValue(ts, value, count, False))
            previous = value
            continue
        substitute = {"null": None, "zero": 0.0, "previous": previous}[mode]
        filled.append(FilledValue(ts, substitute, 0, True))
    return filled
