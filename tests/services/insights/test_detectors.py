"""The pure detectors on simulated metrics whose truth is known (a small case of bench_insights)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta

from backend.services.insights.changes import UNUSUAL_Z, unusual_value
from backend.services.insights.engine import detect_metric
from backend.services.insights.health import (
    GoalState,
    SourceHealth,
    SyncState,
    connector_findings,
    goal_at_risk,
    metric_silence,
)
from backend.services.insights.robust import robust_score
from backend.services.insights.types import DatedValue, Finding, MetricHistory
from tests.benchmarks.insights_synthetic import Aggregated, Event, SimulatedMetric, daily_runs, history_as_of

START = date(2025, 1, 6)  # a Monday
END = date(2026, 4, 1)
STORES = {"north": 500.0, "south": 300.0, "east": 200.0}


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _run(metric: SimulatedMetric, first: date, last: date, seed: int = 3) -> list[Finding]:
    return daily_runs(metric, Aggregated.of(metric.values(START, END, seed)), _days(first, last))


def _numbers_in(sentence: str) -> list[str]:
    return re.findall(r"\d[\d,]*(?:\.\d+)?", sentence)


def test_a_planted_drop_is_found_on_its_day_and_nowhere_else_that_month() -> None:
    drop = date(2026, 2, 11)
    metric = SimulatedMetric("revenue", STORES, events=[Event("anomaly", drop, 0.5)])
    found = [f for f in _run(metric, date(2026, 2, 1), date(2026, 3, 1)) if f.type == "unusual_value"]
    assert [f.period_start for f in found] == [drop]
    [insight] = found
    assert insight.numbers.score is not None and insight.numbers.score <= -UNUSUAL_Z
    assert insight.severity == "high"  # a drop of revenue far beyond the threshold
    assert "unusually low for a Wednesday" in insight.sentence


def test_mondays_are_compared_with_mondays() -> None:
    # A strong weekly rhythm: weekends far busier. A quiet month finds no unusual day.
    metric = SimulatedMetric("revenue", STORES)
    found = _run(metric, date(2026, 1, 1), date(2026, 2, 1))
    assert [f for f in found if f.type == "unusual_value"] == []


def test_a_store_that_falls_is_named_as_the_top_contributor() -> None:
    week = date(2026, 2, 9)
    metric = SimulatedMetric("revenue", STORES, events=[Event("shift", week, 0.5, store="east")])
    found = [f for f in _run(metric, week, week + timedelta(days=14)) if f.type == "top_contributors"]
    assert found and found[0].period_start == week
    lead = found[0].numbers.contributors[0]  # type: ignore[index]
    assert (lead.dimension, lead.value) == ("store", "east")
    assert lead.after < lead.before
    assert "store=east" in found[0].sentence


def test_a_growing_metric_that_turns_down_is_a_trend_change_within_weeks() -> None:
    turn = date(2026, 1, 5)
    metric = SimulatedMetric("orders", STORES, growth_per_week=0.015, events=[Event("turn", turn)])
    found = [f for f in _run(metric, turn, turn + timedelta(weeks=11)) if f.type == "trend_change"]
    assert len(found) == 1  # reported once, not every week it holds
    assert found[0].numbers.slope_before > 0 > found[0].numbers.slope_after  # type: ignore[operator]
    assert "now falling" in found[0].sentence


def test_a_metric_that_stops_arriving_is_data_health_once() -> None:
    stop = date(2026, 3, 10)
    metric = SimulatedMetric("visits", STORES, events=[Event("stop", stop)])
    found = [f for f in _run(metric, date(2026, 3, 1), date(2026, 3, 31)) if f.type == "data_health"]
    assert len(found) == 1
    assert found[0].numbers.last_data_day == stop - timedelta(days=1)
    assert found[0].numbers.days_silent == 4  # flagged after three silent days of a daily metric


def test_a_week_cut_short_by_late_data_is_not_judged_a_drop() -> None:
    metric = SimulatedMetric("revenue", STORES, events=[Event("stop", date(2026, 3, 12))])
    found = _run(metric, date(2026, 3, 14), date(2026, 3, 20))
    assert [f.type for f in found if f.type != "data_health"] == []


def test_the_same_data_gives_the_same_keys() -> None:
    metric = SimulatedMetric("revenue", STORES, events=[Event("anomaly", date(2026, 2, 11), 0.5)])
    data = Aggregated.of(metric.values(START, END, 3))
    history = history_as_of(metric, data, date(2026, 2, 12))
    assert [f.idempotency_key for f in detect_metric(history)] == [
        f.idempotency_key for f in detect_metric(history)
    ]
    assert "unusual_value:revenue:2026-02-11:2026-02-12" in {
        f.idempotency_key for f in detect_metric(history)
    }


def test_every_number_in_a_sentence_is_one_of_the_insight_numbers_or_dates() -> None:
    metric = SimulatedMetric("revenue", STORES, events=[Event("anomaly", date(2026, 2, 11), 0.5)])
    [insight] = [f for f in _run(metric, date(2026, 2, 12), date(2026, 2, 12)) if f.type == "unusual_value"]
    numbers = insight.numbers
    assert (
        numbers.value is not None and numbers.reference is not None and numbers.typical_variation is not None
    )
    assert f"{numbers.value:,.0f}" in insight.sentence
    assert f"{numbers.reference:,.0f}" in insight.sentence
    assert f"{abs(numbers.change_percent or 0)}%" in insight.sentence
    assert f"robust z {numbers.score})" in insight.sentence
    assert len(_numbers_in(insight.sentence)) == 9  # 11 Feb 2026, 8 weeks, and the five numbers


def test_a_flat_history_still_scores_a_change() -> None:
    assert robust_score(90.0, [100.0] * 10).z == -10.0  # against 1% of the level


def test_unusual_value_needs_enough_weekdays() -> None:
    today = date(2026, 2, 12)
    days = [DatedValue(today - timedelta(days=n), 100.0) for n in range(1, 30)]
    history = MetricHistory("revenue", "up", today, sorted(days, key=lambda d: d.start), [])
    assert unusual_value(history) is None  # four Wednesdays: too few to judge one


def test_silence_follows_the_metrics_own_cadence() -> None:
    today = date(2026, 3, 1)
    weekly = [DatedValue(today - timedelta(weeks=n), 1.0) for n in range(20, 1, -1)]  # last: 2 weeks ago
    assert metric_silence("stock", weekly, today) is None
    assert metric_silence("stock", weekly, today + timedelta(days=8)) is not None  # 22 days > 3 weeks


def test_a_failed_sync_and_a_stale_connector_are_data_health() -> None:
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    sync_id = uuid.uuid4()
    source = SourceHealth(
        source_id=uuid.uuid4(),
        name="shop",
        expected_every_hours=1.0,
        last_synced_at=now - timedelta(hours=5),
        since=now - timedelta(days=30),
        latest_sync=SyncState(sync_id, "failed", now - timedelta(hours=1), "401 from the shop's API"),
    )
    failed, stale = connector_findings(source, now, now.date())
    assert failed.severity == "high" and "401 from the shop's API" in failed.sentence
    assert failed.links.connector_sync_id == sync_id
    assert stale.numbers.last_synced_hours_ago == 5.0 and "stale" in stale.sentence
    healthy = SourceHealth(source.source_id, "shop", 24.0, now - timedelta(hours=30), source.since, None)
    assert connector_findings(healthy, now, now.date()) == []


def test_a_goal_off_track_is_at_risk_with_its_projection_and_an_on_track_one_is_not() -> None:
    goal = GoalState(
        goal_id=uuid.uuid4(),
        title="Revenue to 60k",
        metric="revenue",
        signal="off_track",
        period_start=date(2026, 3, 1),
        period_end=date(2026, 4, 1),
        target=60_000,
        deadline=date(2026, 6, 30),
        expected_at_deadline=41_000,
        lower=35_200,
        upper=46_900,
        level=80,
        percent_complete=40.0,
        explanation="",
    )
    found = goal_at_risk(goal)
    assert found is not None and found.severity == "high" and found.links.goal_id == goal.goal_id
    assert "41,000 (80% interval 35,200 to 46,900) against a target of 60,000" in found.sentence
    on_track = GoalState(**{**goal.__dict__, "signal": "on_track"})
    assert goal_at_risk(on_track) is None
