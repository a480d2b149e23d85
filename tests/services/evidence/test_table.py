"""Building the analysis table from raw (ts, value) series, and the design checks behind the 422s."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from backend.services.errors import ValidationFailed
from backend.services.evidence.table import build_analysis_table, validate_design

START = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday


def _daily(values: list[float], skip: set[int] = frozenset()) -> list[tuple[datetime, float]]:
    return [(START + timedelta(days=i), v) for i, v in enumerate(values) if i not in skip]


def test_weekly_alignment_sums_flows_and_reports_missing_buckets() -> None:
    days = 7 * 6
    spend = _daily([1.0] * days)
    # Revenue is missing for the whole third week: that bucket must be dropped, not summed to zero.
    revenue = _daily([10.0] * days, skip=set(range(14, 21)))
    table = build_analysis_table(
        {"spend": spend, "revenue": revenue},
        frequency="W-SUN",
        aggregation={"spend": "sum", "revenue": "sum"},
    )
    # W-SUN bins run Monday..Sunday, so the six weeks from a Monday are six whole buckets.
    assert table.report.buckets_seen == 6
    assert table.report.dropped_by_column == {"revenue": 1}
    assert table.report.rows == table.report.buckets_seen - table.report.dropped_rows
    full_weeks = table.frame[table.frame["spend"] == 7.0]
    assert (full_weeks["revenue"] == 70.0).all()


def test_treatment_lags_shift_by_buckets_and_cost_leading_rows() -> None:
    values = [float(i) for i in range(30)]
    table = build_analysis_table(
        {"spend": _daily(values), "revenue": _daily(values)}, frequency="D", treatment="spend", lags=[1, 3]
    )
    assert table.report.treatment_lag_columns == ["spend_lag1", "spend_lag3"]
    assert table.report.rows == 27
    assert (table.frame["spend"] - table.frame["spend_lag3"] == 3).all()
    assert table.report.dropped_by_column == {"spend_lag1": 1, "spend_lag3": 3}


def test_window_limits_the_table() -> None:
    values = [1.0] * 30
    table = build_analysis_table(
        {"a": _daily(values), "b": _daily(values)},
        start=START + timedelta(days=10),
        end=START + timedelta(days=20),
    )
    assert table.report.rows == 10


@pytest.mark.parametrize(
    ("series", "kwargs"),
    [
        ({}, {}),
        ({"a": []}, {}),
        ({"a": _daily([1.0, 2.0])}, {"treatment": "b"}),
        ({"a": _daily([1.0, 2.0])}, {"treatment": "a", "lags": [0]}),
        ({"a": _daily([1.0, 2.0])}, {"frequency": "fortnightly"}),
    ],
)
def test_bad_table_requests_are_validation_errors(series: dict, kwargs: dict) -> None:
    with pytest.raises(ValidationFailed):
        build_analysis_table(series, **kwargs)


def _frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(n, 4)), columns=["t", "y", "w1", "w2"])


def test_too_few_observations_is_422_with_counts() -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_design(_frame(25), treatment="t", outcome="y", confounders=["w1", "w2"])
    assert caught.value.status == 422
    assert caught.value.context == {"observations": 25, "required": 40, "confounders": 2}


def test_constant_treatment_is_rejected() -> None:
    frame = _frame(100).assign(t=3.0)
    with pytest.raises(ValidationFailed, match="never changes"):
        validate_design(frame, treatment="t", outcome="y", confounders=["w1"])


def test_perfectly_collinear_confounders_are_named() -> None:
    frame = _frame(100).assign(w3=lambda f: f["w1"] - 2 * f["w2"])
    with pytest.raises(ValidationFailed, match="collinear") as caught:
        validate_design(frame, treatment="t", outcome="y", confounders=["w1", "w2", "w3"])
    assert sorted(caught.value.context["collinear"]) == ["w1", "w2", "w3"]


def test_non_finite_rows_are_dropped_and_unknown_columns_rejected() -> None:
    frame = _frame(100)
    frame.loc[:9, "w1"] = np.nan
    assert len(validate_design(frame, treatment="t", outcome="y", confounders=["w1"])) == 90
    with pytest.raises(ValidationFailed, match="Unknown"):
        validate_design(frame, treatment="t", outcome="y", confounders=["nope"])
