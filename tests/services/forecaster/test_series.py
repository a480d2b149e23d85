"""Building a regular series: frequency, gaps, aggregation and the incomplete current period."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest

from backend.services.errors import ValidationFailed
from backend.services.forecaster.series import build_series, infer_frequency


def _monthly(
    values: list[float | None], start: str = "2023-01-01"
) -> list[tuple[pd.Timestamp, float | None]]:
    stamps = pd.date_range(start, periods=len(values), freq="MS")
    return list(zip(stamps, values, strict=True))


@pytest.mark.parametrize(
    ("freq", "expected"),
    [("D", "day"), ("W-MON", "week"), ("MS", "month"), ("QS", "quarter"), ("YS", "year")],
)
def test_frequency_is_inferred_from_spacing(freq: str, expected: str) -> None:
    stamps = pd.date_range("2022-01-03", periods=12, freq=freq)
    assert infer_frequency(list(stamps)) == expected


def test_irregular_spacing_asks_for_an_explicit_frequency() -> None:
    stamps = [datetime(2024, 1, 1), datetime(2024, 1, 20), datetime(2024, 3, 9), datetime(2024, 4, 27)]
    with pytest.raises(ValidationFailed):
        infer_frequency(stamps)


def test_missing_month_is_interpolated_and_reported() -> None:
    points = [p for i, p in enumerate(_monthly([10.0, 20.0, 30.0, 40.0, 50.0])) if i != 2]
    series = build_series(points)
    assert series.frequency == "month" and series.season_length == 12
    np.testing.assert_allclose(series.values, [10, 20, 30, 40, 50])
    assert series.missing_periods == [pd.Timestamp("2023-03-01")]
    assert any("missing" in w for w in series.warnings)


@pytest.mark.parametrize(("rule", "filled"), [("zero", 0.0), ("ffill", 20.0)])
def test_gap_rules_fill_as_named(rule: str, filled: float) -> None:
    points = [p for i, p in enumerate(_monthly([10.0, 20.0, 30.0, 40.0])) if i != 2]
    series = build_series(points, gap_rule=rule)  # type: ignore[arg-type]
    assert series.values[2] == filled


def test_gap_rule_error_lists_missing_periods() -> None:
    points = [p for i, p in enumerate(_monthly([1.0] * 8)) if i not in (3, 4)]
    with pytest.raises(ValidationFailed) as caught:
        build_series(points, gap_rule="error")
    assert caught.value.context["count"] == 2
    assert caught.value.context["missing_periods"][0].startswith("2023-04-01")


def test_null_values_count_as_gaps() -> None:
    series = build_series(_monthly([1.0, None, 3.0, 4.0]))
    np.testing.assert_allclose(series.values, [1, 2, 3, 4])
    assert len(series.missing_periods) == 1


def test_points_within_one_period_are_aggregated() -> None:
    points = [
        (date(2024, 1, 5), 1.0),
        (date(2024, 1, 20), 2.0),
        (date(2024, 2, 3), 5.0),
        (date(2024, 3, 9), 7.0),
    ]
    summed = build_series(points, frequency="month")
    averaged = build_series(points, frequency="month", aggregate="mean")
    np.testing.assert_allclose(summed.values, [3, 5, 7])
    np.testing.assert_allclose(averaged.values, [1.5, 5, 7])
    assert any("combined" in w for w in summed.warnings)


def test_incomplete_current_period_is_held_out() -> None:
    points = _monthly([10.0, 11.0, 12.0, 3.0])  # the last month has only a few days of data
    series = build_series(points, as_of=datetime(2023, 4, 10))
    assert len(series.values) == 3
    assert series.held_out == (pd.Timestamp("2023-04-01"), 3.0)
    complete = build_series(points, as_of=datetime(2023, 5, 1))
    assert len(complete.values) == 4 and complete.held_out is None


def test_future_timestamps_continue_the_calendar_and_keep_the_timezone() -> None:
    stamps = pd.date_range("2024-01-01", periods=6, freq="W-MON", tz="UTC")
    series = build_series([(t, float(i)) for i, t in enumerate(stamps)])
    future = series.future_timestamps(2)
    assert future == [pd.Timestamp("2024-02-12", tz=UTC), pd.Timestamp("2024-02-19", tz=UTC)]


def test_empty_series_is_refused() -> None:
    with pytest.raises(ValidationFailed):
        build_series([(date(2024, 1, 1), None)])
