"""Trend detectors (pure): a change of trend direction, and record weeks.

Rules, and why:

- **trend_change**: the Theil–Sen slope of the last ``RECENT_WEEKS`` complete weeks against the
  slope of the ``BEFORE_WEEKS`` weeks before them. It fires when both trends are real (a
  Mann–Kendall test, Kendall's tau against time, p < ``TREND_P`` each) and point opposite ways,
  and only in the first week that holds, so a turn is reported once. Theil–Sen and Kendall use
  ranks, so one odd week neither makes nor hides a trend.
- **record**: the last complete week strictly above (or below) every earlier week with data in
  the last ``RECORD_LOOKBACK`` weeks, given at least ``MIN_RECORD_HISTORY`` of them. On a steady
  metric a record week comes by chance about once in that many weeks, so the history floor keeps
  records rare on quiet data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from backend.services.insights.changes import WEEK, last_complete_week, week_has_full_data
from backend.services.insights.robust import day_label, fmt, is_good, signed
from backend.services.insights.types import DatedValue, Finding, InsightNumbers, MetricHistory, Severity

RECENT_WEEKS = 8
BEFORE_WEEKS = 12
TREND_P = 0.05
RECORD_LOOKBACK = 104
MIN_RECORD_HISTORY = 26


@dataclass(frozen=True)
class Trend:
    slope: float  # per week
    p_value: float


def trend(weeks: Sequence[DatedValue]) -> Trend | None:
    if len(weeks) < 4:
        return None
    origin = weeks[0].start
    x = [(week.start - origin).days / 7 for week in weeks]
    y = [week.value for week in weeks]
    if len(set(y)) == 1:
        return Trend(0.0, 1.0)
    return Trend(theil_sen(x, y), float(stats.kendalltau(x, y).pvalue))


def theil_sen(x: Sequence[float], y: Sequence[float]) -> float:
    """The median of the slopes between every pair of points (Theil–Sen), without its interval."""
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    i, j = np.triu_indices(len(xs), k=1)
    return float(np.median((ys[j] - ys[i]) / (xs[j] - xs[i])))


def _turn(weeks: Sequence[DatedValue], last: DatedValue) -> tuple[Trend, Trend] | None:
    """The (before, recent) trends when the trend turned at the weeks ending with ``last``."""
    upto = [week for week in weeks if week.start <= last.start]
    recent_start = last.start - (RECENT_WEEKS - 1) * WEEK
    before_start = recent_start - BEFORE_WEEKS * WEEK
    recent = [week for week in upto if week.start >= recent_start]
    before = [week for week in upto if before_start <= week.start < recent_start]
    if len(recent) < RECENT_WEEKS - 1 or len(before) < BEFORE_WEEKS - 2:
        return None
    now = trend(recent)
    if now is None or now.p_value >= TREND_P:
        return None
    then = trend(before)
    if then is None or then.p_value >= TREND_P:
        return None
    if (now.slope > 0) == (then.slope > 0) or now.slope == 0 or then.slope == 0:
        return None
    return then, now


def trend_change(history: MetricHistory) -> Finding | None:
    week = last_complete_week(history.today)
    weeks = [item for item in history.weeks if item.start <= week]
    if not weeks or weeks[-1].start != week or not week_has_full_data(history):
        return None
    turned = _turn(weeks, weeks[-1])
    if turned is None:
        return None
    if len(weeks) > 1 and weeks[-2].start == week - WEEK and _turn(weeks, weeks[-2]) is not None:
        return None  # already turned the week before: reported then
    then, now = turned
    before, after = round(then.slope, 4), round(now.slope, 4)
    p_before, p_after = round(then.p_value, 3), round(now.p_value, 3)
    direction = "rising" if now.slope > 0 else "falling"
    sentence = (
        f"{history.metric} is now {direction}: {signed(after)} a week over the last {RECENT_WEEKS} weeks "
        f"(through the week of {day_label(week)}), after {signed(before)} a week over the "
        f"{BEFORE_WEEKS} weeks before (Theil–Sen slopes; Mann–Kendall p {p_after} and {p_before})."
    )
    numbers = InsightNumbers(
        value=weeks[-1].value,
        slope_before=before,
        slope_after=after,
        p_value_before=p_before,
        p_value_after=p_after,
        threshold=TREND_P,
        history_size=RECENT_WEEKS + BEFORE_WEEKS,
    )
    good = is_good(now.slope, history.favourable)
    level: Severity = "low" if good is True else "medium"
    start = week - (RECENT_WEEKS - 1) * WEEK
    return Finding(
        "trend_change", level, history.metric, start, week + WEEK, sentence, numbers, variant=direction
    )


def record(history: MetricHistory) -> Finding | None:
    week = last_complete_week(history.today)
    weeks = [item for item in history.weeks if week - RECORD_LOOKBACK * WEEK <= item.start <= week]
    if not weeks or weeks[-1].start != week or not week_has_full_data(history):
        return None
    earlier = [item.value for item in weeks[:-1]]
    if len(earlier) < MIN_RECORD_HISTORY:
        return None
    value = weeks[-1].value
    if value > max(earlier):
        kind, reference = "high", max(earlier)
    elif value < min(earlier):
        kind, reference = "low", min(earlier)
    else:
        return None
    sentence = (
        f"{history.metric} for the week of {day_label(week)} was {fmt(value)}, the "
        f"{'highest' if kind == 'high' else 'lowest'} of the {len(weeks)} weeks with data since "
        f"{day_label(weeks[0].start)} (the previous {'best' if kind == 'high' else 'lowest'} was "
        f"{fmt(reference)})."
    )
    numbers = InsightNumbers(
        value=value, reference=reference, change=value - reference, history_size=len(earlier)
    )
    good = is_good(value - reference, history.favourable)
    return Finding(
        "record",
        "low" if good is not False else "medium",
        history.metric,
        week,
        week + WEEK,
        sentence,
        numbers,
        variant=kind,
    )
