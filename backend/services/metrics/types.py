"""Business metrics' leaf types: name patterns, limits and the supported time range.

A leaf: it imports nothing from ``backend``, so schemas and every layer may use it.
"""

from __future__ import annotations

from datetime import UTC, datetime

METRIC_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
DIMENSION_KEY_PATTERN = r"^[a-z][a-z0-9_]{0,49}$"
# Who wrote a point: "manual", "upload", "data_source:<uuid>" for a connector, or a script's name.
SOURCE_NAME_PATTERN = r"^[a-z0-9_:.-]{1,50}$"
CURRENCY_PATTERN = r"^[A-Z]{3}$"  # an ISO 4217 code
DISPLAY_FORMATS = ("number", "integer", "currency", "percent")
MAX_DEFINITION_SOURCES = 20
MAX_DIMENSIONS = 8
MAX_DIMENSION_VALUE_LENGTH = 100
AGGREGATIONS = ("sum", "avg", "min", "max", "last", "count")
MAX_BATCH_POINTS = 10_000
# Every timestamp the API stores or is asked about lies in [EARLIEST_TS, LATEST_TS). Far outside
# it, calendar arithmetic in a time zone overflows Python's datetime (years 1..9999 only), and no
# business KPI lives there. Reads skip rows stored outside it before the rule existed.
EARLIEST_TS = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TS = datetime(2200, 1, 1, tzinfo=UTC)
_WALL_CLOCK_RANGE = (EARLIEST_TS.replace(tzinfo=None), LATEST_TS.replace(tzinfo=None))
TIMESTAMP_RANGE_TEXT = "from 1970-01-01T00:00:00Z (inclusive) to 2200-01-01T00:00:00Z (exclusive)"


def timestamp_problem(ts: datetime, *, exclusive_end: bool = False) -> str | None:
    """Why ``ts`` is outside the supported range, or None. An aware ``ts`` is compared as an instant
    (no conversion, so even year 1 compares without overflow); a naive one as a wall-clock time.
    ``exclusive_end``: ``ts`` ends a half-open range, so ``LATEST_TS`` itself is fine."""
    naive = ts.tzinfo is None or ts.utcoffset() is None
    earliest, latest = _WALL_CLOCK_RANGE if naive else (EARLIEST_TS, LATEST_TS)
    inside = earliest <= ts and (ts <= latest if exclusive_end else ts < latest)
    return None if inside else f"timestamps must lie {TIMESTAMP_RANGE_TEXT}"


# Exchange rates (1 base = rate quote): a JSON load's size and the sane range of a rate.
MAX_BATCH_RATES = 10_000
MIN_RATE = 1e-9
MAX_RATE = 1e9


def pair_problem(base: str, quote: str) -> str | None:
    return "base and quote must be different currencies" if base == quote else None
