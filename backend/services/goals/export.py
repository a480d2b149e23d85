"""A goal's progress as a CSV or .xlsx table: one row per period, actuals then the forecast.

Written through ``backend.utils.spreadsheets``, so a goal title or metric name that starts
like a formula (``=HYPERLINK(…)``) is text in the spreadsheet, never a formula.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from backend.models import SmartGoal
from backend.services.goals.types import GoalProgress, PeriodForecast, PeriodProgress
from backend.utils.spreadsheets import Cell, write_csv, write_xlsx

FileFormat = Literal["csv", "xlsx"]
HEADER: Final = (
    "goal",
    "metric",
    "direction",
    "target",
    "period_start",
    "period_end",
    "kind",
    "value",
    "projected_value",
    "percent_complete",
    "forecast_mean",
    "forecast_lower_80",
    "forecast_upper_80",
    "forecast_lower_95",
    "forecast_upper_95",
    "signal",
)
_MEDIA_TYPES: Final[dict[FileFormat, str]] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass(frozen=True)
class ExportFile:
    content: bytes
    media_type: str
    filename: str


def _actual_row(goal: SmartGoal, item: PeriodProgress) -> list[Cell]:
    kind = "complete" if item.complete else "in progress"
    return [
        *_goal_cells(goal),
        item.start,
        item.end,
        kind,
        item.value,
        item.projected_value,
        item.percent,
        *([None] * 5),
        None,
    ]


def _forecast_row(goal: SmartGoal, item: PeriodForecast) -> list[Cell]:
    return [
        *_goal_cells(goal),
        item.start,
        item.end,
        "forecast",
        None,
        None,
        None,
        item.mean,
        item.lower.get(80),
        item.upper.get(80),
        item.lower.get(95),
        item.upper.get(95),
        None,
    ]


def _goal_cells(goal: SmartGoal) -> list[Cell]:
    return [goal.title, goal.metric, goal.direction, goal.target_value]


def progress_rows(goal: SmartGoal, progress: GoalProgress) -> list[Sequence[Cell]]:
    """The header, the goal's periods so far, the forecast periods after them, and a summary row."""
    seen = {item.start for item in progress.history}
    forecasts = progress.projection.periods if progress.projection is not None else []
    summary: list[Cell] = [*_goal_cells(goal), None, None, "summary", progress.current_value, None]
    summary += [progress.percent_complete, progress.expected_at_deadline, *([None] * 4), progress.signal]
    return [
        HEADER,
        *(_actual_row(goal, item) for item in progress.history),
        *(_forecast_row(goal, item) for item in forecasts if item.start not in seen),
        summary,
    ]


def render(goal: SmartGoal, progress: GoalProgress, file_format: FileFormat) -> ExportFile:
    rows = progress_rows(goal, progress)
    if file_format == "csv":
        content = write_csv(rows).encode("utf-8")
    else:
        content = write_xlsx(rows, sheet_title="progress")
    return ExportFile(content, _MEDIA_TYPES[file_format], f"goal-{goal.id}-progress.{file_format}")
