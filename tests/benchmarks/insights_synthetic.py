"""Simulated tenants for the insight engine, with planted events whose truth is known.

A metric is the daily sum over stores (a ``store`` dimension): each store has a level, a weekly
rhythm (weekends busier) and multiplicative noise. Planted events change that data:

- ``anomaly``: one day of every store multiplied by ``factor`` (expected: ``unusual_value``);
- ``shift``: from a Monday on, one store multiplied by ``factor`` (expected: ``top_contributors``
  naming that store for that week);
- ``turn``: from a day on, a growing metric starts falling (expected: ``trend_change`` within
  ``TURN_DETECTION_WEEKS``);
- ``stop``: from a day on, no more data (expected: ``data_health``).

Each event also lists the findings it may legitimately cause besides the expected one (a day
that anomalous moves its week too), so precision counts only findings no event explains.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from backend.services.insights.changes import week_start
from backend.services.insights.engine import detect_metric
from backend.services.insights.types import (
    DAY_WINDOW,
    GROUP_WEEK_WINDOW,
    WEEK_WINDOW,
    DatedValue,
    Finding,
    InsightType,
    MetricHistory,
)

WEEKDAY_RHYTHM = (0.9, 0.85, 0.9, 0.95, 1.1, 1.25, 1.05)
TURN_DETECTION_WEEKS = (4, 11)  # the trend turn is expected between these many weeks after it


@dataclass(frozen=True)
class Event:
    kind: str  # anomaly, shift, turn, stop
    day: date
    factor: float = 1.0
    store: str | None = None

    @property
    def expected(self) -> InsightType:
        return {
            "anomaly": "unusual_value",
            "shift": "top_contributors",
            "turn": "trend_change",
            "stop": "data_health",
        }[self.kind]  # type: ignore[return-value]

    def detects(self, finding: Finding) -> bool:
        """``finding`` is the insight this event should produce."""
        if finding.type != self.expected:
            return False
        if self.kind == "anomaly":
            return finding.period_start == self.day
        if self.kind == "shift":
            lead = finding.numbers.contributors[0] if finding.numbers.contributors else None
            return finding.period_start == self.day and lead is not None and lead.value == self.store
        if self.kind == "turn":
            weeks = (finding.period_end - self.day).days / 7
            return TURN_DETECTION_WEEKS[0] <= weeks <= TURN_DETECTION_WEEKS[1]
        return finding.period_start == self.day - timedelta(days=1)  # the last day with data

    def explains(self, finding: Finding) -> bool:
        """``finding`` is this event's expected insight or a legitimate side effect of it."""
        if self.detects(finding):
            return True
        start = week_start(self.day)
        in_weeks = start <= finding.period_start < start + timedelta(days=14)
        if self.kind == "anomaly":
            return in_weeks and finding.type in ("period_change", "top_contributors", "record")
        if self.kind == "shift":
            # The store stays lower: its first weeks move the total, and the lower level makes
            # record lows likelier from then on.
            near = start <= finding.period_start < start + timedelta(days=35)
            later = finding.period_start >= start and finding.type == "record"
            return later or (near and finding.type in ("period_change", "unusual_value", "top_contributors"))
        if self.kind == "turn":
            # A growing metric sets record highs until it turns, and record lows on the way down.
            return finding.type == "record" or (
                finding.period_end > self.day and finding.type == "trend_change"
            )
        return finding.type == "data_health" and finding.period_start <= self.day


@dataclass
class SimulatedMetric:
    name: str
    stores: dict[str, float]  # store -> level
    noise: float = 0.08
    growth_per_week: float = 0.0  # fraction of level
    events: list[Event] = field(default_factory=list)
    favourable: str | None = "up"

    def values(self, start: date, end: date, seed: int) -> dict[tuple[date, str], float]:
        """The simulated points ``[start, end)``: (day, store) -> value."""
        rng = np.random.default_rng(seed)
        points: dict[tuple[date, str], float] = {}
        turn = next((e.day for e in self.events if e.kind == "turn"), None)
        stop = next((e.day for e in self.events if e.kind == "stop"), None)
        day = start
        while day < end:
            weeks = (day - start).days / 7
            if turn is not None and day >= turn:
                turned = (turn - start).days / 7
                trend = 1 + self.growth_per_week * turned - 1.5 * self.growth_per_week * (weeks - turned)
            else:
                trend = 1 + self.growth_per_week * weeks
            for store, level in self.stores.items():
                noise = math.exp(rng.normal(0, self.noise))
                value = level * trend * WEEKDAY_RHYTHM[day.weekday()] * noise
                for event in self.events:
                    if event.kind == "anomaly" and event.day == day:
                        value *= event.factor
                    if event.kind == "shift" and event.store == store and day >= event.day:
                        value *= event.factor
                if stop is None or day < stop:
                    points[(day, store)] = round(value, 2)
            day += timedelta(days=1)
        return points


@dataclass(frozen=True)
class Aggregated:
    """A simulated metric's points summed as the read path sums them: per day, per week, per store."""

    days: list[DatedValue]
    weeks: list[DatedValue]
    groups: dict[str, list[DatedValue]]

    @classmethod
    def of(cls, points: dict[tuple[date, str], float]) -> Aggregated:
        days: dict[date, float] = defaultdict(float)
        weeks: dict[date, float] = defaultdict(float)
        groups: dict[str, dict[date, float]] = defaultdict(lambda: defaultdict(float))
        for (day, store), value in points.items():
            days[day] += value
            weeks[week_start(day)] += value
            groups[store][week_start(day)] += value
        return cls(_dated(days), _dated(weeks), {store: _dated(values) for store, values in groups.items()})


def _dated(values: dict[date, float]) -> list[DatedValue]:
    return [DatedValue(day, value) for day, value in sorted(values.items())]


def _between(values: list[DatedValue], start: date, end: date) -> list[DatedValue]:
    starts = [item.start for item in values]
    return values[bisect_left(starts, start) : bisect_left(starts, end)]


def history_as_of(metric: SimulatedMetric, data: Aggregated, today: date) -> MetricHistory:
    """What the service reads on ``today`` (the windows of ``types.DAY_WINDOW`` and the others), complete
    weeks only: the week in progress is never judged."""
    current_week = week_start(today)
    return MetricHistory(
        metric=metric.name,
        favourable=metric.favourable,  # type: ignore[arg-type]
        today=today,
        days=_between(data.days, today - timedelta(days=DAY_WINDOW), today),
        weeks=_between(data.weeks, current_week - timedelta(weeks=WEEK_WINDOW), current_week),
        week_groups={
            "store": {
                store: found
                for store, values in data.groups.items()
                if (
                    found := _between(values, current_week - timedelta(weeks=GROUP_WEEK_WINDOW), current_week)
                )
            }
        },
    )


def daily_runs(metric: SimulatedMetric, data: Aggregated, days: Iterable[date]) -> list[Finding]:
    """The engine run once a day over ``days``; a finding with a key already seen is not new."""
    seen: dict[str, Finding] = {}
    for today in days:
        for finding in detect_metric(history_as_of(metric, data, today)):
            seen.setdefault(finding.idempotency_key, finding)
    return list(seen.values())
