"""The insights feature's vocabulary: insight types, severities, and the stored JSON forms.

A leaf module (schemas may import it). ``insights.numbers``, ``insights.links`` and
``insights.suggested_action`` are JSON columns, written and read only through the models
below. ``Finding`` is what the pure detectors return: plain data, picklable, no I/O.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Final, Literal, get_args

from pydantic import BaseModel, ConfigDict

from backend.services.errors import ValidationFailed

InsightType = Literal[
    "period_change",
    "unusual_value",
    "top_contributors",
    "trend_change",
    "record",
    "goal_at_risk",
    "data_health",
]
Severity = Literal["low", "medium", "high"]
Favourable = Literal["up", "down"]
DigestFrequency = Literal["off", "daily", "weekly"]

INSIGHT_TYPES: Final[tuple[InsightType, ...]] = get_args(InsightType)
SEVERITIES: Final[tuple[Severity, ...]] = get_args(Severity)
DIGEST_FREQUENCIES: Final[tuple[DigestFrequency, ...]] = get_args(DigestFrequency)

# What the engine reads of each metric (the service's windows; the benchmark simulates the same).
DAY_WINDOW: Final = 140  # days: 12 same weekdays for the unusual-day rule, and the cadence of arrival
WEEK_WINDOW: Final = 110  # weeks: two years for records, plus the trend rule's 18 weeks
GROUP_WEEK_WINDOW: Final = 30  # weeks per dimension value: 26 past changes

# How long an insight (or an alert rule) may be snoozed.
MAX_SNOOZE: Final = timedelta(days=90)


def check_snooze(until: datetime, now: datetime) -> None:
    """A snooze ends in the future and at most ``MAX_SNOOZE`` ahead."""
    if until <= now:
        raise ValidationFailed("snooze until a time in the future", context={"field": "until"})
    if until - now > MAX_SNOOZE:
        raise ValidationFailed(
            f"snooze for at most {MAX_SNOOZE.days} days",
            context={"field": "until", "max_days": MAX_SNOOZE.days},
        )


class Contributor(BaseModel):
    """One dimension value's part of a change: its own change and its share of the total."""

    model_config = ConfigDict(extra="forbid")

    dimension: str
    value: str
    before: float
    after: float
    change: float
    share: float | None  # change / total change (None when the total did not move)
    score: float | None = None  # robust z of this value's change against its own past changes


class InsightNumbers(BaseModel):
    """Every number an insight's sentence quotes, by name (a field is absent when it does not apply)."""

    model_config = ConfigDict(extra="forbid")

    value: float | None = None  # the observed value the insight is about
    reference: float | None = None  # what it is compared with (last period, the weekday's median, …)
    change: float | None = None
    change_percent: float | None = None
    typical_variation: float | None = None  # the robust scale (1.4826 × MAD) the score divides by
    score: float | None = None  # robust z: (observed − median) / typical_variation
    threshold: float | None = None  # |score| at or above which the rule fires
    history_size: int | None = None  # how many past values the baseline was computed from
    slope_before: float | None = None  # per week
    slope_after: float | None = None
    p_value_before: float | None = None  # Mann–Kendall test of each trend
    p_value_after: float | None = None
    contributors: list[Contributor] | None = None
    target: float | None = None
    expected_at_deadline: float | None = None
    expected_lower: float | None = None
    expected_upper: float | None = None
    interval_level: int | None = None
    deadline: date | None = None
    percent_complete: float | None = None
    last_data_day: date | None = None
    days_silent: int | None = None
    usual_gap_days: float | None = None
    last_synced_hours_ago: float | None = None
    expected_every_hours: float | None = None


class InsightLinks(BaseModel):
    """The records behind an insight. The current detectors compute their own baselines from the
    metric read path, so they link goals, data sources and syncs; ``forecast_id`` and
    ``analysis_id`` are for insights drawn from a stored forecast or causal analysis."""

    model_config = ConfigDict(extra="forbid")

    goal_id: uuid.UUID | None = None
    data_source_id: uuid.UUID | None = None
    connector_sync_id: uuid.UUID | None = None
    forecast_id: uuid.UUID | None = None
    analysis_id: uuid.UUID | None = None


class SuggestedAction(BaseModel):
    """A next action with its expected effect and interval, and where the estimate comes from."""

    model_config = ConfigDict(extra="forbid")

    description: str
    expected_effect: float
    lower: float | None = None
    upper: float | None = None
    source: str  # e.g. "marketing-mix model 3f1c…", "optimization run …"


@dataclass(frozen=True)
class Finding:
    """One insight as a detector found it; ``variant`` tells apart findings of one type, metric and
    period (a record high vs low, a connector), so the idempotency key is stable and unique."""

    type: InsightType
    severity: Severity
    metric: str | None
    period_start: date
    period_end: date  # exclusive
    sentence: str
    numbers: InsightNumbers
    variant: str = ""
    links: InsightLinks = field(default_factory=InsightLinks)
    suggested_action: SuggestedAction | None = None

    @property
    def idempotency_key(self) -> str:
        """Type, metric, period and variant: the same data found twice is the same insight."""
        parts = [self.type, self.metric or "-", self.period_start.isoformat(), self.period_end.isoformat()]
        if self.variant:
            parts.append(self.variant)
        return ":".join(parts)


@dataclass(frozen=True)
class DatedValue:
    """One bucket of a metric: the local date it starts and its value."""

    start: date
    value: float


@dataclass(frozen=True)
class MetricHistory:
    """What the detectors read of one metric, as of ``today`` (a local date; today is incomplete).

    ``days``: daily values (days with data only) in the metric's aggregation; ``weeks``: values of
    weeks starting Monday; ``week_groups``: per dimension, per value, its weekly values.
    """

    metric: str
    favourable: Favourable | None
    today: date
    days: list[DatedValue]
    weeks: list[DatedValue]
    week_groups: dict[str, dict[str, list[DatedValue]]] = field(default_factory=dict)
