"""The goals feature's vocabulary and result types (a leaf: schemas may import it).

Plain frozen dataclasses, so a goal's inputs and results cross into a worker process and
back (they pickle) and are read by attribute, never by string key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Final, Literal, get_args

from backend.utils.calendar import Period

Aggregation = Literal["sum", "avg", "min", "max", "last", "count"]
Direction = Literal["increase", "decrease"]
Signal = Literal["achieved", "missed", "on_track", "at_risk", "off_track", "insufficient_data"]
Outcome = Literal["achieved", "missed"]
ProjectionMethod = Literal["forecast", "linear", "pace"]
ExportFormat = Literal["json", "csv", "xlsx"]

AGGREGATIONS: Final[tuple[Aggregation, ...]] = get_args(Aggregation)
DIRECTIONS: Final[tuple[Direction, ...]] = get_args(Direction)
# A metric definition's favourable direction, as a goal direction.
DIRECTION_OF_FAVOURABLE: Final[dict[str, Direction]] = {"up": "increase", "down": "decrease"}
# The prediction interval the status is judged on (see ``progress.judge``), and those shown.
STATUS_LEVEL: Final = 80
FORECAST_LEVELS: Final[tuple[int, ...]] = (80, 95)


@dataclass(frozen=True)
class PeriodValue:
    """The metric aggregated over one period ``[start, end)``; ``value`` is None when there is no data.

    ``data_through`` is the last local day of the period that has data (the pace of a period in
    progress counts the days through it, not today when today has no data yet).
    """

    start: date
    end: date
    value: float | None
    data_through: date | None = None


@dataclass(frozen=True)
class GoalSpec:
    """What a goal asks for: ``aggregation`` of the metric per ``period`` reaching ``target`` by ``deadline``.

    ``direction`` says which side of the target is good: ``increase`` is met at or above it,
    ``decrease`` at or below it. It is stated (by the goal or the metric's favourable direction),
    never guessed from the baseline. ``metric`` only words the explanation.
    """

    target: float
    baseline: float
    start_date: date
    deadline: date
    period: Period
    aggregation: Aggregation
    direction: Direction
    metric: str | None = None


@dataclass(frozen=True)
class PeriodProgress:
    """One period of the goal: its value, whether it is over, and how far along the goal it is.

    ``projected_value`` is the value expected for the whole period: for an incomplete period of a
    sum or count it is the pace (the value per day with data, times the period's days), otherwise
    it equals ``value``. ``percent`` is ``percent_of(projected_value)`` (see ``progress``).
    """

    start: date
    end: date
    value: float | None
    complete: bool
    projected_value: float | None
    percent: float | None


@dataclass(frozen=True)
class PeriodForecast:
    """The forecaster's estimate of one future period: mean and bounds per interval level."""

    start: date
    end: date
    mean: float
    lower: dict[int, float]
    upper: dict[int, float]


@dataclass(frozen=True)
class ForecastOutcome:
    """The forecaster's answer for a goal: its periods through the deadline, or why it refused."""

    periods: list[PeriodForecast] = field(default_factory=list)
    model: str | None = None
    season_length: int | None = None
    refused: str | None = None


@dataclass(frozen=True)
class Estimate:
    """What one remaining period of the goal is expected to reach.

    ``lower``/``upper`` bound the ``STATUS_LEVEL`` interval when the estimate comes from the
    forecaster; a pace or a trend line has none.
    """

    start: date
    end: date
    mean: float
    lower: float | None
    upper: float | None
    method: ProjectionMethod


@dataclass(frozen=True)
class Projection:
    """Where the goal is heading: the deadline period's estimate, the best remaining one, and how.

    ``method`` is ``forecast`` (the forecaster, with intervals), ``linear`` (a least-squares
    trend, when the forecaster refused: ``note`` says why) or ``pace`` (only the period in
    progress is known). ``estimates`` are the open periods the signal is judged on;
    ``periods`` lists the forecaster's periods through the deadline with every level.
    """

    method: ProjectionMethod
    estimates: list[Estimate]
    at_deadline: Estimate | None
    best: Estimate
    model: str | None = None
    level: int | None = None
    note: str | None = None
    periods: list[PeriodForecast] = field(default_factory=list)


@dataclass(frozen=True)
class GoalProgress:
    """Progress of a goal on a given day; ``outcome`` is the status the goal should move to, if any.

    ``current_value`` is the value the goal is judged on: the period that reached the target
    once one did, else the latest complete period, else the pace of the period in progress.
    """

    direction: Direction
    current_period: PeriodProgress
    latest_complete: PeriodProgress | None
    reached: PeriodProgress | None
    current_value: float | None
    percent_complete: float | None
    trend_per_period: float | None
    expected_at_deadline: float | None
    projection: Projection | None
    signal: Signal
    outcome: Outcome | None
    history: list[PeriodProgress]
    explanation: str
