from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from backend.services.errors import ValidationFailed
from backend.services.metrics.buckets import bucket_starts, fill_gaps, floor_to_bucket, parse_bucket

NEW_YORK = ZoneInfo("America/New_York")


def test_day_buckets_follow_local_midnight_across_dst() -> None:
    # 2026-03-08 is the spring-forward day in New York: that local day lasts 23 hours.
    starts = bucket_starts(
        parse_bucket("day"), datetime(2026, 3, 7, 12, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC), NEW_YORK
    )
    local = [s.astimezone(NEW_YORK) for s in starts]
    assert [(d.day, d.hour) for d in local] == [(7, 0), (8, 0), (9, 0)]
    assert starts[2] - starts[1] == timedelta(hours=23)
    assert starts[1] - starts[0] == timedelta(hours=24)


def test_week_month_quarter_year_floors() -> None:
    ts = datetime(2026, 8, 13, 15, 30, tzinfo=UTC)  # a Thursday
    assert floor_to_bucket(ts, parse_bucket("week"), ZoneInfo("UTC")) == datetime(2026, 8, 10, tzinfo=UTC)
    assert floor_to_bucket(ts, parse_bucket("month"), ZoneInfo("UTC")) == datetime(2026, 8, 1, tzinfo=UTC)
    assert floor_to_bucket(ts, parse_bucket("quarter"), ZoneInfo("UTC")) == datetime(2026, 7, 1, tzinfo=UTC)
    assert floor_to_bucket(ts, parse_bucket("year"), ZoneInfo("UTC")) == datetime(2026, 1, 1, tzinfo=UTC)


def test_fixed_interval_buckets_and_parsing() -> None:
    bucket = parse_bucket("15 minutes")
    assert bucket.interval == timedelta(minutes=15)
    assert floor_to_bucket(datetime(2026, 1, 1, 10, 44, tzinfo=UTC), bucket, ZoneInfo("UTC")) == datetime(
        2026, 1, 1, 10, 30, tzinfo=UTC
    )
    for bad in ("fortnight", "0 hours", "3 parsecs"):
        with pytest.raises(ValidationFailed):
            parse_bucket(bad)


def test_too_many_buckets_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="more than"):
        bucket_starts(
            parse_bucket("hour"), datetime(2000, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC), NEW_YORK
        )


def test_fill_modes() -> None:
    t = [datetime(2026, 1, d, tzinfo=UTC) for d in (1, 2, 3, 4)]
    observed = {t[0]: (5.0, 2), t[2]: (7.0, 1)}
    assert [v.value for v in fill_gaps(observed, t, "zero")] == [5.0, 0.0, 7.0, 0.0]
    assert [v.value for v in fill_gaps(observed, t, "previous")] == [5.0, 5.0, 7.0, 7.0]
    assert [v.value for v in fill_gaps(observed, t, "null")] == [5.0, None, 7.0, None]
    assert [v.filled for v in fill_gaps(observed, t, "null")] == [False, True, False, True]
    assert [v.ts for v in fill_gaps(observed, t, "none")] == [t[0], t[2]]
