"""Quiet hours in the tenant's time zone (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from backend.services.alerts.messages import in_quiet_hours, quiet_until

BERLIN = ZoneInfo("Europe/Berlin")


def test_quiet_hours_that_span_midnight_cover_both_sides_of_it() -> None:
    start, end = time(22), time(7)
    assert in_quiet_hours(time(23, 30), start, end)
    assert in_quiet_hours(time(3), start, end)
    assert not in_quiet_hours(time(7), start, end)  # the end is not quiet any more
    assert not in_quiet_hours(time(12), start, end)
    assert in_quiet_hours(time(13), time(12), time(14))
    assert not in_quiet_hours(time(14), time(12), time(14))


def test_a_delivery_in_quiet_hours_waits_for_their_local_end() -> None:
    # 22:30 UTC on 1 July is 00:30 in Berlin (summer time, UTC+2): quiet until 07:00 Berlin = 05:00 UTC.
    now = datetime(2026, 7, 1, 22, 30, tzinfo=UTC)
    assert quiet_until(now, time(22), time(7), BERLIN) == datetime(2026, 7, 2, 5, 0, tzinfo=UTC)
    # 21:30 Berlin, before quiet hours begin: no wait.
    assert quiet_until(datetime(2026, 7, 1, 19, 30, tzinfo=UTC), time(22), time(7), BERLIN) is None
    # 23:00 Berlin in winter (UTC+1): the end is the next morning, 06:00 UTC.
    winter = datetime(2026, 1, 10, 22, 0, tzinfo=UTC)
    assert quiet_until(winter, time(22), time(7), BERLIN) == datetime(2026, 1, 11, 6, 0, tzinfo=UTC)


def test_quiet_hours_ending_after_a_clock_change_end_at_local_wall_time() -> None:
    # Berlin moves to summer time at 02:00 on 29 March 2026: 07:00 that morning is 05:00 UTC.
    night = datetime(2026, 3, 28, 23, 30, tzinfo=UTC)  # 00:30 local, winter time
    assert quiet_until(night, time(22), time(7), BERLIN) == datetime(2026, 3, 29, 5, 0, tzinfo=UTC)
