"""Daily aggregation shared by the commerce connectors (pure)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, time, timedelta, tzinfo

from backend.services.metrics.points import Point


def day_start(moment: datetime, zone: tzinfo) -> datetime:
    """Midnight (in ``zone``) of the day holding ``moment``."""
    local = moment.astimezone(zone)
    return datetime.combine(local.date(), time(0), tzinfo=zone)


class DailyTotals:
    """Sums per (day, dimensions) and metric; turned into points at the end."""

    def __init__(self) -> None:
        self.sums: dict[tuple[datetime, tuple[tuple[str, str], ...]], dict[str, float]] = defaultdict(
            lambda: defaultdict(float)
        )

    def add(self, day: datetime, dimensions: dict[str, str], **metrics: float) -> None:
        bucket = self.sums[(day, tuple(sorted(dimensions.items())))]
        for metric, value in metrics.items():
            bucket[metric] += value

    def points(self, *, ratios: dict[str, tuple[str, str]] | None = None) -> list[Point]:
        """Every summed metric, plus ``ratio = numerator / denominator`` where the denominator is not 0."""
        points = []
        for (day, dims), metrics in sorted(self.sums.items()):
            dimensions = dict(dims)
            for metric, value in sorted(metrics.items()):
                points.append(Point(metric, day.astimezone(UTC), round(value, 6), dimensions))
            for name, (numerator, denominator) in (ratios or {}).items():
                if metrics.get(denominator):
                    value = metrics.get(numerator, 0.0) / metrics[denominator]
                    points.append(Point(name, day.astimezone(UTC), round(value, 6), dimensions))
        return points


def days_between(first: datetime, last: datetime) -> list[datetime]:
    days, current = [], first
    while current <= last:
        days.append(current)
        current = current + timedelta(days=1)
    return days
