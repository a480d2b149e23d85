"""Connector records become points only inside the rules every write path shares."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from backend.services.connectors.mapping import RecordProblem, make_point


@pytest.mark.parametrize(
    "ts",
    [datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))), datetime(2200, 1, 1, tzinfo=UTC)],
)
def test_a_record_outside_the_timestamp_range_is_a_record_problem(ts: datetime) -> None:
    with pytest.raises(RecordProblem, match="1970-01-01"):
        make_point("revenue", ts, 1.0, {})


def test_a_record_with_nul_in_a_dimension_is_a_record_problem() -> None:
    with pytest.raises(RecordProblem, match="NUL"):
        make_point("revenue", datetime(2026, 1, 1, tzinfo=UTC), 1.0, {"store": "no\x00rth"})


def test_a_valid_record_is_a_point() -> None:
    point = make_point("revenue", datetime(2026, 1, 1, tzinfo=UTC), 1.0, {"store": "north"})
    assert point.dimensions == {"store": "north"}
