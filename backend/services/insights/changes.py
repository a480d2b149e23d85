"""Change detectors (pure): week-over-week change, unusual day, and what drove a change.

Rules, and why:

- **period_change**: the last complete week (Monday to Sunday, tenant time) against the week
  before. The change is judged against the metric's own past week-over-week changes (at least
  ``MIN_CHANGES``, up to ``CHANGE_HISTORY``): robust z ≥ ``CHANGE_Z``. A fixed "±10%" would
  flood a volatile metric and miss a steady one; its own past changes say what is normal.
- **unusual_value**: yesterday against the median of the same weekday over the past
  ``WEEKDAY_HISTORY`` weeks (at least ``MIN_WEEKDAYS`` of them), so Mondays are compared with
  Mondays and a weekly rhythm is not an anomaly. How far a day usually strays from its weekday's
  median is the MAD of every past day's deviation from its own weekday median (about 56 days,
  relative to the median when the metric is positive): a scale from 8 same-weekday values alone
  is too noisy and raises false alarms. Robust z ≥ ``UNUSUAL_Z``, higher than the weekly rule's
  because a day is judged every day (about 30 tests a month per metric).
- **top_contributors**: per dimension, each value's change over the same two weeks and its
  share of the total change. Reported when the total change fired (what drove it), or when one
  value's own change scores ≥ ``SEGMENT_Z`` against its past changes (a shift inside one store
  the total hides). The dimension whose leading value explains the most is reported.

Weeks with fewer days of data than the week before are not judged (late data is not a drop).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from statistics import median

from backend.services.insights.robust import (
    Score,
    change_words,
    day_label,
    fmt,
    is_good,
    percent_change,
    robust_score,
    severity,
    signed,
)
from backend.services.insights.types import (
    Contributor,
    DatedValue,
    Finding,
    InsightNumbers,
    InsightType,
    MetricHistory,
)

CHANGE_Z = 3.5
MIN_CHANGES = 8
CHANGE_HISTORY = 26
UNUSUAL_Z = 4.5
MIN_WEEKDAYS = 6
WEEKDAY_HISTORY = 8
SEGMENT_Z = 4.5
TOP_CONTRIBUTORS = 3
WEEK = timedelta(days=7)


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def last_complete_week(today: date) -> date:
    """The Monday of the last week that ended before ``today``."""
    return week_start(today) - WEEK


def weekly_changes(weeks: Sequence[DatedValue]) -> list[tuple[date, float, float]]:
    """``(week, value, change from the week before)`` for each week whose previous week has data."""
    by_start = {week.start: week.value for week in weeks}
    return [
        (week.start, week.value, week.value - by_start[week.start - WEEK])
        for week in weeks
        if week.start - WEEK in by_start
    ]


def _change_score(weeks: Sequence[DatedValue], week: date) -> tuple[Score, float] | None:
    """The robust score of ``week``'s change against earlier changes, and the previous week's value."""
    changes = [(start, value, change) for start, value, change in weekly_changes(weeks) if start <= week]
    if not changes or changes[-1][0] != week:
        return None
    past = [change for _, _, change in changes[:-1]][-CHANGE_HISTORY:]
    if len(past) < MIN_CHANGES:
        return None
    _, value, change = changes[-1]
    return robust_score(change, past), value - change


def _days_in(days: Sequence[DatedValue], start: date) -> int:
    return sum(1 for day in days if start <= day.start < start + WEEK)


def week_has_full_data(history: MetricHistory) -> bool:
    """The last complete week has data on as many days as the week before (no late data in it)."""
    week = last_complete_week(history.today)
    return _days_in(history.days, week) >= _days_in(history.days, week - WEEK)


@dataclass(frozen=True)
class _ScoredChange:
    """A value against its reference, with the robust score that made it a finding."""

    value: float
    reference: float
    change: float
    typical_variation: float
    score: Score
    threshold: float

    def finding(
        self, kind: InsightType, history: MetricHistory, start: date, end: date, sentence: str
    ) -> Finding:
        numbers = InsightNumbers(
            value=self.value,
            reference=self.reference,
            change=self.change,
            change_percent=percent_change(self.change, self.reference),
            typical_variation=self.typical_variation,
            score=round(self.score.z, 1),
            threshold=self.threshold,
            history_size=self.score.size,
        )
        good = is_good(self.change, history.favourable)
        rank = severity(self.score.z, self.threshold, good)
        return Finding(kind, rank, history.metric, start, end, sentence, numbers)


def period_change(history: MetricHistory) -> Finding | None:
    week = last_complete_week(history.today)
    if not week_has_full_data(history):
        return None
    scored = _change_score(history.weeks, week)
    if scored is None:
        return None
    score, previous = scored
    if abs(score.z) < CHANGE_Z:
        return None
    change = score.observed
    value = previous + change
    sentence = (
        f"{history.metric} for the week of {day_label(week)} was {fmt(value)}, "
        f"{change_words(change, previous)} from the week before; its week-over-week change is usually "
        f"{signed(score.median)} give or take {fmt(score.scale)} (robust z {round(score.z, 1)}, "
        f"over {score.size} weeks)."
    )
    scored_change = _ScoredChange(value, previous, change, score.scale, score, CHANGE_Z)
    return scored_change.finding("period_change", history, week, week + WEEK, sentence)


def _weekday_median(by_day: dict[date, float], day: date) -> tuple[float, int] | None:
    """The median of ``day``'s weekday over the ``WEEKDAY_HISTORY`` weeks before it, and how many."""
    past = [by_day[d] for k in range(1, WEEKDAY_HISTORY + 1) if (d := day - k * WEEK) in by_day]
    if len(past) < MIN_WEEKDAYS:
        return None
    return float(median(past)), len(past)


