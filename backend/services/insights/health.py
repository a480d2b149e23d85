"""Data-health and goal detectors (pure): a connector failing or stale, a metric that stopped
arriving, a goal at risk.

Rules, and why:

- **connector failed**: the source's latest sync failed. Reported once per failed sync (the
  sync id is in the key), with the error message the sync recorded (already client-facing).
- **connector stale**: a scheduled source has not synced for ``STALE_FACTOR`` × its schedule's
  interval plus an hour of slack: one late run is normal, two missed ones are not. Reported once
  per stale spell (the last sync time is in the key).
- **metric stopped arriving**: the usual gap between days with data is the median gap over the
  recent history (at least ``MIN_DATA_DAYS`` days); the metric is silent when the days since its
  last data exceed ``max(SILENCE_FACTOR × gap, gap + SILENCE_SLACK_DAYS)``, so a daily metric is
  flagged after three silent days and a weekly one after three weeks. Once per silence.
- **goal at risk**: the goals service's own progress (its forecaster projection and interval):
  a signal of ``at_risk`` or ``off_track``. Once per goal, signal and goal period.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import pairwise
from statistics import median

from backend.services.insights.robust import day_label, fmt
from backend.services.insights.types import DatedValue, Finding, InsightLinks, InsightNumbers

STALE_FACTOR = 2.0
STALE_SLACK_HOURS = 1.0
MIN_DATA_DAYS = 10
SILENCE_FACTOR = 3.0
SILENCE_SLACK_DAYS = 2
RISK_SIGNALS = ("at_risk", "off_track")


@dataclass(frozen=True)
class SyncState:
    sync_id: uuid.UUID
    status: str
    finished_at: datetime | None
    error_message: str | None


@dataclass(frozen=True)
class SourceHealth:
    """A connector as the health rules see it; ``expected_every_hours`` None: no schedule."""

    source_id: uuid.UUID
    name: str
    expected_every_hours: float | None
    last_synced_at: datetime | None
    since: datetime  # when the source was created (the clock of a source that never synced)
    latest_sync: SyncState | None


def connector_findings(source: SourceHealth, now: datetime, today: date) -> list[Finding]:
    found = []
    links = InsightLinks(data_source_id=source.source_id)
    sync = source.latest_sync
    if sync is not None and sync.status == "failed":
        when = sync.finished_at or now
        error = f": {sync.error_message}" if sync.error_message else ""
        found.append(
            Finding(
                "data_health",
                "high",
                None,
                when.date(),
                when.date() + timedelta(days=1),
                f"The last sync of connector {source.name!r} failed at {when:%Y-%m-%d %H:%M} UTC{error}.",
                InsightNumbers(),
                variant=f"sync_failed:{sync.sync_id}",
                links=links.model_copy(update={"connector_sync_id": sync.sync_id}),
            )
        )
    if source.expected_every_hours is not None:
        clock = source.last_synced_at or source.since
        hours = (now - clock).total_seconds() / 3600
        allowed = STALE_FACTOR * source.expected_every_hours + STALE_SLACK_HOURS
        if hours > allowed:
            last = f"last synced {hours:.0f} hours ago" if source.last_synced_at else "never synced"
            found.append(
                Finding(
                    "data_health",
                    "medium",
                    None,
                    clock.date(),
                    clock.date() + timedelta(days=1),
                    f"Connector {source.name!r} is stale: {last}, while its schedule runs every "
                    f"{fmt(source.expected_every_hours)} hours.",
                    InsightNumbers(
                        last_synced_hours_ago=round(hours, 1),
                        expected_every_hours=source.expected_every_hours,
                    ),
                    variant=f"stale:{source.source_id}:{clock.isoformat()}",  # once per stale spell
                    links=links,
                )
            )
    return found


def metric_silence(metric: str, days: list[DatedValue], today: date) -> Finding | None:
    """The metric stopped arriving, judged against its own cadence (``days``: days with data)."""
    past = [item.start for item in days if item.start < today]
    if len(past) < MIN_DATA_DAYS:
        return None
    gaps = [(later - earlier).days for earlier, later in pairwise(past)]
    usual = float(median(gaps))
    silent = (today - past[-1]).days
    if silent <= max(SILENCE_FACTOR * usual, usual + SILENCE_SLACK_DAYS):
        return None
    sentence = (
        f"{metric} has had no data since {day_label(past[-1])} ({silent} days), while it usually arrives "
        f"every {fmt(usual)} day{'s' if usual != 1 else ''}."
    )
    numbers = InsightNumbers(last_data_day=past[-1], days_silent=silent, usual_gap_days=usual)
    return Finding(
        "data_health",
        "medium",
        metric,
        past[-1],
        past[-1] + timedelta(days=1),
        sentence,
        numbers,
        variant="stopped",
    )


@dataclass(frozen=True)
class GoalState:
    """What the goals service said of one goal today."""

    goal_id: uuid.UUID
    title: str
    metric: str
    signal: str
    period_start: date
    period_end: date
    target: float
    deadline: date
    expected_at_deadline: float | None
    lower: float | None
    upper: float | None
    level: int | None
    percent_complete: float | None
    explanation: str


def goal_at_risk(goal: GoalState) -> Finding | None:
    if goal.signal not in RISK_SIGNALS:
        return None
    words = goal.signal.replace("_", " ")
    outlook = ""
    if goal.expected_at_deadline is not None:
        interval = ""
        if goal.lower is not None and goal.upper is not None:
            interval = f" ({goal.level}% interval {fmt(goal.lower)} to {fmt(goal.upper)})"
        expected = fmt(goal.expected_at_deadline)
        outlook = f" it is projected at {expected}{interval} against a target of {fmt(goal.target)},"
    sentence = (
        f"Goal {goal.title!r} on {goal.metric} is {words}:{outlook} deadline {goal.deadline.isoformat()}. "
    )
    sentence += goal.explanation
    numbers = InsightNumbers(
        target=goal.target,
        expected_at_deadline=goal.expected_at_deadline,
        expected_lower=goal.lower,
        expected_upper=goal.upper,
        interval_level=goal.level,
        deadline=goal.deadline,
        percent_complete=goal.percent_complete,
    )
    return Finding(
        "goal_at_risk",
        "high" if goal.signal == "off_track" else "medium",
        goal.metric,
        goal.period_start,
        goal.period_end,
        sentence,
        numbers,
        variant=f"{goal.goal_id}:{goal.signal}",
        links=InsightLinks(goal_id=goal.goal_id),
    )
