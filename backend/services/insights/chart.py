"""A metric's chart for a digest, as PNG bytes: its recent days, the forecast fan, the unusual days.

Pure computation (plain data in, bytes out, no I/O), so it runs in the compute pool. It draws with
matplotlib's object API on an Agg canvas (no pyplot, no global figure state, safe in any thread).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from backend.services.insights.types import DatedValue

_HISTORY = "#1f4e79"
_FAN = "#9dc3e6"
_MARK = "#c00000"


def _days(days: list[date]) -> np.ndarray:
    return np.array(days, dtype="datetime64[D]")


@dataclass(frozen=True)
class FanPoint:
    """One forecast day: the mean and the bounds of one interval level."""

    day: date
    mean: float
    lower: float
    upper: float


@dataclass(frozen=True)
class ChartInput:
    metric: str
    history: list[DatedValue]
    forecast: list[FanPoint] = field(default_factory=list)
    interval_level: int | None = None
    marked: list[date] = field(default_factory=list)  # unusual days, drawn as red dots


def render_chart(chart: ChartInput, *, width: float = 6.0, height: float = 2.4, dpi: int = 100) -> bytes:
    """The chart as a PNG (``width`` × ``height`` inches at ``dpi``)."""
    figure = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    days = _days([point.start for point in chart.history])
    axes.plot(
        days, [point.value for point in chart.history], color=_HISTORY, linewidth=1.2, label=chart.metric
    )
    if chart.forecast:
        fan_days = _days([point.day for point in chart.forecast])
        label = f"{chart.interval_level}% interval" if chart.interval_level else "interval"
        axes.fill_between(
            fan_days,
            [point.lower for point in chart.forecast],
            [point.upper for point in chart.forecast],
            color=_FAN,
            alpha=0.6,
            linewidth=0,
            label=label,
        )
        axes.plot(
            fan_days, [point.mean for point in chart.forecast], color=_HISTORY, linestyle="--", linewidth=1
        )
    by_day = {point.start: point.value for point in chart.history}
    marked = [day for day in chart.marked if day in by_day]
    if marked:
        axes.scatter(
            _days(marked), [by_day[day] for day in marked], color=_MARK, zorder=3, s=18, label="unusual day"
        )
    axes.set_title(chart.metric, fontsize=10, loc="left")
    axes.tick_params(labelsize=7)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc="upper left", frameon=False)
    figure.autofmt_xdate()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