def _residuals(by_day: dict[date, float], day: date, relative: bool) -> list[float]:
    """Each of the last ``WEEKDAY_HISTORY`` weeks' days against its own weekday's median."""
    found = []
    for offset in range(1, 7 * WEEKDAY_HISTORY + 1):
        past = day - timedelta(days=offset)
        baseline = _weekday_median(by_day, past) if past in by_day else None
        if baseline is not None:
            found.append(_residual(by_day[past], baseline[0], relative))
    return found


def _residual(value: float, baseline: float, relative: bool) -> float:
    return (value - baseline) / baseline if relative else value - baseline


def unusual_value(history: MetricHistory) -> Finding | None:
    day = history.today - timedelta(days=1)
    by_day = {item.start: item.value for item in history.days}
    baseline = _weekday_median(by_day, day) if day in by_day else None
    if baseline is None:
        return None
    reference, weekdays = baseline
    # Relative deviations when the metric is positive (noise grows with the level: a busy Saturday
    # varies more than a quiet Tuesday); plain ones when it can be zero or negative.
    relative = reference > 0 and min(by_day.values()) > 0
    residuals = _residuals(by_day, day, relative)
    if len(residuals) < MIN_WEEKDAYS * 7:
        return None
    score = robust_score(_residual(by_day[day], reference, relative), residuals)
    if abs(score.z) < UNUSUAL_Z:
        return None
    value = by_day[day]
    deviation = value - reference
    typical = score.scale * reference if relative else score.scale
    weekday = f"{day:%A}"
    sentence = (
        f"{history.metric} on {day_label(day)} was {fmt(value)}, unusually "
        f"{'high' if deviation > 0 else 'low'} for a {weekday}: the last {weekdays} {weekday}s had a "
        f"median of {fmt(reference)}, and a day usually strays from its weekday's median by "
        f"{fmt(typical)} ({change_words(deviation, reference)}, robust z {round(score.z, 1)})."
    )
    scored_change = _ScoredChange(value, reference, deviation, typical, score, UNUSUAL_Z)
    return scored_change.finding("unusual_value", history, day, day + timedelta(days=1), sentence)


def _contributors(
    dimension: str, groups: dict[str, list[DatedValue]], week: date, total_change: float
) -> list[Contributor]:
    found = []
    for value, weeks in groups.items():
        by_start = {item.start: item.value for item in weeks}
        before, after = by_start.get(week - WEEK, 0.0), by_start.get(week, 0.0)
        if week - WEEK not in by_start and week not in by_start:
            continue
        scored = _change_score(weeks, week)
        found.append(
            Contributor(
                dimension=dimension,
                value=value,
                before=before,
                after=after,
                change=after - before,
                share=round((after - before) / total_change, 3) if total_change else None,
                score=round(scored[0].z, 1) if scored is not None else None,
            )
        )
    return sorted(found, key=lambda c: abs(c.change), reverse=True)


def _explains(contributors: Sequence[Contributor], total_change: float) -> float:
    """How much of the total change the leading contributor explains (its change, same sign)."""
    if not contributors:
        return 0.0
    lead = contributors[0].change
    return abs(lead) if total_change == 0 or (lead > 0) == (total_change > 0) else 0.0


def top_contributors(history: MetricHistory, total_fired: bool) -> Finding | None:
    week = last_complete_week(history.today)
    by_start = {item.start: item.value for item in history.weeks}
    if not week_has_full_data(history) or week not in by_start or week - WEEK not in by_start:
        return None
    total_change = by_start[week] - by_start[week - WEEK]
    best: tuple[float, str, list[Contributor]] | None = None
    for dimension, groups in sorted(history.week_groups.items()):
        contributors = _contributors(dimension, groups, week, total_change)
        shifted = [c for c in contributors if c.score is not None and abs(c.score) >= SEGMENT_Z]
        if not total_fired and not shifted:
            continue
        ranked = contributors if total_fired else shifted + [c for c in contributors if c not in shifted]
        explained = _explains(ranked, total_change) if total_fired else abs(ranked[0].score or 0.0)
        if best is None or explained > best[0]:
            best = (explained, dimension, ranked[:TOP_CONTRIBUTORS])
    if best is None:
        return None
    _, dimension, ranked = best
    return _contributor_finding(history, week, dimension, ranked, total_change, total_fired)


def _contributor_finding(
    history: MetricHistory,
    week: date,
    dimension: str,
    ranked: list[Contributor],
    total_change: float,
    total_fired: bool,
) -> Finding:
    parts = []
    for item in ranked:
        # Signed: a value that moved against the total has a negative share of the change.
        share = f", {round(item.share * 100)}% of the change" if item.share is not None else ""
        parts.append(
            f"{dimension}={item.value} {fmt(item.before)} → {fmt(item.after)} ({signed(item.change)}{share})"
        )
    lead = ranked[0]
    opening = (
        f"What drove {history.metric}'s change of {signed(total_change)} in the week of {day_label(week)}"
        if total_fired
        else f"{dimension}={lead.value} moved unusually in the week of {day_label(week)} "
        f"(robust z {lead.score} against its own past weeks) while {history.metric} changed "
        f"{signed(total_change)} in total"
    )
    sentence = f"{opening}: " + "; ".join(parts) + "."
    numbers = InsightNumbers(
        change=total_change, contributors=ranked, threshold=None if total_fired else SEGMENT_Z
    )
    good = is_good(lead.change, history.favourable)
    return Finding(
        "top_contributors",
        "low" if good is True else "medium",
        history.metric,
        week,
        week + WEEK,
        sentence,
        numbers,
        variant=dimension,
    )
